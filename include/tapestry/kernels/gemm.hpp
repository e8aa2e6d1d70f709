#pragma once
// C += alpha op(A) op(B) on column-major storage without gaps, where op(X) is X or
// X^T, through Eigen's own kernels (GEMM, and GEMV when C is a vector).
//
// Why not `C.noalias() += A * B` on Eigen Maps? For run-time sizes that expression
// mallocs its packing buffers on every call; here they come from a per-thread workspace
// grown on demand, so a product allocates nothing after the first step. The
// arithmetic is Eigen's, unchanged.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "tapestry/core/shape.hpp"
#include "tapestry/kernels/parallel.hpp"

namespace tapestry::detail {

// With EIGEN_USE_BLAS (CMake's TAPESTRY_BLAS) Eigen hands float and double products to
// the BLAS, which threads them itself (OPENBLAS_NUM_THREADS, BLIS_NUM_THREADS): each is
// then one call, since pieces of ours each calling a threaded BLAS would nest its
// threads inside ours.
#ifdef EIGEN_USE_BLAS
inline constexpr bool products_threaded_by_blas = true;
#else
inline constexpr bool products_threaded_by_blas = false;
#endif

// Pieces for a product of `work` multiply-adds, at most `most`: see pieces_for.
inline int product_pieces(double work, double min_work_per_thread, Index most) {
    return products_threaded_by_blas ? 1 : pieces_for(work, min_work_per_thread, most);
}

// A per-thread buffer aligned for Eigen's packets, grown on demand and never shrunk.
template <class T>
T* gemm_workspace(std::size_t count) {
    thread_local std::vector<T, Eigen::aligned_allocator<T>> buffer;
    if (buffer.size() < count) buffer.resize(count);
    return buffer.data();
}

// Eigen's block sizes for a whole GEMM: panels of A are mc x kc, panels of B kc x nc.
// Each element of C sums its k terms kc at a time, so a product cut into pieces that
// all keep the whole product's sizes gives the same bits whatever the number of pieces.
struct GemmBlockSizes {
    Index mc, nc, kc;
};

template <class T>
GemmBlockSizes gemm_block_sizes(Index rows, Index cols, Index depth) {
    GemmBlockSizes s{rows, cols, depth};
    Eigen::internal::computeProductBlockingSizes<T, T, 1>(s.kc, s.mc, s.nc, Index{1});
    return s;
}

// Eigen's blocking parameters for a GEMM of `cols` columns, with its packing buffers in
// this thread's workspace.
template <class T>
class WorkspaceBlocking : public Eigen::internal::level3_blocking<T, T> {
public:
    WorkspaceBlocking(GemmBlockSizes sizes, Index cols) {
        this->m_mc = sizes.mc;
        this->m_nc = std::min(sizes.nc, cols);
        this->m_kc = sizes.kc;
        // Each block starts on a 64-byte boundary: the packed panels are read with aligned loads.
        constexpr std::size_t per_line = 64 / sizeof(T);
        const auto rounded = [](Index n) { return (static_cast<std::size_t>(n) + per_line - 1) / per_line * per_line; };
        const std::size_t size_a = rounded(this->m_mc * this->m_kc), size_b = rounded(this->m_kc * this->m_nc);
        T* base = gemm_workspace<T>(size_a + size_b + per_line);
        base = reinterpret_cast<T*>((reinterpret_cast<std::uintptr_t>(base) + 63) & ~std::uintptr_t{63});
        this->m_blockA = base;
        this->m_blockB = base + size_a;
    }
};

// Below these amounts of work per thread (multiply-adds), a product stays on one
// thread: waking a second costs about as much as it would save.
inline constexpr double gemm_min_work_per_thread = 1 << 20;
inline constexpr double gemv_min_work_per_thread = 1 << 18;

// `count` values read with a stride, as a contiguous vector: in place when the stride
// is 1, else copied into the workspace.
template <class T>
const T* contiguous(const T* data, Index count, Index stride) {
    if (stride == 1 || count <= 1) return data;
    T* copy = gemm_workspace<T>(static_cast<std::size_t>(count));
    for (Index i = 0; i < count; ++i) copy[i] = data[i * stride];
    return copy;
}

// C (m x n) += alpha op(A) op(B) through Eigen's packed GEMM kernel. A large product is
// cut into pieces, each on its own thread with its own packing buffers: by rows of C
// when C is taller than wide (each thread then packs all of op(B), the smaller
// operand, and its own rows of op(A)), else by columns.
//
// Every piece keeps the whole product's block sizes, and starts on a boundary of the
// kernel's register blocks (mr rows, nr columns) that is also one of its cache blocks'
// panels, so every element of C sums its terms in the same order, through the same
// micro-kernel, for any number of pieces: the results do not depend on the thread
// count (test_parallel checks it bit for bit).
template <bool TransposeA, bool TransposeB, class T>
void gemm_packed(T alpha, const T* A, Index a_rows, const T* B, Index b_rows, T* C, Index m, Index n, Index k) {
    constexpr int a_order = TransposeA ? Eigen::RowMajor : Eigen::ColMajor;
    constexpr int b_order = TransposeB ? Eigen::RowMajor : Eigen::ColMajor;
    using Kernel =
        Eigen::internal::general_matrix_matrix_product<Index, T, a_order, false, T, b_order, false, Eigen::ColMajor, 1>;
    using Traits = Eigen::internal::gebp_traits<T, T>;
    const GemmBlockSizes sizes = gemm_block_sizes<T>(m, n, k);
    // Rows in whole mr panels when the mc blocks are whole panels too, else in whole mc blocks.
    const Index row_grain = sizes.mc >= m || sizes.mc % Traits::mr == 0 ? Index{Traits::mr} : sizes.mc;
    const Index column_grain = Traits::nr;
    const Index most_row_pieces = m / (2 * row_grain), most_column_pieces = n / (2 * column_grain);
    const bool by_columns = most_column_pieces >= 2 && (m <= n || most_row_pieces < 2);
    const int pieces = product_pieces(double(m) * double(n) * double(k), gemm_min_work_per_thread,
                                      by_columns ? most_column_pieces : most_row_pieces);
    run_pieces(pieces, [&](int p) {
        if (by_columns) {
            const auto [j0, j1] = piece_range(n, pieces, p, column_grain);
            WorkspaceBlocking<T> blocking(sizes, j1 - j0);
            const T* b_piece = TransposeB ? B + j0 : B + j0 * b_rows;
            Kernel::run(m, j1 - j0, k, A, a_rows, b_piece, b_rows, C + j0 * m, 1, m, alpha, blocking, nullptr);
        } else {
            const auto [i0, i1] = piece_range(m, pieces, p, row_grain);
            WorkspaceBlocking<T> blocking(sizes, n);
            const T* a_piece = TransposeA ? A + i0 * a_rows : A + i0;
            Kernel::run(i1 - i0, n, k, a_piece, a_rows, B, b_rows, C + i0, 1, m, alpha, blocking, nullptr);
        }
    });
}

// C (m x n) += alpha op(A) op(B). A is stored a_rows x a_cols, B b_rows x b_cols,
// C m x n, each column-major with its rows as leading dimension.
template <bool TransposeA, bool TransposeB, class T>
void gemm_accumulate(T alpha, const T* A, Index a_rows, Index a_cols, const T* B, Index b_rows, Index b_cols, T* C) {
    using Matrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>;
    using Vector = Eigen::Matrix<T, Eigen::Dynamic, 1>;
    const Index m = TransposeA ? a_cols : a_rows;
    const Index k = TransposeA ? a_rows : a_cols;
    const Index n = TransposeB ? b_rows : b_cols;
    if (m == 0 || n == 0 || k == 0) return;

    const Eigen::Map<const Matrix> a(A, a_rows, a_cols), b(B, b_rows, b_cols);
    if (m + n + k < EIGEN_GEMM_TO_COEFFBASED_THRESHOLD) {
        // Tiny (a 5 x 5 product): packing panels costs more than it saves, so, as Eigen's
        // own `*` does below this size, each coefficient is computed directly.
        const auto op_a = [&] {
            if constexpr (TransposeA)
                return a.transpose();
            else
                return a;
        }();
        const auto op_b = [&] {
            if constexpr (TransposeB)
                return b.transpose();
            else
                return b;
        }();
        Eigen::Map<Matrix>(C, m, n).noalias() += alpha * op_a.lazyProduct(op_b);
    } else if (n == 1) {  // C = op(A) x, with x the first column of op(B)
        const Eigen::Map<const Vector> x(contiguous(B, k, TransposeB ? b_rows : 1), k);
        const int pieces = product_pieces(double(m) * double(k), gemv_min_work_per_thread, m / 64);
        run_pieces(pieces, [&](int p) {  // each piece a range of C's rows
            const auto [i0, i1] = piece_range(m, pieces, p, 64);
            auto c = Eigen::Map<Vector>(C, m).segment(i0, i1 - i0);
            if constexpr (TransposeA)
                c.noalias() += alpha * a.middleCols(i0, i1 - i0).transpose() * x;
            else
                c.noalias() += alpha * a.middleRows(i0, i1 - i0) * x;
        });
    } else if (m == 1) {  // C^T = op(B)^T y, with y the first row of op(A); C (1 x n) is contiguous
        const Eigen::Map<const Vector> y(contiguous(A, k, TransposeA ? 1 : a_rows), k);
        const int pieces = product_pieces(double(n) * double(k), gemv_min_work_per_thread, n / 64);
        run_pieces(pieces, [&](int p) {  // each piece a range of C's columns
            const auto [j0, j1] = piece_range(n, pieces, p, 64);
            auto c = Eigen::Map<Vector>(C, n).segment(j0, j1 - j0);
            if constexpr (TransposeB)
                c.noalias() += alpha * b.middleRows(j0, j1 - j0) * y;
            else
                c.noalias() += alpha * b.middleCols(j0, j1 - j0).transpose() * y;
        });
    } else {
        gemm_packed<TransposeA, TransposeB>(alpha, A, a_rows, B, b_rows, C, m, n, k);
    }
}

// C (m x n) = alpha a b^T for contiguous a (m values) and b (n values), column by
// column, without reading C. Not inlined: one copy serves every transpose combination.
template <class T>
[[gnu::noinline]] void write_outer_product(T alpha, const T* a, Index m, const T* b, Index n, T* C) {
    using Column = Eigen::Array<T, Eigen::Dynamic, 1>;
    const Eigen::Map<const Column> column(a, m);
    for (Index j = 0; j < n; ++j) Eigen::Map<Column>(C + j * m, m) = (alpha * b[j]) * column;
}

// C (m x n) = alpha op(A) op(B), whatever C held before. A GEMM can only add, so C
// is zeroed first; except for an inner dimension of 1 (the weight gradient of a batch
// of one is an outer product), which needs no zeros.
template <bool TransposeA, bool TransposeB, class T>
void gemm_overwrite(T alpha, const T* A, Index a_rows, Index a_cols, const T* B, Index b_rows, Index b_cols, T* C) {
    const Index m = TransposeA ? a_cols : a_rows;
    const Index k = TransposeA ? a_rows : a_cols;
    const Index n = TransposeB ? b_rows : b_cols;
    if (k == 1) {  // op(A) is m contiguous values, op(B) n contiguous values, transposed or not
        write_outer_product(alpha, A, m, B, n, C);
        return;
    }
    std::fill_n(C, m * n, T(0));
    gemm_accumulate<TransposeA, TransposeB>(alpha, A, a_rows, a_cols, B, b_rows, b_cols, C);
}

}  // namespace tapestry::detail
