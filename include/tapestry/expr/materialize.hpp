#pragma once
// Materialisation: an expression evaluated once, as one fused Eigen loop, into a
// Var. With a tape, one node is recorded whose backward step hands the stored
// adjoint (and the stored value, for ops whose derivative is cheaper in it) back
// through the expression to its leaves.

#include "tapestry/expr/operand.hpp"

namespace tapestry {

namespace detail {

// The work of evaluate(), compiled once per kernel form (ExpressionBase::kernel_form).
template <LazyExpression K>
VarParts<typename K::Scalar> evaluate_kernel_form(K e) {
    using T = typename K::Scalar;
    constexpr int R = K::Rows, C = K::Cols;
    e.verify();
    const Index rows = e.rows(), cols = e.cols();
    auto fresh = new_value<T, R, C>(rows, cols, e.needs_grad());
    Eigen::Map<KernelArray<T, R, C>>(fresh.value, rows, cols) = e.array();
    check_value(fresh.value, rows, cols, [&] { return e.describe(); });
    return finish_value(fresh, [e = std::move(e), value = fresh.value, adjoint = fresh.adjoint, rows, cols] {
        e.backprop_given_value(Eigen::Map<const KernelArray<T, R, C>>(adjoint, rows, cols),
                               Eigen::Map<const KernelArray<T, R, C>>(value, rows, cols));
        check_gradients([&] { return e.describe(); }, e);
    }).parts();
}

}  // namespace detail

template <LazyExpression E>
Var<typename E::Scalar, E::Rows, E::Cols> evaluate(const E& e) {
    using T = typename E::Scalar;
    constexpr int R = E::Rows, C = E::Cols;
    if constexpr (std::is_same_v<E, VarLeaf<T, R, C>>)
        return e.var();  // already a value: no copy, no node
    else
        return Var<T, R, C>(detail::evaluate_kernel_form(e.kernel_form()));
}

namespace detail {

// An operand whose values are stored: a leaf as it is, anything else evaluated once.
// For ops that read their operand's values more than once, or again in backward
// (products, prod, log_sum_exp, stationary_ar1).
template <LazyExpression E>
auto stored(const E& e) {
    if constexpr (is_leaf_v<E>)
        return e;
    else
        return VarLeaf<typename E::Scalar, E::Rows, E::Cols>(evaluate(e));
}

template <class T, int R, int C, class E>
Var<T, R, C> var_from(E&& operand) {
    auto expression = as_expression(std::forward<E>(operand));
    using X = decltype(expression);
    if constexpr (!std::is_same_v<typename X::Scalar, T>) {
        diagnostic::report<diagnostic::cannot_assign_expression_to_a_var_of_another_scalar_type<typename X::Scalar, T>>();
        return {};
    } else if constexpr (!shape_rules::agree(X::Rows, R) || !shape_rules::agree(X::Cols, C)) {
        diagnostic::report<
            diagnostic::cannot_assign_expression_to_a_var_of_another_shape<Shape<X::Rows, X::Cols>, Shape<R, C>>>();
        return {};
    } else {
        if ((R != Dynamic && expression.rows() != R) || (C != Dynamic && expression.cols() != C))
            throw_shape_error("assignment to Var", expression.rows(), expression.cols(),
                              R == Dynamic ? expression.rows() : R, C == Dynamic ? expression.cols() : C,
                              "the Var's fixed extents must match the expression's");
        return Var<T, R, C>(evaluate(expression).parts());
    }
}

}  // namespace detail

// Any operand as a Var (a Param is copied into a new value; a Var is returned as is).
template <Operand X>
    requires(!LazyExpression<X>)
auto evaluate(X&& x) {
    return evaluate(as_expression(std::forward<X>(x)));
}

}  // namespace tapestry
