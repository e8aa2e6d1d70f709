#pragma once
// What may appear in an expression: a Param (by reference: it outlives the tape),
// a Var, or another expression. as_expression() turns each into an expression node.

#include <type_traits>
#include <utility>

#include "tapestry/core/diagnostics.hpp"
#include "tapestry/expr/transpose.hpp"

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
            diagnostic::report<diagnostic::a_temporary_param_cannot_be_used_in_an_expression_declare_it_as_a_variable<D>>();
        return ParamLeaf<typename D::Scalar, D::rows_at_compile_time, D::cols_at_compile_time>(x);
    } else if constexpr (is_var_v<D>) {
        return VarLeaf<typename D::Scalar, D::rows_at_compile_time, D::cols_at_compile_time>(std::forward<X>(x));
    } else {
        return D(std::forward<X>(x));
    }
}

template <Operand X>
using expression_t = decltype(as_expression(std::declval<X>()));

namespace detail {
template <Operand X>
using scalar_of = typename expression_t<X>::Scalar;
}

}  // namespace tapestry
