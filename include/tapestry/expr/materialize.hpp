#pragma once
// Materialisation: an expression evaluated once, as one fused Eigen loop, into a
// Var. With a tape, one node is recorded whose backward step hands the stored
// adjoint (and the stored value, for ops whose derivative is cheaper in it) back
// through the expression to its leaves.

#include "tapestry/expr/operand.hpp"

namespace tapestry {

template <LazyExpression E>
Var<typename E::Scalar, E::Rows, E::Cols> evaluate(const E& e) {
    using T = typename E::Scalar;
    constexpr int R = E::Rows, C = E::Cols;
    if constexpr (std::is_same_v<E, VarLeaf<T, R, C>>) {
        return e.var();  // already a value: no copy, no node
    } else {
        e.verify();
        const Index rows = e.rows(), cols = e.cols();
        auto fresh = detail::new_value<T, R, C>(rows, cols, e.needs_grad());
        Eigen::Map<Eigen::Array<T, R, C>>(fresh.value, rows, cols) = e.array();
        return detail::finish_value(fresh, [e, value = fresh.value, adjoint = fresh.adjoint, rows, cols] {
            e.backprop_given_value(Eigen::Map<const Eigen::Array<T, R, C>>(adjoint, rows, cols),
                                   Eigen::Map<const Eigen::Array<T, R, C>>(value, rows, cols));
        });
    }
}

template <class T, int R, int C>
template <class E>
    requires requires { typename std::remove_cvref_t<E>::is_tapestry_expression; }
Var<T, R, C>::Var(E&& expression) {
    using X = std::remove_cvref_t<E>;
    if constexpr (!std::is_same_v<typename X::Scalar, T>) {
        diagnostic::report<diagnostic::cannot_assign_expression_to_a_var_of_another_scalar_type<typename X::Scalar, T>>();
    } else if constexpr (!shape_rules::agree(X::Rows, R) || !shape_rules::agree(X::Cols, C)) {
        diagnostic::report<
            diagnostic::cannot_assign_expression_to_a_var_of_another_shape<Shape<X::Rows, X::Cols>, Shape<R, C>>>();
    } else {
        if ((R != Dynamic && expression.rows() != R) || (C != Dynamic && expression.cols() != C))
            detail::throw_shape_error("assignment to Var", expression.rows(), expression.cols(),
                                      R == Dynamic ? expression.rows() : R, C == Dynamic ? expression.cols() : C,
                                      "the Var's fixed extents must match the expression's");
        auto v = evaluate(expression);
        value_ = v.value_;
        adjoint_ = v.adjoint_;
        rows_ = v.rows_;
        cols_ = v.cols_;
        life_ = std::move(v.life_);
        epoch_ = v.epoch_;
        position_ = v.position_;
        owner_ = std::move(v.owner_);
    }
}

// Any operand as a Var (a Param is copied into a new value; a Var is returned as is).
template <Operand X>
    requires(!LazyExpression<X>)
auto evaluate(X&& x) {
    return evaluate(as_expression(std::forward<X>(x)));
}

}  // namespace tapestry
