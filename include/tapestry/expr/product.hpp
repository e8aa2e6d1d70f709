#pragma once
// The matrix product C = op(A) op(B), where op is the identity or a transpose view.
// A Param or Var operand (transposed or not) is read in place by Eigen's GEMM; any
// other expression is materialised first. Backward is two GEMMs that accumulate
// into the operands' adjoints (a Param's adjoint is its grad()):
//   d op(A) += dC op(B)^T      d op(B) += op(A)^T dC
// written for the stored (untransposed) adjoints:
//   A stored as is:   dA += dC op(B)^T        A stored transposed:   dA += op(B) dC^T
//   B stored as is:   dB += op(A)^T dC        B stored transposed:   dB += dC^T op(A)

#include "tapestry/expr/gemm.hpp"
#include "tapestry/expr/materialize.hpp"

namespace tapestry {
namespace detail {

// How a product reads one operand: a leaf, and whether to read it transposed.
template <class Leaf, bool Transposed>
struct GemmOperand {
    Leaf leaf;
    static constexpr bool transposed = Transposed;

    // The stored matrix, as gemm_accumulate() takes it: data, rows, cols.
    const typename Leaf::Scalar* data() const { return leaf.value_data(); }
    typename Leaf::Scalar* adjoint() const { return leaf.adjoint_data(); }
    Index rows() const { return leaf.rows(); }
    Index cols() const { return leaf.cols(); }
    bool needs_grad() const { return leaf.needs_grad(); }
    std::string describe() const { return leaf.describe() + (Transposed ? ".transpose()" : ""); }
};

template <LazyExpression E>
auto gemm_operand_of_value(const E& e) {
    using Leaf = VarLeaf<typename E::Scalar, E::Rows, E::Cols>;
    return GemmOperand<Leaf, false>{Leaf(evaluate(e))};
}

template <LazyExpression E>
auto gemm_operand(const E& e) {
    if constexpr (is_leaf_v<E>) {
        return GemmOperand<E, false>{e};
    } else if constexpr (requires { e.inner(); }) {
        using Inner = std::remove_cvref_t<decltype(e.inner())>;
        if constexpr (is_leaf_v<Inner>)
            return GemmOperand<Inner, true>{e.inner()};
        else
            return gemm_operand_of_value(e);
    } else {
        return gemm_operand_of_value(e);
    }
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
        auto lhs = detail::gemm_operand(a);
        auto rhs = detail::gemm_operand(b);
        const Index rows = a.rows(), cols = b.cols();
        auto fresh = detail::new_value<T, Rule::rows, Rule::cols>(rows, cols, lhs.needs_grad() || rhs.needs_grad());
        constexpr bool TA = decltype(lhs)::transposed, TB = decltype(rhs)::transposed;
        std::fill_n(fresh.value, rows * cols, T(0));
        detail::gemm_accumulate<TA, TB>(T(1), lhs.data(), lhs.rows(), lhs.cols(), rhs.data(), rhs.rows(), rhs.cols(),
                                        fresh.value);
        const auto describe = [lhs, rhs] { return "matrix product(" + lhs.describe() + ", " + rhs.describe() + ")"; };
        detail::check_value(fresh.value, rows, cols, describe);

        return detail::finish_value(fresh, [lhs, rhs, dC = fresh.adjoint, rows, cols, describe] {
            using detail::gemm_accumulate;
            if (lhs.needs_grad()) {
                if constexpr (TA)
                    gemm_accumulate<TB, true>(T(1), rhs.data(), rhs.rows(), rhs.cols(), dC, rows, cols, lhs.adjoint());
                else
                    gemm_accumulate<false, !TB>(T(1), dC, rows, cols, rhs.data(), rhs.rows(), rhs.cols(), lhs.adjoint());
            }
            if (rhs.needs_grad()) {
                if constexpr (TB)
                    gemm_accumulate<true, TA>(T(1), dC, rows, cols, lhs.data(), lhs.rows(), lhs.cols(), rhs.adjoint());
                else
                    gemm_accumulate<!TA, false>(T(1), lhs.data(), lhs.rows(), lhs.cols(), dC, rows, cols, rhs.adjoint());
            }
            detail::check_gradients(describe, lhs.leaf, rhs.leaf);
        });
    }
}

template <Operand A, Operand B>
auto operator*(A&& a, B&& b) {
    return matrix_product(as_expression(std::forward<A>(a)), as_expression(std::forward<B>(b)));
}

}  // namespace tapestry
