#pragma once
// Reductions consume an expression directly: sum(square(a - b)) is one fused loop
// forward and one backward, with no intermediate stored.

#include <cmath>

#include "tapestry/expr/materialize.hpp"

namespace tapestry::detail {

// The work of scaled_sum(), compiled once per kernel form (ExpressionBase::kernel_form).
template <LazyExpression E>
VarParts<typename E::Scalar> scaled_sum_kernel_form(E e, typename E::Scalar scale) {
    using T = typename E::Scalar;
    e.verify();
    auto fresh = new_value<T, 1, 1>(1, 1, e.needs_grad());
    // Column by column: a total redux over an expression with a broadcast (which has
    // no linear access) would run scalar code; each column's sum vectorises.
    *fresh.value = scale * e.array().colwise().sum().sum();
    const auto describe = [e] { return "sum(" + e.describe() + ")"; };
    check_value(fresh.value, 1, 1, describe);
    return finish_value(fresh, [e, adjoint = fresh.adjoint, scale, describe] {
        e.backprop(detail::KernelArray<T, E::Rows, E::Cols>::Constant(e.rows(), e.cols(), scale * *adjoint));
        check_gradients(describe, e);
    }).parts();
}

// scale * (sum of all elements), as a 1x1 Var.
template <LazyExpression E>
Var<typename E::Scalar, 1, 1> scaled_sum(const E& e, typename E::Scalar scale) {
    return Var<typename E::Scalar, 1, 1>(scaled_sum_kernel_form(e.kernel_form(), scale));
}

// The work of partial_sum(), compiled once per kernel form.
template <bool AlongRows, LazyExpression E>
VarParts<typename E::Scalar> partial_sum_kernel_form(E e) {
    using T = typename E::Scalar;
    constexpr int R = AlongRows ? E::Rows : 1;
    constexpr int C = AlongRows ? 1 : E::Cols;
    e.verify();
    const Index rows = e.rows(), cols = e.cols();
    const Index out_rows = AlongRows ? rows : 1, out_cols = AlongRows ? 1 : cols;
    auto fresh = new_value<T, R, C>(out_rows, out_cols, e.needs_grad());
    Eigen::Map<detail::KernelArray<T, R, C>> out(fresh.value, out_rows, out_cols);
    if constexpr (AlongRows)
        out = e.array().rowwise().sum();
    else
        out = e.array().colwise().sum();
    const auto describe = [e] { return (AlongRows ? "row_sum(" : "col_sum(") + e.describe() + ")"; };
    check_value(fresh.value, out_rows, out_cols, describe);
    return finish_value(fresh, [e, adjoint = fresh.adjoint, describe] {
        const Index rows = e.rows(), cols = e.cols();
        if constexpr (AlongRows)
            e.backprop(Eigen::Map<const detail::KernelArray<T, R, C>>(adjoint, rows, 1).rowwise().replicate(cols));
        else
            e.backprop(Eigen::Map<const detail::KernelArray<T, R, C>>(adjoint, 1, cols).colwise().replicate(rows));
        check_gradients(describe, e);
    }).parts();
}

// Sums along each row (Rx1) or each column (1xC).
template <bool AlongRows, LazyExpression E>
auto partial_sum(const E& e) {
    using T = typename E::Scalar;
    return Var<T, AlongRows ? E::Rows : 1, AlongRows ? 1 : E::Cols>(partial_sum_kernel_form<AlongRows>(e.kernel_form()));
}

// The product of all elements, as a 1x1 Var. Its gradient is the product of the
// others, exact where elements are 0: with no zero it is p / x_i; with one zero only
// that element has one (the product of the rest); with two or more it is 0.
template <LazyExpression E>
Var<typename E::Scalar, 1, 1> product_of_elements(const E& e) {
    using T = typename E::Scalar;
    e.verify();
    const auto x = stored(e);
    auto fresh = new_value<T, 1, 1>(1, 1, x.needs_grad());
    const auto values = x.array();
    T product = values.prod();  // vectorised; the zeros are looked for only if it is 0
    Index zeros = 0, zero_at = 0;
    T product_of_nonzeros = product;
    if (product == T(0)) {
        product_of_nonzeros = T(1);
        for (Index i = 0; i < values.size(); ++i) {
            const T v = values.data()[i];
            if (v == T(0)) {
                ++zeros;
                zero_at = i;
            } else {
                product_of_nonzeros *= v;
            }
        }
    }
    *fresh.value = product;
    const auto describe = [x] { return "prod(" + x.describe() + ")"; };
    check_value(fresh.value, 1, 1, describe);
    return finish_value(fresh, [x, adjoint = fresh.adjoint, product, zeros, zero_at, product_of_nonzeros, describe] {
        const T g = *adjoint;
        const Index rows = x.rows(), cols = x.cols();
        if (zeros == 0) {
            x.backprop((g * product) / x.array());
        } else if (zeros == 1) {
            const T at_zero = g * product_of_nonzeros;
            x.backprop(detail::KernelArray<T, E::Rows, E::Cols>::NullaryExpr(
                rows, cols, [zero_at, rows, at_zero](Index i, Index j) { return j * rows + i == zero_at ? at_zero : T(0); }));
        }
        check_gradients(describe, x);
    });
}

// log(sum(exp(x))) over all elements, as a 1x1 Var, computed as m + log(sum(exp(x - m)))
// with m the largest element, so that it neither overflows nor underflows. When
// recording, exp(x - m) is kept on the tape: the gradient exp(x - m) / sum is then
// one multiplication per element instead of a second exp.
template <LazyExpression E>
Var<typename E::Scalar, 1, 1> log_sum_exp_of_elements(const E& e) {
    using T = typename E::Scalar;
    e.verify();
    const auto x = stored(e);
    const Index rows = x.rows(), cols = x.cols();
    auto fresh = new_value<T, 1, 1>(1, 1, x.needs_grad());
    const auto values = x.array();
    const T max = values.maxCoeff();
    T* shifted_exp = fresh.adjoint != nullptr ? fresh.tape->template allocate_values<T>(rows * cols) : nullptr;
    T sum;
    if (!std::isfinite(max)) {  // all -inf: log 0 = -inf; any +inf or NaN: that value
        sum = T(1);
        if (shifted_exp != nullptr) Eigen::Map<detail::KernelArray<T, E::Rows, E::Cols>>(shifted_exp, rows, cols) = T(0);
    } else if (shifted_exp != nullptr) {
        auto kept = Eigen::Map<detail::KernelArray<T, E::Rows, E::Cols>>(shifted_exp, rows, cols);
        kept = (values - max).exp();
        sum = kept.sum();
    } else {
        sum = (values - max).exp().sum();
    }
    *fresh.value = max + std::log(sum);
    const auto describe = [x] { return "log_sum_exp(" + x.describe() + ")"; };
    check_value(fresh.value, 1, 1, describe);
    return finish_value(fresh, [x, adjoint = fresh.adjoint, shifted_exp, scale = T(1) / sum, rows, cols, describe] {
        x.backprop((*adjoint * scale) * Eigen::Map<const detail::KernelArray<T, E::Rows, E::Cols>>(shifted_exp, rows, cols));
        check_gradients(describe, x);
    });
}

}  // namespace tapestry::detail
