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
#include "tapestry/graph/leaf_views.hpp"
#include "tapestry/graph/node.hpp"
#include "tapestry/kernels/scratch.hpp"
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
    Index zeros = 0, zero_at = 0, first_zero_at = 0;
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
                    if (zeros++ == 0) first_zero_at = i;
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

    // Forward mode: the gradient (backward's, for an adjoint of 1) dotted with x'.
    template <class X>
    void tangent(const auto& out, const auto& y, const X& x) const {
        detail::ScratchScope scratch;
        out.data()[0] = (gradient(scratch, y, x) * x.tangent()).sum();
    }

    // Second order: x's adjoint g ∇ has the tangent g' ∇ + g H x', where H_ij is the
    // product of all elements but the i-th and the j-th (H_ii = 0). Without zeros,
    // (H x')_i = ∇_i (sum(x'/x) - x'_i/x_i); with one zero at z, only ∇_z is nonzero and
    // (H x')_i = x'_z ∇_z / x_i (i != z), (H x')_z = ∇_z sum over j != z of x'_j/x_j; with two,
    // each zero gets the other's tangent times the product of the rest; with more, H = 0.
    template <class X>
    void backward_with_tangents(const auto& dy, const auto& dy_tangent, const auto& y, const auto&, const X& x) const {
        detail::ScratchScope scratch;
        const auto nabla = gradient(scratch, y, x);
        auto curvature = scratch.array<T, X::Rows, X::Cols>(x.rows(), x.cols());
        const auto values = x.array().reshaped();
        const auto dx = x.tangent().reshaped();
        auto h = curvature.reshaped();
        h.setZero();
        if (zeros == 0) {
            const auto ratio = dx / values;
            h = nabla.reshaped() * (ratio.sum() - ratio);
            // sum - ratio_i keeps the others' digits only where ratio_i does not swamp them:
            // at an element tiny but not 0, x'/x is huge and the difference came out 0. The
            // largest ratio's element is summed again without it (no other one can lose
            // more than that ratio's rounding).
            if (values.size() > 1) {
                Index z = 0;
                ratio.abs().maxCoeff(&z);
                T others = T(0);
                for (Index j = 0; j < values.size(); ++j)
                    if (j != z) others += ratio(j);
                h(z) = nabla.data()[z] * others;
            }
        } else if (zeros == 1) {
            const T rest = nabla.data()[zero_at];
            for (Index i = 0; i < values.size(); ++i)
                if (i != zero_at) {
                    h(i) = dx(zero_at) * of_nonzeros.without(values(i));
                    h(zero_at) += rest * dx(i) / values(i);
                }
        } else if (zeros == 2) {
            const T rest = of_nonzeros.value();
            h(first_zero_at) = rest * dx(zero_at);
            h(zero_at) = rest * dx(first_zero_at);
        }
        x.backprop_with_tangents(dy(0, 0) * nabla, dy_tangent(0, 0) * nabla + dy(0, 0) * curvature);
    }

private:
    // The gradient of the product, as backward sends it for an adjoint of 1, in scratch.
    template <class X>
    auto gradient(detail::ScratchScope& scratch, const auto& y, const X& x) const {
        auto nabla = scratch.array<T, X::Rows, X::Cols>(x.rows(), x.cols());
        nabla.setZero();
        const detail::LeafView<X> into_nabla(x, x.value_data(), detail::GradientSink<T>::into_buffer(nabla.data()));
        backward(Eigen::Array<T, 1, 1>::Ones(), y, into_nabla);
        return nabla;
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
