#pragma once
// The matrix product C = op(A) op(B), where op is the identity or a transpose view.
// A Param or Var operand (transposed or not) is read in place by Eigen's GEMM; any
// other expression is materialised first. Backward is two GEMMs that accumulate
// into the operands' adjoints (a Param's adjoint is its grad()):
//   d op(A) += dC op(B)^T      d op(B) += op(A)^T dC
// written for the stored (untransposed) adjoints:
//   A stored as is:   dA += dC op(B)^T        A stored transposed:   dA += op(B) dC^T
//   B stored as is:   dB += op(A)^T dC        B stored transposed:   dB += dC^T op(A)
// unless dC is uniform (the product is only summed or averaged): then row and column
// sums do instead (add_uniform_product_gradient). A Param's gradient that zero_grad()
// left stale is overwritten instead (gemm_overwrite, add_to_lines).

#include <algorithm>

#include "tapestry/expr/gemm.hpp"
#include "tapestry/expr/materialize.hpp"

namespace tapestry {
namespace detail {

// A product operand as the GEMM reads it: the stored matrix, its adjoint (null when it
// takes no gradient) and what keeps a value made without a tape alive. It carries no
// compile-time shape, so every product of one scalar type and transpose combination
// shares one forward function and one backward step: a model with many layer shapes
// compiles the product code four times per scalar type, not once per layer.
template <class T>
struct StoredOperand {
    const T* data;
    T* adjoint;                          // a Var's adjoint, or null
    GradientMemory<T>* param_gradient;  // a Param's gradient, or null
    Index rows, cols;
    const char* kind;  // "Param" or "Var", for messages
    Shared<const void> owner;

    bool needs_grad() const { return adjoint != nullptr || param_gradient != nullptr; }
    // Where a backward step adds its result; a Param's stale gradient gets its zeros
    // first, at backward time (zero_grad() may come after the forward).
    T* adjoint_to_add_into() const { return param_gradient != nullptr ? param_gradient->zeroed_if_stale() : adjoint; }

    // Where the backward GEMM puts its result, and whether it may overwrite instead of
    // add: a stale gradient is logically zero, so the GEMM's result is all it holds.
    struct GradientTarget {
        T* data;
        bool overwrite;
    };
    GradientTarget gradient_target() const {
        if (param_gradient == nullptr) return {adjoint, false};
        const bool overwrite = param_gradient->take_for_writing();
        return {param_gradient->data(), overwrite};
    }
    std::string describe() const { return describe_operand(kind, rows, cols); }
};

template <class T, int R, int C>
StoredOperand<T> stored_operand(const ParamLeaf<T, R, C>& p) {
    return {p.value_data(), nullptr, p.gradient_memory(), p.rows(), p.cols(), "Param", nullptr};
}

template <class T, int R, int C>
StoredOperand<T> stored_operand(const VarLeaf<T, R, C>& v) {
    return {v.value_data(), v.adjoint_data(), nullptr, v.rows(), v.cols(), "Var", v.var().owner()};
}

// An operand that is a leaf, or a transposed leaf, is read in place; anything else
// is evaluated into a Var first.
template <LazyExpression E>
constexpr bool reads_transposed_leaf() {
    if constexpr (requires(const E& e) { e.inner(); })
        return is_leaf_v<std::remove_cvref_t<decltype(std::declval<const E&>().inner())>>;
    else
        return false;
}

template <LazyExpression E>
auto stored_operand_of(const E& e) {
    if constexpr (reads_transposed_leaf<E>())
        return stored_operand(e.inner());
    else
        return stored_operand(stored(e));
}

template <bool TA, bool TB, class T>
[[gnu::cold]] std::string describe_product(const StoredOperand<T>& lhs, const StoredOperand<T>& rhs) {
    return "matrix product(" + lhs.describe() + (TA ? ".transpose()" : "") + ", " + rhs.describe() +
           (TB ? ".transpose()" : "") + ")";
}

// True when every element of the n values equals the first (never for a NaN).
template <class T>
bool is_uniform(const T* values, Index n) {
    return n > 0 && std::all_of(values + 1, values + n, [first = values[0]](T v) { return v == first; });
}

// sums[i] = c * (sum of line i of m), where the lines are m's rows (along_rows) or columns.
// Not inlined (here and below): each is called twice, and two inlined copies of the
// vectorised loops cost compile time, not run time.
template <class T>
[[gnu::noinline]] void line_sums(T c, const StoredOperand<T>& m, bool along_rows, T* sums) {
    using Column = Eigen::Map<const Eigen::Matrix<T, Eigen::Dynamic, 1>>;
    if (along_rows) {
        std::fill_n(sums, m.rows, T(0));
        for (Index j = 0; j < m.cols; ++j)
            for (Index i = 0; i < m.rows; ++i) sums[i] += m.data[i + j * m.rows];
        std::for_each(sums, sums + m.rows, [c](T& s) { s *= c; });
    } else {
        for (Index j = 0; j < m.cols; ++j) sums[j] = c * Column(m.data + j * m.rows, m.rows).sum();
    }
}

// Adds sums[i] to every element of line i of m's stored adjoint; writes it instead
// into a stale gradient (logically zero), which then needs no zeros first.
template <class T>
[[gnu::noinline]] void add_to_lines(const StoredOperand<T>& m, bool along_rows, const T* sums) {
    const auto target = m.gradient_target();
    for (Index j = 0; j < m.cols; ++j) {
        T* column = target.data + j * m.rows;
        if (along_rows && target.overwrite)
            std::copy_n(sums, m.rows, column);
        else if (along_rows)
            for (Index i = 0; i < m.rows; ++i) column[i] += sums[i];
        else if (target.overwrite)
            std::fill_n(column, m.rows, sums[j]);
        else
            for (Index i = 0; i < m.rows; ++i) column[i] += sums[j];
    }
}

// The backward step for dC = c 1 1^T, which is what a product receives when the loss
// only sums or averages it: then
//   d op(A) += c 1 (op(B) 1)^T      d op(B) += c (op(A)^T 1) 1^T,
// row and column sums instead of two GEMMs (O(n^2) instead of O(n^3) for n x n
// operands). Checking for it costs one comparison when dC is not uniform. Plain loops
// over column-major storage with the transposes as run-time flags: Eigen's partial
// reductions, one per transpose combination, made a Model B step compile 10% longer.
template <class T>
void add_uniform_product_gradient(T c, const StoredOperand<T>& lhs, bool lhs_transposed, const StoredOperand<T>& rhs,
                                  bool rhs_transposed) {
    // The sums go to the per-thread GEMM workspace: a backward step allocates nothing.
    const Index inner = lhs_transposed ? lhs.rows : lhs.cols;
    T* sums = gemm_workspace<T>(static_cast<std::size_t>(inner));
    if (lhs.needs_grad()) {  // the row sums of op(B), added to every row of d op(A)
        line_sums(c, rhs, !rhs_transposed, sums);
        add_to_lines(lhs, lhs_transposed, sums);
    }
    if (rhs.needs_grad()) {  // the column sums of op(A), added to every column of d op(B)
        line_sums(c, lhs, lhs_transposed, sums);
        add_to_lines(rhs, !rhs_transposed, sums);
    }
}

// target (+)= op(X) op(Y): overwritten when the target is a stale gradient.
template <bool TX, bool TY, class T>
void gemm_into(typename StoredOperand<T>::GradientTarget target, const T* X, Index x_rows, Index x_cols, const T* Y,
               Index y_rows, Index y_cols) {
    if (target.overwrite)
        gemm_overwrite<TX, TY>(T(1), X, x_rows, x_cols, Y, y_rows, y_cols, target.data);
    else
        gemm_accumulate<TX, TY>(T(1), X, x_rows, x_cols, Y, y_rows, y_cols, target.data);
}

// The general backward step: two GEMMs, see the top of this file.
template <bool TA, bool TB, class T>
void add_product_gradient(const T* dC, Index rows, Index cols, const StoredOperand<T>& lhs, const StoredOperand<T>& rhs) {
    if (lhs.needs_grad()) {
        if constexpr (TA)
            gemm_into<TB, true>(lhs.gradient_target(), rhs.data, rhs.rows, rhs.cols, dC, rows, cols);
        else
            gemm_into<false, !TB>(lhs.gradient_target(), dC, rows, cols, rhs.data, rhs.rows, rhs.cols);
    }
    if (rhs.needs_grad()) {
        if constexpr (TB)
            gemm_into<true, TA>(rhs.gradient_target(), dC, rows, cols, lhs.data, lhs.rows, lhs.cols);
        else
            gemm_into<!TA, false>(rhs.gradient_target(), lhs.data, lhs.rows, lhs.cols, dC, rows, cols);
    }
}

// C = op(A) op(B), recorded with its backward step. Shape-free: see StoredOperand.
template <bool TA, bool TB, class T>
VarParts<T> product_parts(const StoredOperand<T>& lhs, const StoredOperand<T>& rhs) {
    const Index rows = TA ? lhs.cols : lhs.rows, cols = TB ? rhs.rows : rhs.cols;
    auto fresh = new_value<T, Dynamic, Dynamic>(rows, cols, lhs.needs_grad() || rhs.needs_grad());
    gemm_overwrite<TA, TB>(T(1), lhs.data, lhs.rows, lhs.cols, rhs.data, rhs.rows, rhs.cols, fresh.value);
    check_value(fresh.value, rows, cols, [&] { return describe_product<TA, TB>(lhs, rhs); });

    if (fresh.tape != nullptr && fresh.adjoint != nullptr) {
        fresh.parts.position = fresh.tape->record([lhs, rhs, dC = fresh.adjoint, rows, cols] {
            if (is_uniform(dC, rows * cols)) {
                add_uniform_product_gradient(dC[0], lhs, TA, rhs, TB);
            } else {
                add_product_gradient<TA, TB>(dC, rows, cols, lhs, rhs);
            }
            if (detecting_anomalies()) {
                for (const StoredOperand<T>* operand : {&lhs, &rhs})
                    if (operand->needs_grad())
                        check_finite(operand->adjoint_to_add_into(), operand->rows, operand->cols, "backward", [&] {
                            return "the gradient that " + describe_product<TA, TB>(lhs, rhs) + " sends to " +
                                   operand->describe();
                        });
            }
        });
    } else if (fresh.tape != nullptr) {
        fresh.parts.position = fresh.tape->size();
    }
    return std::move(fresh.parts);
}

}  // namespace detail

template <LazyExpression A, LazyExpression B>
auto matrix_product(const A& a, const B& b) {
    using Rule = shape_rules::Product<A::Rows, A::Cols, B::Rows, B::Cols>;
    using T = typename A::Scalar;
    // After a compile-time diagnostic, an empty Var of the declared result type
    // keeps the compiler from adding errors of its own.
    if constexpr (!detail::same_scalar<A, B>) {
        detail::report_scalar_mismatch<A, B>();
        return Var<T, Rule::rows, Rule::cols>();
    } else if constexpr (!Rule::ok) {
        diagnostic::report<diagnostic::matrix_product_of_incompatible_shapes_left_cols_must_equal_right_rows<
            Shape<A::Rows, A::Cols>, Shape<B::Rows, B::Cols>>>();
        return Var<T, Rule::rows, Rule::cols>();
    } else {
        if (a.cols() != b.rows())
            detail::throw_shape_error("matrix product", a.rows(), a.cols(), b.rows(), b.cols(),
                                      "the left shape's columns must equal the right shape's rows");
        a.verify();
        b.verify();
        const auto lhs = detail::stored_operand_of(a);  // in this order: each may record a node
        const auto rhs = detail::stored_operand_of(b);
        return Var<T, Rule::rows, Rule::cols>(
            detail::product_parts<detail::reads_transposed_leaf<A>(), detail::reads_transposed_leaf<B>()>(lhs, rhs));
    }
}

template <Operand A, Operand B>
auto operator*(A&& a, B&& b) {
    return matrix_product(as_expression(std::forward<A>(a)), as_expression(std::forward<B>(b)));
}

}  // namespace tapestry
