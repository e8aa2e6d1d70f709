#pragma once
// detach(x): x's value as a Var that no gradient flows back through (PyTorch's
// detach(), JAX's stop_gradient). A Var's value is shared, not copied; anything else
// (a Param, an expression) is evaluated once, without gradient.

#include <utility>

#include "tapestry/operand.hpp"
#include "tapestry/tape/recording.hpp"
#include "tapestry/var.hpp"

namespace tapestry {

template <class T, int R, int C>
Var<T, R, C> detach(const Var<T, R, C>& v) {
    v.verify();
    detail::ValueParts<T> parts = detail::VarAccess::parts(v);
    parts.adjoint = nullptr;
    return detail::VarAccess::make<T, R, C>(std::move(parts));
}

template <Operand X>
    requires(!is_var_v<std::remove_cvref_t<X>>)
auto detach(X&& x) {
    using E = expression_t<X>;
    const auto e = as_expression(std::forward<X>(x));
    const InferenceMode without_gradient;
    return Var<typename E::Scalar, E::Rows, E::Cols>(e);
}

// The same, by its JAX name.
template <class X>
auto stop_gradient(X&& x) -> decltype(detach(std::forward<X>(x))) {
    return detach(std::forward<X>(x));
}

}  // namespace tapestry
