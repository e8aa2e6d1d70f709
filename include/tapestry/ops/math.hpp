#pragma once
// Elementwise math: exp, log, log1p, expm1, sqrt, square, abs, pow(x, p).

#include <type_traits>

#include "tapestry/kernels/vectorised_math.hpp"
#include "tapestry/ops/elementwise.hpp"

namespace tapestry {
namespace ops {

struct Exp {
    static constexpr const char* name = "exp";
    auto forward(const auto& x) const { return detail::exp_underflow_to_zero(x); }  // 0, not 6e-309
    auto backward(const auto& g, const auto&, const auto& y) const { return g * y; }
    auto curvature(const auto& g, const auto&, const auto& y, const auto& dx) const { return g * y * dx; }
};

struct Log {
    static constexpr const char* name = "log";
    auto forward(const auto& x) const { return x.log(); }
    auto backward(const auto& g, const auto& x, const auto&) const { return g / x; }
    auto curvature(const auto& g, const auto& x, const auto&, const auto& dx) const { return -g * dx / x.square(); }
};

// log(1 + x), exact for small x where log(1 + x) would lose its digits.
struct Log1p {
    static constexpr const char* name = "log1p";
    auto forward(const auto& x) const { return detail::vectorised_log1p(x); }
    auto backward(const auto& g, const auto& x, const auto&) const {
        using T = typename std::decay_t<decltype(x)>::Scalar;
        return g / (T(1) + x);
    }
    auto curvature(const auto& g, const auto& x, const auto&, const auto& dx) const {
        using T = typename std::decay_t<decltype(x)>::Scalar;
        return -g * dx / (T(1) + x).square();
    }
};

// e^x - 1, exact for small x. Its slope e^x is taken again, not from y as y + 1: for
// x below -37 (-17 in float) y rounds to -1 and y + 1 to 0, where e^x still has all its
// digits (found by a user's trial: the gradient at x = -40 was 0, not 4.2e-18).
struct Expm1 {
    static constexpr const char* name = "expm1";
    auto forward(const auto& x) const { return detail::vectorised_expm1(x); }
    auto backward(const auto& g, const auto& x, const auto&) const { return g * detail::exp_underflow_to_zero(x); }
    auto curvature(const auto& g, const auto& x, const auto&, const auto& dx) const {
        return g * detail::exp_underflow_to_zero(x) * dx;
    }
};

struct Sqrt {
    static constexpr const char* name = "sqrt";
    auto forward(const auto& x) const { return x.sqrt(); }
    auto backward(const auto& g, const auto&, const auto& y) const {
        using T = typename std::decay_t<decltype(y)>::Scalar;
        return g * T(0.5) / y;
    }
    // sqrt'' = -1 / (4 y³)
    auto curvature(const auto& g, const auto&, const auto& y, const auto& dx) const {
        using T = typename std::decay_t<decltype(y)>::Scalar;
        return -g * T(0.25) * dx / y.cube();
    }
};

struct Square {
    static constexpr const char* name = "square";
    auto forward(const auto& x) const { return x.square(); }
    auto backward(const auto& g, const auto& x, const auto&) const {
        using T = typename std::decay_t<decltype(x)>::Scalar;
        return g * T(2) * x;
    }
    auto curvature(const auto& g, const auto& x, const auto&, const auto& dx) const {
        using T = typename std::decay_t<decltype(x)>::Scalar;
        return g * T(2) * dx;
    }
};

struct Abs {
    static constexpr const char* name = "abs";
    auto forward(const auto& x) const { return x.abs(); }
    // The derivative at 0 is taken as 0 (sign(0) = 0).
    auto backward(const auto& g, const auto& x, const auto&) const { return g * x.sign(); }
    auto curvature(const auto&, const auto&, const auto&, const auto&) const { return detail::NoCurvature{}; }
};

template <class T>
struct Pow {
    static constexpr const char* name = "pow";
    T p;
    auto forward(const auto& x) const { return x.pow(p); }
    // Exactly zero for p = 0, also at x = 0 where x^(p-1) is infinite (0 inf was NaN).
    auto backward(const auto& g, const auto& x, const auto&) const {
        return (g * p * x.pow(p - T(1))).unaryExpr(detail::KeepIf<T>{p != T(0)});
    }
    // Exactly zero for p = 1 (and 0), also at x = 0 where x^(p-2) is infinite.
    auto curvature(const auto& g, const auto& x, const auto&, const auto& dx) const {
        return (g * (p * (p - T(1))) * x.pow(p - T(2)) * dx).unaryExpr(detail::KeepIf<T>{p * (p - T(1)) != T(0)});
    }
};

}  // namespace ops

template <Operand X>
auto exp(X&& x) {
    return detail::unary(ops::Exp{}, std::forward<X>(x));
}

template <Operand X>
auto log(X&& x) {
    return detail::unary(ops::Log{}, std::forward<X>(x));
}

template <Operand X>
auto log1p(X&& x) {
    return detail::unary(ops::Log1p{}, std::forward<X>(x));
}

template <Operand X>
auto expm1(X&& x) {
    return detail::unary(ops::Expm1{}, std::forward<X>(x));
}

template <Operand X>
auto sqrt(X&& x) {
    return detail::unary(ops::Sqrt{}, std::forward<X>(x));
}

template <Operand X>
auto square(X&& x) {
    return detail::unary(ops::Square{}, std::forward<X>(x));
}

template <Operand X>
auto abs(X&& x) {
    return detail::unary(ops::Abs{}, std::forward<X>(x));
}

template <Operand X, Arithmetic P>
auto pow(X&& x, P p) {
    using T = detail::scalar_of<X>;
    return detail::unary(ops::Pow<T>{static_cast<T>(p)}, std::forward<X>(x));
}

}  // namespace tapestry
