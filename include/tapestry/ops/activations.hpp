#pragma once
// Activations: sigmoid, tanh, relu, leaky_relu, elu, silu, softplus, gelu and
// gelu_tanh. Each is stable for any finite input.

#include <cmath>
#include <limits>
#include <numbers>
#include <type_traits>

#include "tapestry/kernels/choose.hpp"
#include "tapestry/kernels/vectorised_math.hpp"
#include "tapestry/ops/elementwise.hpp"

namespace tapestry {
namespace detail {

// gelu's slope Φ(x) + x φ(x) where its stored value y = x Φ(x) is at hand: Φ = y / x,
// one division where erfc takes a polynomial of 14 to 27 terms, a division and an
// exponential. y carries erfc's rounding and the division one more, so Φ is within an
// ulp or two of what erfc gives, as long as y is a normal number: not 0 (x = 0, or Φ
// underflowing) and not subnormal (x tiny, or Φ nearly underflowing), where it has lost
// digits (at x = 3 times the smallest subnormal, y / x is 0.67, not 0.5). A packet with
// such an element takes Φ from erfc, as the slope without y does. (Where x is not
// finite, either way gives NaN: x φ(x) is inf times 0.)
template <class T>
struct GeluSlopeGivenValueFunctor {
    static constexpr T sqrt_half = T(std::numbers::sqrt2 / 2);
    T operator()(T x, T y) const {
        const T cdf = std::abs(y) >= std::numeric_limits<T>::min() ? y / x : T(0.5) * std::erfc(-x * sqrt_half);
        return cdf + x * NormalDensityFunctor<T>{}(x);
    }
    template <class Packet>
    Packet packetOp(const Packet& x, const Packet& y) const {
        using namespace Eigen::internal;
        // false for 0, subnormal and NaN: such a lane takes erfc's path
        const Packet normal = pcmp_le(pset1<Packet>(std::numeric_limits<T>::min()), pabs(y));
        const Packet density_term = pmul(x, NormalDensityFunctor<T>{}.packetOp(x));
        if (!predux_any(pandnot(ptrue(normal), normal))) return padd(pdiv(y, x), density_term);
        const Packet cdf = pmul(pset1<Packet>(T(0.5)), ErfcFunctor<T>{}.packetOp(pmul(x, pset1<Packet>(-sqrt_half))));
        return padd(cdf, density_term);
    }
};

}  // namespace detail
}  // namespace tapestry

namespace Eigen::internal {
template <class T>
struct functor_traits<tapestry::detail::GeluSlopeGivenValueFunctor<T>> {
    enum {
        PacketAccess = functor_traits<tapestry::detail::ErfcFunctor<T>>::PacketAccess &&
                       functor_traits<tapestry::detail::NormalDensityFunctor<T>>::PacketAccess,
        Cost = int(functor_traits<tapestry::detail::NormalDensityFunctor<T>>::Cost) + 4 * int(NumTraits<T>::MulCost)
    };
};
}  // namespace Eigen::internal

namespace tapestry {
namespace ops {

struct Sigmoid {
    static constexpr const char* name = "sigmoid";
    // Eigen's logistic saturates to exactly 0 or 1 instead of overflowing.
    auto forward(const auto& x) const { return x.logistic(); }
    // sigmoid' = y (1 - y): cheaper in the output than in the input.
    auto backward(const auto& g, const auto&, const auto& y) const {
        using T = typename std::decay_t<decltype(y)>::Scalar;
        return g * y * (T(1) - y);
    }
    auto curvature(const auto& g, const auto&, const auto& y, const auto& dx) const {
        using T = typename std::decay_t<decltype(y)>::Scalar;
        return g * y * (T(1) - y) * (T(1) - T(2) * y) * dx;
    }
};

struct Tanh {
    static constexpr const char* name = "tanh";
    auto forward(const auto& x) const { return detail::vectorised_tanh(x); }
    auto backward(const auto& g, const auto&, const auto& y) const {
        using T = typename std::decay_t<decltype(y)>::Scalar;
        return g * (T(1) - y.square());
    }
    auto curvature(const auto& g, const auto&, const auto& y, const auto& dx) const {
        using T = typename std::decay_t<decltype(y)>::Scalar;
        return g * T(-2) * y * (T(1) - y.square()) * dx;
    }
};

struct Relu {
    static constexpr const char* name = "relu";
    auto forward(const auto& x) const {
        using T = typename std::decay_t<decltype(x)>::Scalar;
        return x.max(T(0));
    }
    // The derivative at 0 is taken as 0, as PyTorch does.
    auto backward(const auto& g, const auto& x, const auto&) const {
        using T = typename std::decay_t<decltype(x)>::Scalar;
        return detail::choose_if(x, detail::Positive{}, g, T(0));
    }
    auto curvature(const auto&, const auto&, const auto&, const auto&) const { return detail::NoCurvature{}; }
};

template <class T>
struct LeakyRelu {  // x for x > 0, slope x otherwise
    static constexpr const char* name = "leaky_relu";
    T slope;
    auto forward(const auto& x) const { return detail::choose_if(x, detail::Positive{}, x, slope * x); }
    // At 0 the slope, as PyTorch takes it.
    auto backward(const auto& g, const auto& x, const auto&) const {
        return detail::choose_if(x, detail::Positive{}, g, slope * g);
    }
    auto curvature(const auto&, const auto&, const auto&, const auto&) const { return detail::NoCurvature{}; }
};

template <class T>
struct Elu {  // x for x > 0, alpha (e^x - 1) otherwise
    static constexpr const char* name = "elu";
    T alpha;
    auto forward(const auto& x) const {
        return detail::choose_if(x, detail::Positive{}, x, alpha * detail::vectorised_expm1(x));
    }
    // alpha e^x = y + alpha for x <= 0: cheaper in the output.
    auto backward(const auto& g, const auto& x, const auto& y) const {
        return detail::choose_if(x, detail::Positive{}, g, g * (y + alpha));
    }
    auto curvature(const auto& g, const auto& x, const auto& y, const auto& dx) const {
        return detail::choose_if(x, detail::Positive{}, T(0), g * (y + alpha) * dx);
    }
};

// x sigmoid(x), also called swish.
struct Silu {
    static constexpr const char* name = "silu";
    auto forward(const auto& x) const { return x * x.logistic(); }
    // σ(x) (1 + x (1 - σ(x))): σ saturates to 0 or 1 exactly, so no 0 × inf appears.
    auto backward(const auto& g, const auto& x, const auto&) const {
        using T = typename std::decay_t<decltype(x)>::Scalar;
        return g * x.logistic() * (T(1) + x * (T(1) - x.logistic()));
    }
    // silu'' = σ(1 - σ)(2 + x(1 - 2σ))
    auto curvature(const auto& g, const auto& x, const auto&, const auto& dx) const {
        using T = typename std::decay_t<decltype(x)>::Scalar;
        const auto s = x.logistic();
        return g * s * (T(1) - s) * (T(2) + x * (T(1) - T(2) * s)) * dx;
    }
};

struct Softplus {
    static constexpr const char* name = "softplus";
    // log(1 + e^x) = max(x, 0) + log1p(e^-|x|): no overflow for large x, no lost digits for small.
    auto forward(const auto& x) const {
        using T = typename std::decay_t<decltype(x)>::Scalar;
        return x.max(T(0)) + detail::log1p_exp_minus_abs(x);
    }
    auto backward(const auto& g, const auto& x, const auto&) const { return g * x.logistic(); }
    auto curvature(const auto& g, const auto& x, const auto&, const auto& dx) const {
        using T = typename std::decay_t<decltype(x)>::Scalar;
        return g * x.logistic() * (T(1) - x.logistic()) * dx;
    }
};

// x Φ(x), Φ the standard normal distribution function: PyTorch's gelu (approximate='none').
struct Gelu {
    static constexpr const char* name = "gelu";
    // Φ(x) = erfc(-x / √2) / 2: erfc keeps its digits where Φ is tiny (x < -5), 1 + erf(x / √2) does not.
    // Vectorised in float and double: the C library's erfc would make the whole fused loop scalar.
    template <class X>
    static auto normal_cdf(const X& x) {
        using T = typename X::Scalar;
        return T(0.5) * detail::vectorised_erfc(x * T(-std::numbers::sqrt2 / 2));
    }
    auto forward(const auto& x) const { return x * normal_cdf(x); }
    // Φ(x) + x φ(x), φ the normal density; where x² overflows, φ is 0, not NaN.
    auto backward(const auto& g, const auto& x, const auto&) const {
        return g * (normal_cdf(x) + x * detail::normal_density(x));
    }
    // The same where y = gelu(x) was stored (a node's root): Φ from y / x, without erfc (a
    // gelu layer's backward took about twice its forward's time).
    auto backward_given_value(const auto& g, const auto& x, const auto& y) const {
        using T = typename std::decay_t<decltype(x)>::Scalar;
        return g * x.binaryExpr(y, detail::GeluSlopeGivenValueFunctor<T>{});
    }
    // gelu'' = φ(x) (2 - x²), x clamped to ±40 where φ is already 0: x² cannot overflow.
    auto curvature(const auto& g, const auto& x, const auto&, const auto& dx) const {
        using T = typename std::decay_t<decltype(x)>::Scalar;
        const auto clamped = x.cwiseMax(T(-40)).cwiseMin(T(40));
        return g * detail::normal_density(clamped) * (T(2) - clamped.square()) * dx;
    }
};

// x (1 + tanh(u)) / 2 with u = √(2/π) (x + 0.044715 x³): PyTorch's gelu(approximate='tanh').
struct GeluTanh {
    static constexpr const char* name = "gelu_tanh";
    // tanh(u) is exactly ±1 beyond |x| = 20, so x is clamped there inside u: x³ and x²
    // cannot overflow, and the derivative's (1 - tanh²) x² is 0, not 0 × inf.
    template <class X>
    static auto tanh_u(const X& x) {
        using T = typename X::Scalar;
        const auto clamped = x.cwiseMax(T(-20)).cwiseMin(T(20));
        return detail::vectorised_tanh(T(std::numbers::sqrt2 * std::numbers::inv_sqrtpi) *
                                       (clamped + T(0.044715) * clamped.cube()));
    }
    auto forward(const auto& x) const {
        using T = typename std::decay_t<decltype(x)>::Scalar;
        return T(0.5) * x * (T(1) + tanh_u(x));
    }
    auto backward(const auto& g, const auto& x, const auto&) const {
        using T = typename std::decay_t<decltype(x)>::Scalar;
        const auto t = tanh_u(x);
        const auto clamped = x.cwiseMax(T(-20)).cwiseMin(T(20));
        const auto du_dx =
            T(std::numbers::sqrt2 * std::numbers::inv_sqrtpi) * (T(1) + T(3 * 0.044715) * clamped.square());
        return g * (T(0.5) * (T(1) + t) + T(0.5) * x * (T(1) - t.square()) * du_dx);
    }
    // (1 - t²) (u' + x (u'' - 2 t u'²) / 2), with u, u' and u'' of the clamped x: beyond
    // |x| = 20, 1 - t² is exactly 0.
    auto curvature(const auto& g, const auto& x, const auto&, const auto& dx) const {
        using T = typename std::decay_t<decltype(x)>::Scalar;
        const T c = T(std::numbers::sqrt2 * std::numbers::inv_sqrtpi);
        const auto t = tanh_u(x);
        const auto clamped = x.cwiseMax(T(-20)).cwiseMin(T(20));
        const auto du_dx = c * (T(1) + T(3 * 0.044715) * clamped.square());
        const auto d2u_dx2 = c * T(6 * 0.044715) * clamped;
        return g * (T(1) - t.square()) * (du_dx + T(0.5) * x * (d2u_dx2 - T(2) * t * du_dx.square())) * dx;
    }
};

}  // namespace ops

template <Operand X>
auto sigmoid(X&& x) {
    return detail::unary(ops::Sigmoid{}, std::forward<X>(x));
}

template <Operand X>
auto tanh(X&& x) {
    return detail::unary(ops::Tanh{}, std::forward<X>(x));
}

template <Operand X>
auto relu(X&& x) {
    return detail::unary(ops::Relu{}, std::forward<X>(x));
}

// x where x > 0, slope x elsewhere (PyTorch's default slope 0.01).
template <Operand X, Arithmetic S = double>
auto leaky_relu(X&& x, S slope = 0.01) {
    using T = detail::scalar_of<X>;
    return detail::unary(ops::LeakyRelu<T>{static_cast<T>(slope)}, std::forward<X>(x));
}

// x where x > 0, alpha (e^x - 1) elsewhere.
template <Operand X, Arithmetic S = double>
auto elu(X&& x, S alpha = 1.0) {
    using T = detail::scalar_of<X>;
    return detail::unary(ops::Elu<T>{static_cast<T>(alpha)}, std::forward<X>(x));
}

template <Operand X>
auto silu(X&& x) {
    return detail::unary(ops::Silu{}, std::forward<X>(x));
}

template <Operand X>
auto softplus(X&& x) {
    return detail::unary(ops::Softplus{}, std::forward<X>(x));
}

template <Operand X>
auto gelu(X&& x) {
    return detail::unary(ops::Gelu{}, std::forward<X>(x));
}

template <Operand X>
auto gelu_tanh(X&& x) {
    return detail::unary(ops::GeluTanh{}, std::forward<X>(x));
}

}  // namespace tapestry
