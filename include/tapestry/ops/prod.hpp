#pragma once
// prod(x): the product of all elements, as a 1x1 Var. Its gradient is the product of
// the others, exact where elements are 0: with no zero it is p / x_i; with one zero only
// that element has one (the product of the rest); with two or more it is 0. Where the
// running product underflows (to 0 or to a subnormal number) or overflows with no zero
// or infinite element, the value and the gradient come from an ExponentTrackingProduct.

#include <algorithm>
#include <cmath>
#include <utility>

#include "tapestry/graph/evaluate.hpp"
#include "tapestry/graph/node.hpp"
#include "tapestry/operand.hpp"

namespace tapestry {
namespace detail {

// A product kept as a mantissa and a binary exponent, so that no partial product
// overflows or underflows: the product of a million values of 1e-300 is representable
// here, and so is the product of all but one of them.
template <class T>
struct ExponentTrackingProduct {
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

}  // namespace detail

namespace ops {

template <class T>
struct ProductOfElements {
    static constexpr const char* name = "prod";
    // What forward found, for backward.
    T product = T(1);
    Index zeros = 0, zero_at = 0;
    bool rescaled = false;
    detail::ExponentTrackingProduct<T> of_nonzeros;

    void forward(const auto& out, const auto& x) {
        const auto values = x.array();
        product = values.prod();  // vectorised; the slow path below runs only if it is not a normal number
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
        out.data()[0] = product;
    }

    template <class X>
    void backward(const auto& dy, const auto&, const X& x) const {
        const T g = dy(0, 0);
        const Index rows = x.rows();
        if (zeros == 0 && !rescaled) {
            x.backprop((g * product) / x.array());
        } else if (zeros == 0) {
            x.backprop(g * x.array().unaryExpr([nonzeros = of_nonzeros](T v) { return nonzeros.without(v); }));
        } else if (zeros == 1) {
            const T at_zero = g * of_nonzeros.value();
            x.backprop(detail::KernelArray<T, X::Rows, X::Cols>::NullaryExpr(
                rows, x.cols(),
                [at = zero_at, rows, at_zero](Index i, Index j) { return j * rows + i == at ? at_zero : T(0); }));
        }
    }
};

}  // namespace ops

// The product of all elements (gradient exact at zeros, and where the running product
// would underflow or overflow).
template <Operand X>
auto prod(X&& x) {
    const auto leaf = detail::as_leaf(as_expression(std::forward<X>(x)));
    using T = typename decltype(leaf)::Scalar;
    return detail::make_node<Var<T, 1, 1>>(ops::ProductOfElements<T>{}, 1, 1, leaf);
}

}  // namespace tapestry
