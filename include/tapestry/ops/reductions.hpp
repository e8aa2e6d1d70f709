#pragma once
// sum, mean, prod, log_sum_exp (1x1), row_sum (Rx1: one sum per row), col_sum (1xC:
// one per column).

#include "tapestry/expr/reduction.hpp"

namespace tapestry {

template <Operand X>
auto sum(X&& x) {
    auto e = as_expression(std::forward<X>(x));
    return detail::scaled_sum(e, typename decltype(e)::Scalar(1));
}

template <Operand X>
auto mean(X&& x) {
    auto e = as_expression(std::forward<X>(x));
    using T = typename decltype(e)::Scalar;
    return detail::scaled_sum(e, T(1) / static_cast<T>(e.rows() * e.cols()));
}

// The product of all elements (gradient exact at zeros, and where the running product
// would underflow or overflow).
template <Operand X>
auto prod(X&& x) {
    return detail::product_of_elements(as_expression(std::forward<X>(x)));
}

// log(sum(exp(x))) over all elements, stable for any finite input.
template <Operand X>
auto log_sum_exp(X&& x) {
    return detail::log_sum_exp_of_elements(as_expression(std::forward<X>(x)));
}

template <Operand X>
auto row_sum(X&& x) {
    return detail::partial_sum<true>(as_expression(std::forward<X>(x)));
}

template <Operand X>
auto col_sum(X&& x) {
    return detail::partial_sum<false>(as_expression(std::forward<X>(x)));
}

}  // namespace tapestry
