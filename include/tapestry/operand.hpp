#pragma once
// What may appear in an expression: a Param (by reference: it outlives the tape), a
// Var, or another expression. as_expression() turns each into an expression node, and
// evaluate() any of them into a Var.

#include <type_traits>
#include <utility>

#include "tapestry/core/diagnostics.hpp"
#include "tapestry/expr/expression.hpp"
#include "tapestry/param.hpp"
#include "tapestry/var.hpp"

namespace tapestry {

template <class X>
concept Operand = LazyExpression<X> || is_param_v<std::remove_cvref_t<X>> || is_var_v<std::remove_cvref_t<X>>;

template <class X>
concept Arithmetic = std::is_arithmetic_v<std::remove_cvref_t<X>>;

template <Operand X>
auto as_expression(X&& x) {
    using D = std::remove_cvref_t<X>;
    if constexpr (is_param_v<D>) {
        // A temporary Param would be gone before backward() writes its gradient.
        if constexpr (!std::is_lvalue_reference_v<X>)
            diagnostic::report<
                diagnostic::a_temporary_param_cannot_be_used_in_an_expression_declare_it_as_a_variable<D>>();
        return detail::ParamAccess::leaf(x);
    } else if constexpr (is_var_v<D>) {
        return detail::VarAccess::leaf(x);
    } else {
        return D(std::forward<X>(x));
    }
}

template <Operand X>
using expression_t = decltype(as_expression(std::declval<X>()));

namespace detail {
template <Operand X>
using scalar_of = typename expression_t<X>::Scalar;

// Two operands of an operation need the same scalar type; a diagnostic names both.
template <class A, class B>
inline constexpr bool same_scalar = std::is_same_v<typename A::Scalar, typename B::Scalar>;

template <class A, class B>
constexpr void report_scalar_mismatch() {
    diagnostic::report<diagnostic::operands_have_different_scalar_types<typename A::Scalar, typename B::Scalar>>();
}
}  // namespace detail

// Any operand as a Var: an expression evaluated (one fused loop, one node), a Param
// copied into a new value, a Var returned as it is.
template <Operand X>
auto evaluate(X&& x) {
    using E = expression_t<X>;
    return Var<typename E::Scalar, E::Rows, E::Cols>(as_expression(std::forward<X>(x)));
}

}  // namespace tapestry
