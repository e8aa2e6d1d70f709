#pragma once
// Reductions consume an expression directly: sum(square(a - b)) is one fused loop
// forward and one backward, with no intermediate stored.

#include <algorithm>
#include <cmath>

#include "tapestry/expr/materialize.hpp"

namespace tapestry::detail {

// The work of scaled_sum(), compiled once per kernel form (ExpressionBase::kernel_form).
template <LazyExpression E>
VarParts<typename E::Scalar> scaled_sum_kernel_form(E e, typename E::Scalar scale) {
    using T = typename E::Scalar;
    e.verify();
    auto fresh = new_value<T, 1, 1>(1, 1, e.needs_grad());
    if constexpr (costly_to_recompute<decltype(e.array())>) {
        // A transcendental per element (a loss): evaluated into scratch, then summed. The
        // fused reduction inlines the vectorised transcendentals into each of its unrolled
        // accumulators and its tail, several times the code of one assignment loop, for
        // one pass over memory that the transcendentals' cost hides.
        const EvaluatedOnce<T, E::Rows, E::Cols> values(e.array());
        *fresh.value = scale * values.array().sum();
    } else {
        // Column by column: a total redux over an expression with a broadcast (which has
        // no linear access) would run scalar code; each column's sum vectorises.
        *fresh.value = scale * e.array().colwise().sum().sum();
    }
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
    using Result = Var<typename E::Scalar, AlongRows ? E::Rows : 1, AlongRows ? 1 : E::Cols>;
    return Result(partial_sum_kernel_form<AlongRows>(e.kernel_form()));
}

// A product kept as a mantissa and a binary exponent, so that no partial product
// overflows or underflows: the product of a million values of 1e-300 is representable
// here, and so is the product of all but one of them.
template <class T>
struct ScaledProduct {
    T mantissa = T(1);  // in [0.5, 1) after the first factor
    long exponent = 0;

    void multiply(T factor) {
        int e = 0;
        mantissa *= std::frexp(factor, &e);
        exponent += e;
        mantissa = std::frexp(mantissa, &e);
        exponent += e;
    }
    T value() const { return scaled(mantissa, exponent); }
    // The product without one of its factors (finite and nonzero).
    T without(T factor) const {
        int e = 0;
        const T m = std::frexp(factor, &e);
        return scaled(mantissa / m, exponent - e);
    }

private:
    // m 2^e for m in (0.25, 2): an exponent beyond +-4096 gives inf or 0 for any T.
    static T scaled(T m, long e) { return std::ldexp(m, static_cast<int>(std::clamp(e, -4096L, 4096L))); }
};

// The product of all elements, as a 1x1 Var. Its gradient is the product of the
// others, exact where elements are 0: with no zero it is p / x_i; with one zero only
// that element has one (the product of the rest); with two or more it is 0. Where the
// running product underflows (to 0 or to a subnormal number) or overflows with no zero
// or infinite element, the value and the gradient come from a ScaledProduct instead.
template <LazyExpression E>
Var<typename E::Scalar, 1, 1> product_of_elements(const E& e) {
    using T = typename E::Scalar;
    e.verify();
    const auto x = stored(e);
    auto fresh = new_value<T, 1, 1>(1, 1, x.needs_grad());
    const auto values = x.array();
    T product = values.prod();  // vectorised; the slow path below runs only if it is not a normal number
    Index zeros = 0, zero_at = 0;
    bool rescaled = false;
    ScaledProduct<T> of_nonzeros;
    // A subnormal product has lost digits, and p / x_i would carry that loss into
    // gradients that are themselves normal numbers.
    if (!std::isnormal(product)) {
        bool non_finite_element = false;
        for (Index i = 0; i < values.size(); ++i) {
            const T v = values.data()[i];
            if (v == T(0)) {
                ++zeros;
                zero_at = i;
            } else if (!std::isfinite(v)) {
                non_finite_element = true;
            } else {
                of_nonzeros.multiply(v);
            }
        }
        if (non_finite_element) {
            zeros = 0;  // IEEE arithmetic decides, inf * 0 = NaN included
        } else if (zeros > 0) {
            product = T(0);  // a product that overflowed on the way could have become NaN
        } else {
            product = of_nonzeros.value();
            rescaled = true;
        }
    }
    *fresh.value = product;
    const auto describe = [x] { return "prod(" + x.describe() + ")"; };
    check_value(fresh.value, 1, 1, describe);
    return finish_value(fresh, [x, adjoint = fresh.adjoint, product, zeros, zero_at, rescaled, of_nonzeros, describe] {
        const T g = *adjoint;
        const Index rows = x.rows(), cols = x.cols();
        if (zeros == 0 && !rescaled) {
            x.backprop((g * product) / x.array());
        } else if (zeros == 0) {
            x.backprop(g * x.array().unaryExpr([of_nonzeros](T v) { return of_nonzeros.without(v); }));
        } else if (zeros == 1) {
            const T at_zero = g * of_nonzeros.value();
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
