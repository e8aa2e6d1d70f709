#pragma once
// where(mask, a, b): a where the mask is true, b elsewhere, elementwise (PyTorch's
// torch.where). The mask is an Eigen boolean array of the result's shape, such as
// `x.value().array() > 0`; either branch may be a number. The branch not taken gets
// a gradient of exactly zero (expr/select.hpp), even where it is NaN or infinite.

#include <type_traits>
#include <utility>

#include "tapestry/core/diagnostics.hpp"
#include "tapestry/core/errors.hpp"
#include "tapestry/expr/select.hpp"
#include "tapestry/operand.hpp"
#include "tapestry/ops/constant.hpp"

namespace tapestry {
namespace diagnostic {
template <class MaskShape, class TrueShape, class FalseShape>
struct where_needs_a_mask_and_branches_of_one_shape;
}  // namespace diagnostic

namespace detail {

template <class X>
concept WhereBranch = Operand<X> || Arithmetic<X>;

// The expression of a branch: itself, or a number repeated over the result's shape.
template <class T, int R, int C, class X>
auto where_branch(X&& x, Index rows, Index cols) {
    if constexpr (Arithmetic<X>)
        return FilledExpr<T, R, C>(static_cast<T>(x), rows, cols);
    else
        return as_expression(std::forward<X>(x));
}

// The expression type of the branch that is an operand (the first, if both are).
template <class A, class B>
struct WhereOperand {
    using type = expression_t<B>;
};
template <Operand A, class B>
struct WhereOperand<A, B> {
    using type = expression_t<A>;
};

}  // namespace detail

template <class MaskDerived, detail::WhereBranch A, detail::WhereBranch B>
    requires(std::is_same_v<typename MaskDerived::Scalar, bool> && (Operand<A> || Operand<B>))
auto where(const Eigen::DenseBase<MaskDerived>& mask, A&& if_true, B&& if_false) {
    using E = typename detail::WhereOperand<A, B>::type;
    using T = typename E::Scalar;
    constexpr int R = E::Rows, C = E::Cols;
    constexpr int MR = MaskDerived::RowsAtCompileTime, MC = MaskDerived::ColsAtCompileTime;
    Index rows = 0, cols = 0;
    if constexpr (Operand<A>) {
        rows = as_expression(if_true).rows();
        cols = as_expression(if_true).cols();
    } else {
        rows = as_expression(if_false).rows();
        cols = as_expression(if_false).cols();
    }
    auto left = detail::where_branch<T, R, C>(std::forward<A>(if_true), rows, cols);
    auto right = detail::where_branch<T, R, C>(std::forward<B>(if_false), rows, cols);
    using L = decltype(left);
    using Rt = decltype(right);
    constexpr bool shapes_agree = shape_rules::agree(MR, L::Rows) && shape_rules::agree(MC, L::Cols) &&
                                  shape_rules::agree(L::Rows, Rt::Rows) && shape_rules::agree(L::Cols, Rt::Cols);
    if constexpr (!detail::same_scalar<L, Rt>) {
        detail::report_scalar_mismatch<L, Rt>();
        return left;
    } else if constexpr (!shapes_agree) {
        diagnostic::report<diagnostic::where_needs_a_mask_and_branches_of_one_shape<
            Shape<MR, MC>, Shape<L::Rows, L::Cols>, Shape<Rt::Rows, Rt::Cols>>>();
        return left;
    } else {
        if (left.rows() != right.rows() || left.cols() != right.cols())
            detail::throw_shape_error("where", left.rows(), left.cols(), right.rows(), right.cols(),
                                      "both branches need the same shape");
        if (mask.rows() != left.rows() || mask.cols() != left.cols())
            detail::throw_shape_error("where", mask.rows(), mask.cols(), left.rows(), left.cols(),
                                      "the mask needs the branches' shape");
        auto taken = as_expression(constant(mask.derived().template cast<T>()));
        return SelectExpr<decltype(taken), L, Rt>(std::move(taken), std::move(left), std::move(right));
    }
}

}  // namespace tapestry
