#pragma once
// Activations: sigmoid, tanh, relu, softplus. Each is stable for any finite input.

#include "tapestry/ops/elementwise.hpp"

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
};

struct Tanh {
    static constexpr const char* name = "tanh";
    auto forward(const auto& x) const { return x.tanh(); }
    auto backward(const auto& g, const auto&, const auto& y) const {
        using T = typename std::decay_t<decltype(y)>::Scalar;
        return g * (T(1) - y.square());
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
        return (x > T(0)).select(g, T(0));
    }
};

struct Softplus {
    static constexpr const char* name = "softplus";
    // log(1 + e^x) = max(x, 0) + log1p(e^-|x|): no overflow for large x, no lost digits for small.
    auto forward(const auto& x) const {
        using T = typename std::decay_t<decltype(x)>::Scalar;
        return x.max(T(0)) + (-x.abs()).exp().log1p();
    }
    auto backward(const auto& g, const auto& x, const auto&) const { return g * x.logistic(); }
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

template <Operand X>
auto softplus(X&& x) {
    return detail::unary(ops::Softplus{}, std::forward<X>(x));
}

}  // namespace tapestry
