#pragma once
// A loop cut into pieces, one per thread (core/threads.hpp), with OpenMP.
//
// The pieces depend only on the loop's size and the thread count, never on timing, so
// a run repeats itself bit for bit. A loop too small to pay for waking another thread
// (about two microseconds) stays in one piece on the calling thread, exactly the code
// that ran before threads existed, so one thread gives yesterday's results. Inside
// another parallel region (a user's own OpenMP loop, a replica's thread) a loop runs in
// one piece: threads are not nested.

#include <algorithm>
#include <exception>
#include <limits>
#include <type_traits>
#include <utility>

#include "tapestry/core/shape.hpp"
#include "tapestry/core/threads.hpp"
#include "tapestry/kernels/cascade_sum.hpp"

namespace tapestry::detail {

// How many pieces to cut `work` units into, so that each piece has at least
// `min_work_per_piece` units, and no more pieces than `max_pieces` or threads.
inline int pieces_for(double work, double min_work_per_piece, Index max_pieces) {
#ifdef _OPENMP
    const int threads = num_threads();  // first, so that a bad TAPESTRY_NUM_THREADS is reported at the first operation
    const double most = std::min(work / min_work_per_piece, static_cast<double>(max_pieces));
    // Small work first: omp_in_parallel() is a call into the OpenMP runtime, a tenth of
    // a small node's cost.
    if (most < 2 || kernels_stay_on_this_thread || omp_in_parallel()) return 1;
    return static_cast<int>(std::min(most, static_cast<double>(threads)));
#else
    (void)work, (void)min_work_per_piece, (void)max_pieces;
    return 1;
#endif
}

// [begin, end) of piece p when [0, count) is cut into `pieces` ranges whose bounds are
// multiples of `grain` (the last range takes the remainder). Sizes differ by at most
// one grain.
inline std::pair<Index, Index> piece_range(Index count, int pieces, int p, Index grain) {
    const Index grains = (count + grain - 1) / grain;
    const auto bound = [&](Index q) { return std::min(count, grains * q / pieces * grain); };
    return {bound(p), bound(p + 1)};
}

// Runs piece(p) for every p in [0, pieces), in parallel; piece 0 on the calling thread.
// If pieces throw, the exception of the lowest-numbered one is rethrown here, after
// every piece has ended.
template <class Piece>
void run_pieces(int pieces, const Piece& piece) {
    if (pieces <= 1) {
        piece(0);
        return;
    }
#ifdef _OPENMP
    std::exception_ptr failure;
    int failed_piece = pieces;
#pragma omp parallel num_threads(pieces)
    {
        // The team may be smaller than asked (OMP_THREAD_LIMIT): then a thread takes
        // every team-th piece, still in a fixed assignment.
        const int team = omp_get_num_threads();
        for (int p = omp_get_thread_num(); p < pieces; p += team) {
            try {
                piece(p);
            } catch (...) {
#pragma omp critical(tapestry_run_pieces_failure)
                if (p < failed_piece) {
                    failed_piece = p;
                    failure = std::current_exception();
                }
            }
        }
    }
    if (failure) std::rethrow_exception(failure);
#else
    for (int p = 0; p < pieces; ++p) piece(p);
#endif
}

// Below this many elements per thread an elementwise loop stays on one thread.
inline constexpr double elementwise_min_work_per_thread = 1 << 15;

// How a loop over the elements of a rows x cols array is cut into `pieces`, one per
// thread: into ranges of columns, or of rows for a single column, in grains of 64 rows
// (whole unrolled packet groups in every piece but the last). `work` is the number of
// elements the loop reads; no more than `most` pieces.
struct ElementwiseCut {
    static constexpr Index row_grain = 64;
    Index rows, cols;
    int pieces;

    ElementwiseCut(Index rows_, Index cols_, double work, int most = std::numeric_limits<int>::max())
        : rows(rows_),
          cols(cols_),
          pieces(std::min(most,
                          pieces_for(work, elementwise_min_work_per_thread, cols_ > 1 ? cols_ : rows_ / row_grain))) {}

    // f(piece p of each x), each x an Eigen expression of this shape.
    template <class F, class... X>
    void on_piece(int p, const F& f, X&&... x) const {
        if (cols > 1) {
            const auto [c0, c1] = piece_range(cols, pieces, p, 1);
            f(x.middleCols(c0, c1 - c0)...);
        } else {
            const auto [r0, r1] = piece_range(rows, pieces, p, row_grain);
            f(x.middleRows(r0, r1 - r0)...);
        }
    }
};

// Whether an array of this type is too small to cut, whatever the work per element: a
// fixed shape with fewer than two columns, or one column of fewer than two row grains.
// Its loop skips the piece count (and OpenMP's omp_in_parallel), a tenth of a 1 x 1 node.
template <class Array>
inline constexpr bool never_cut =
    Array::RowsAtCompileTime != Eigen::Dynamic && Array::ColsAtCompileTime != Eigen::Dynamic &&
    (Array::ColsAtCompileTime > 1 ? Array::ColsAtCompileTime : Array::RowsAtCompileTime / ElementwiseCut::row_grain) <
        2;

// write(dst, src) for an elementwise Eigen expression src, cut as above when it is large
// enough to pay. One piece is exactly write(dst, src).
// `work` is the number of source elements read (the destination's size if not given:
// more for a reduction along rows or columns).
template <class Destination, class Source, class Write>
void write_elementwise(Destination&& dst, const Source& src, const Write& write, double work = -1) {
    if constexpr (never_cut<std::remove_cvref_t<Destination>>) {
        (void)work;
        (void)num_threads();  // as pieces_for: a bad TAPESTRY_NUM_THREADS throws at the first operation
        write(dst, src);
    } else {
        const Index rows = dst.rows(), cols = dst.cols();
        if (work < 0) work = double(rows) * double(cols);
        const ElementwiseCut cut(rows, cols, work);
        if (cut.pieces == 1) {
            write(dst, src);
            return;
        }
        run_pieces(cut.pieces, [&](int p) { cut.on_piece(p, write, dst, src); });
    }
}

// The contract of parallel_assign and parallel_add: element (i, j) of src depends on
// no element of dst, and src holds no sub-expression that Eigen evaluates into a
// temporary (a product, a replicated reduction), which each piece would evaluate again.
// A replicated reduction would be computed per piece, correctly but at a cost;
// src reading dst would race.

// dst = src, elementwise, on as many threads as pay. `work`: as in write_elementwise.
template <class Destination, class Source>
void parallel_assign(Destination&& dst, const Source& src, double work = -1) {
    write_elementwise(
        dst, src, [](auto&& d, const auto& s) { d = s; }, work);
}

// dst += src, elementwise, on as many threads as pay.
template <class Destination, class Source>
void parallel_add(Destination&& dst, const Source& src) {
    write_elementwise(dst, src, [](auto&& d, const auto& s) { d += s; });
}

// Whether evaluating `G` costs about a transcendental function per element or more.
template <class G>
inline constexpr bool costly_to_recompute = Eigen::internal::evaluator<G>::CoeffReadCost >= 20;

// The sum of all elements of a column-major Eigen array expression, read once, column by
// column, into four packet accumulators. A sum is bound by the latency of its additions
// until several run at once: Eigen's reductions keep one (a 2-D expression without
// linear access) or two, and a column-wise sum of sums copies the expression per column.
// A column's end is read in half and quarter packets: a short column (10 classes) would
// otherwise be all scalar additions in one chain. An expression with a transcendental per
// element (a loss) is summed as it is read, into one accumulator: its own latency hides
// the additions', and one loop body keeps the code to one copy of it per packet size,
// where storing it first would cost a pass over memory (docs/performance.md).
// Every block of about a thousand elements, the accumulators' sum is handed to a cascade
// (kernels/cascade_sum.hpp), so that a long sum keeps its digits.
// (Eigen's packet types carry vector attributes that g++ warns are dropped when one is a
// template argument, as Eigen's own kernels do: its headers silence that warning too.)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wignored-attributes"

// The kernel, over `rows` x `cols` elements of an evaluator read in packets down columns,
// or (OneColumn) read as one column of `rows` elements by linear index.
template <bool OneColumn, class Source>
typename Source::Scalar sum_down_columns(const Source& src, Index rows, Index cols) {
    namespace ei = Eigen::internal;
    const ei::evaluator<Source> values(src);
    using T = typename Source::Scalar;
    using Packet = typename ei::packet_traits<T>::type;
    using Half = typename ei::unpacket_traits<Packet>::half;
    using Quarter = typename ei::unpacket_traits<Half>::half;
    constexpr Index n = ei::unpacket_traits<Packet>::size;
    constexpr Index half_n = ei::unpacket_traits<Half>::size, quarter_n = ei::unpacket_traits<Quarter>::size;
    const auto packet = [&]<class P>(Index i, Index j, P*) {
        if constexpr (OneColumn)
            return values.template packet<Eigen::Unaligned, P>(i);
        else
            return values.template packet<Eigen::Unaligned, P>(i, j);
    };
    constexpr Packet* full = nullptr;
    constexpr bool unrolled = !costly_to_recompute<Source>;
    constexpr Index block = cascade_block<T>;
    const Index in_packets = rows / n * n;
    const Packet zero = ei::pset1<Packet>(T(0));
    Packet sum0 = zero, sum1 = zero, sum2 = zero, sum3 = zero;
    Half half_sum = ei::pset1<Half>(T(0));
    Quarter quarter_sum = ei::pset1<Quarter>(T(0));
    T rest = 0;
    const auto block_sum = [&] {
        BlockSum<Packet> sum{ei::padd(ei::padd(sum0, sum1), ei::padd(sum2, sum3)), T(0)};
        if constexpr (half_n < n) sum.scalar += ei::predux(half_sum);
        if constexpr (quarter_n < half_n) sum.scalar += ei::predux(quarter_sum);
        sum.scalar += rest;
        return sum;
    };
    CascadeSum<Packet> cascade;
    const auto hand_off = [&] {
        cascade.add(block_sum());
        sum0 = sum1 = sum2 = sum3 = zero;
        half_sum = ei::pset1<Half>(T(0));
        quarter_sum = ei::pset1<Quarter>(T(0));
        rest = 0;
    };
    Index since_hand_off = 0;  // elements, counted at a column's end
    // A column's elements past its packets are added one at a time into `rest`: in columns
    // of 1-3 rows, every element. Handed off every block, that chain was a thousand long
    // (10^7 times 0.1f, 1 x 10^7 plus a broadcast: 1e-5 off), so such columns are handed
    // off every 64 of their single elements.
    const Index singles = rows - in_packets - (half_n < n && rows - in_packets >= half_n ? half_n : 0) -
                          (quarter_n < half_n && (rows - in_packets) % half_n >= quarter_n ? quarter_n : 0);
    const Index hand_off_after = singles > 0 ? std::min(block, rows * std::max<Index>(1, 64 / singles)) : block;
    // Columns of a block or less (the common case) are read by the simplest loops, with
    // no bound computed per column: with a column's blocks handled in the same loop,
    // gather_columns's sum (64 x 256) took 1.15x its time and concat_rows's 1.1x.
    const bool short_columns = in_packets <= block;
    const Index in_fours = unrolled ? rows / (4 * n) * (4 * n) : 0;
    for (Index j = 0; j < cols; ++j) {
        Index i = 0;
        if (short_columns) {
            if constexpr (unrolled) {
                for (; i < in_fours; i += 4 * n) {
                    sum0 = ei::padd(sum0, packet(i, j, full));
                    sum1 = ei::padd(sum1, packet(i + n, j, full));
                    sum2 = ei::padd(sum2, packet(i + 2 * n, j, full));
                    sum3 = ei::padd(sum3, packet(i + 3 * n, j, full));
                }
            }
            for (; i < in_packets; i += n) sum0 = ei::padd(sum0, packet(i, j, full));
        } else {
            for (Index end = block;; end = std::min(in_packets, i + block)) {  // a block at a time
                if constexpr (unrolled) {
                    for (; i + 4 * n <= end; i += 4 * n) {
                        sum0 = ei::padd(sum0, packet(i, j, full));
                        sum1 = ei::padd(sum1, packet(i + n, j, full));
                        sum2 = ei::padd(sum2, packet(i + 2 * n, j, full));
                        sum3 = ei::padd(sum3, packet(i + 3 * n, j, full));
                    }
                }
                for (; i < end; i += n) sum0 = ei::padd(sum0, packet(i, j, full));
                if (end == in_packets) break;
                hand_off();
            }
        }
        if constexpr (half_n < n) {
            if (i + half_n <= rows) {
                half_sum = ei::padd(half_sum, packet(i, j, static_cast<Half*>(nullptr)));
                i += half_n;
            }
        }
        if constexpr (quarter_n < half_n) {
            if (i + quarter_n <= rows) {
                quarter_sum = ei::padd(quarter_sum, packet(i, j, static_cast<Quarter*>(nullptr)));
                i += quarter_n;
            }
        }
        for (; i < rows; ++i) rest += OneColumn ? values.coeff(i) : values.coeff(i, j);
        if ((since_hand_off += rows) >= hand_off_after) {
            hand_off();
            since_hand_off = 0;
        }
    }
    return cascade.total(block_sum());
}

template <class Source>
typename Source::Scalar sum_of_elements(const Source& src) {
    namespace ei = Eigen::internal;
    using Evaluator = ei::evaluator<Source>;
    constexpr Index n = ei::packet_traits<typename Source::Scalar>::size;
    if (src.size() == 0) return typename Source::Scalar(0);
    if constexpr (n > 1 && bool(Evaluator::Flags & Eigen::PacketAccessBit) && bool(Source::IsRowMajor)) {
        return sum_of_elements(src.transpose());  // a row, or a transposed view: its packets run down columns there
    } else if constexpr (n == 1 || !bool(Evaluator::Flags & Eigen::PacketAccessBit)) {
        return src.sum();
    } else {
        // Short columns of a stored array (a loss's values, one row per example) are read
        // as one column: columns of 1-3 rows would be all scalar additions.
        if constexpr (bool(Evaluator::Flags & Eigen::LinearAccessBit))
            if (src.rows() < 4 * n) return sum_down_columns<true>(src, src.size(), 1);
        return sum_down_columns<false>(src, src.rows(), src.cols());
    }
}
#pragma GCC diagnostic pop

// sum_of_piece(arrays...) over the arrays (of one shape), cut as ElementwiseCut cuts a
// loop, one piece per thread, and the pieces' sums added in order: the same bits run
// after run. One piece is exactly sum_of_piece(arrays...).
template <class T, class SumOfPiece, class First, class... Rest>
T sum_in_pieces(const SumOfPiece& sum_of_piece, First&& first, Rest&&... rest) {
    constexpr int most_pieces = 64;
    const Index rows = first.rows(), cols = first.cols();
    const ElementwiseCut cut(rows, cols, double(rows) * double(cols), most_pieces);
    if (cut.pieces == 1) return sum_of_piece(first, rest...);
    T partial[most_pieces];
    run_pieces(cut.pieces, [&](int p) {
        cut.on_piece(
            p, [&](auto&&... pieces) { partial[p] = sum_of_piece(pieces...); }, first, rest...);
    });
    T total = partial[0];
    for (int p = 1; p < cut.pieces; ++p) total += partial[p];
    return total;
}

// The sum of all elements of an Eigen array expression, cut among threads when large.
template <class Source>
typename Source::Scalar parallel_sum(const Source& src) {
    return sum_in_pieces<typename Source::Scalar>([](const auto& piece) { return sum_of_elements(piece); }, src);
}

}  // namespace tapestry::detail
