#pragma once
// Elementwise arithmetic: + and - (with broadcasting), unary -, hadamard, divide,
// and * / + - with a scalar on either side. Each Op gives its forward expression
// and, right beside it, how the output adjoint g reaches each input.

#include "tapestry/ops/elementwise.hpp"

namespace tapestry {
namespace ops {

struct Add {
    static constexpr const char* name = "add";
    auto forward(const auto& a, const auto& b) const { return a + b; }
    auto backward_left(const auto& g, const auto&, const auto&) const { return g; }
    auto backward_right(const auto& g, const auto&, const auto&) const { return g; }
    auto curvature_left(const auto&, const auto&, const auto&, const auto&, const auto&) const {
        return detail::NoCurvature{};
    }
    auto curvature_right(const auto&, const auto&, const auto&, const auto&, const auto&) const {
        return detail::NoCurvature{};
    }
};

struct Subtract {
    static constexpr const char* name = "subtract";
    auto forward(const auto& a, const auto& b) const { return a - b; }
    auto backward_left(const auto& g, const auto&, const auto&) const { return g; }
    auto backward_right(const auto& g, const auto&, const auto&) const { return -g; }
    auto curvature_left(const auto&, const auto&, const auto&, const auto&, const auto&) const {
        return detail::NoCurvature{};
    }
    auto curvature_right(const auto&, const auto&, const auto&, const auto&, const auto&) const {
        return detail::NoCurvature{};
    }
};

struct Hadamard {
    static constexpr const char* name = "hadamard";
    auto forward(const auto& a, const auto& b) const { return a * b; }
    auto backward_left(const auto& g, const auto&, const auto& b) const { return g * b; }
    auto backward_right(const auto& g, const auto& a, const auto&) const { return g * a; }
    auto curvature_left(const auto& g, const auto&, const auto&, const auto&, const auto& db) const { return g * db; }
    auto curvature_right(const auto& g, const auto&, const auto&, const auto& da, const auto&) const { return g * da; }
};

struct Divide {
    static constexpr const char* name = "divide";
    auto forward(const auto& a, const auto& b) const { return a / b; }
    auto backward_left(const auto& g, const auto&, const auto& b) const { return g / b; }
    auto backward_right(const auto& g, const auto& a, const auto& b) const { return -g * a / b.square(); }
    auto curvature_left(const auto& g, const auto&, const auto& b, const auto&, const auto& db) const {
        return -g * db / b.square();
    }
    // d(-g a / b²) = -g da / b² + 2 g a db / b³
    auto curvature_right(const auto& g, const auto& a, const auto& b, const auto& da, const auto& db) const {
        using T = typename std::decay_t<decltype(a)>::Scalar;
        return g * (T(2) * a * db / b - da) / b.square();
    }
};

struct Negate {
    static constexpr const char* name = "negate";
    auto forward(const auto& x) const { return -x; }
    auto backward(const auto& g, const auto&, const auto&) const { return -g; }
    auto curvature(const auto&, const auto&, const auto&, const auto&) const { return detail::NoCurvature{}; }
};

template <class T>
struct Scale {  // s * x
    static constexpr const char* name = "scale";
    T s;
    auto forward(const auto& x) const { return x * s; }
    auto backward(const auto& g, const auto&, const auto&) const { return g * s; }
    auto curvature(const auto&, const auto&, const auto&, const auto&) const { return detail::NoCurvature{}; }
};

template <class T>
struct DivideBy {  // x / s, as a true division (not x * (1/s)) so it rounds as users expect
    static constexpr const char* name = "divide_by_scalar";
    T s;
    auto forward(const auto& x) const { return x / s; }
    auto backward(const auto& g, const auto&, const auto&) const { return g / s; }
    auto curvature(const auto&, const auto&, const auto&, const auto&) const { return detail::NoCurvature{}; }
};

template <class T>
struct ScalarOver {  // s / x
    static constexpr const char* name = "scalar_over";
    T s;
    auto forward(const auto& x) const { return s * x.inverse(); }
    // d(s/x) = -s/x^2 = -y/x
    auto backward(const auto& g, const auto& x, const auto& y) const { return -g * y / x; }
    // d²(s/x) = 2 s / x³ = 2 y / x²
    auto curvature(const auto& g, const auto& x, const auto& y, const auto& dx) const {
        return g * (y + y) * dx / x.square();
    }
};

template <class T>
struct Shift {  // x + s
    static constexpr const char* name = "shift";
    T s;
    auto forward(const auto& x) const { return x + s; }
    auto backward(const auto& g, const auto&, const auto&) const { return g; }
    auto curvature(const auto&, const auto&, const auto&, const auto&) const { return detail::NoCurvature{}; }
};

template <class T>
struct ScalarMinus {  // s - x
    static constexpr const char* name = "scalar_minus";
    T s;
    auto forward(const auto& x) const { return s - x; }
    auto backward(const auto& g, const auto&, const auto&) const { return -g; }
    auto curvature(const auto&, const auto&, const auto&, const auto&) const { return detail::NoCurvature{}; }
};

}  // namespace ops

// The operators only build expressions, and are always inlined: returned from a call,
// an expression (its leaves carry value handles) went through memory, and the caller's
// wide loads of it waited on the callee's narrower stores (store forwarding), a tenth of
// a small node's cost (docs/performance.md). Eigen inlines its operators for the same reason.
template <Operand A, Operand B>
[[gnu::always_inline]] inline auto operator+(A&& a, B&& b) {
    return detail::elementwise("+", ops::Add{}, as_expression(std::forward<A>(a)), as_expression(std::forward<B>(b)));
}

template <Operand A, Operand B>
[[gnu::always_inline]] inline auto operator-(A&& a, B&& b) {
    return detail::elementwise("-", ops::Subtract{}, as_expression(std::forward<A>(a)),
                               as_expression(std::forward<B>(b)));
}

// Elementwise product; `a * b` is the matrix product.
template <Operand A, Operand B>
[[gnu::always_inline]] inline auto hadamard(A&& a, B&& b) {
    return detail::elementwise("hadamard", ops::Hadamard{}, as_expression(std::forward<A>(a)),
                               as_expression(std::forward<B>(b)));
}

// Elementwise quotient.
template <Operand A, Operand B>
[[gnu::always_inline]] inline auto divide(A&& a, B&& b) {
    return detail::elementwise("divide", ops::Divide{}, as_expression(std::forward<A>(a)),
                               as_expression(std::forward<B>(b)));
}

template <Operand X>
[[gnu::always_inline]] inline auto operator-(X&& x) {
    return detail::unary(ops::Negate{}, std::forward<X>(x));
}

template <Operand X, Arithmetic S>
[[gnu::always_inline]] inline auto operator*(X&& x, S s) {
    using T = detail::scalar_of<X>;
    return detail::unary(ops::Scale<T>{static_cast<T>(s)}, std::forward<X>(x));
}

template <Arithmetic S, Operand X>
[[gnu::always_inline]] inline auto operator*(S s, X&& x) {
    return std::forward<X>(x) * s;
}

template <Operand X, Arithmetic S>
[[gnu::always_inline]] inline auto operator/(X&& x, S s) {
    using T = detail::scalar_of<X>;
    return detail::unary(ops::DivideBy<T>{static_cast<T>(s)}, std::forward<X>(x));
}

template <Arithmetic S, Operand X>
[[gnu::always_inline]] inline auto operator/(S s, X&& x) {
    using T = detail::scalar_of<X>;
    return detail::unary(ops::ScalarOver<T>{static_cast<T>(s)}, std::forward<X>(x));
}

template <Operand X, Arithmetic S>
[[gnu::always_inline]] inline auto operator+(X&& x, S s) {
    using T = detail::scalar_of<X>;
    return detail::unary(ops::Shift<T>{static_cast<T>(s)}, std::forward<X>(x));
}

template <Arithmetic S, Operand X>
[[gnu::always_inline]] inline auto operator+(S s, X&& x) {
    return std::forward<X>(x) + s;
}

template <Operand X, Arithmetic S>
[[gnu::always_inline]] inline auto operator-(X&& x, S s) {
    using T = detail::scalar_of<X>;
    return detail::unary(ops::Shift<T>{-static_cast<T>(s)}, std::forward<X>(x));
}

template <Arithmetic S, Operand X>
[[gnu::always_inline]] inline auto operator-(S s, X&& x) {
    using T = detail::scalar_of<X>;
    return detail::unary(ops::ScalarMinus<T>{static_cast<T>(s)}, std::forward<X>(x));
}

}  // namespace tapestry
