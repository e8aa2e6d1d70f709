#pragma once
// Elementwise extremes: maximum(a, b), minimum(a, b) (with broadcasting, as + does) and
// clamp(x, lo, hi). A NaN in either operand of maximum or minimum gives NaN, as in
// PyTorch. Where a and b tie, each receives half of the gradient (PyTorch's rule, which
// keeps maximum(a, a) = a exact); clamp passes the gradient where lo <= x <= hi.

#include <type_traits>
#include <utility>

#include "tapestry/core/errors.hpp"
#include "tapestry/kernels/choose.hpp"
#include "tapestry/ops/elementwise.hpp"

namespace tapestry {
namespace ops {

template <bool Larger>  // maximum, or minimum
struct Extreme {
    static constexpr const char* name = Larger ? "maximum" : "minimum";

    auto forward(const auto& a, const auto& b) const {
        using T = typename std::decay_t<decltype(a)>::Scalar;
        if constexpr (Larger)
            return a.binaryExpr(b, Eigen::internal::scalar_max_op<T, T, Eigen::PropagateNaN>());
        else
            return a.binaryExpr(b, Eigen::internal::scalar_min_op<T, T, Eigen::PropagateNaN>());
    }
    auto backward_left(const auto& g, const auto& a, const auto& b) const { return share(g, a, b); }
    auto backward_right(const auto& g, const auto& a, const auto& b) const { return share(g, b, a); }
    auto curvature_left(const auto&, const auto&, const auto&, const auto&, const auto&) const {
        return detail::NoCurvature{};
    }
    auto curvature_right(const auto&, const auto&, const auto&, const auto&, const auto&) const {
        return detail::NoCurvature{};
    }

private:
    // The share of g that goes to `mine`: all where it wins, half where it ties, none where it loses.
    static auto share(const auto& g, const auto& mine, const auto& other) {
        using T = typename std::decay_t<decltype(mine)>::Scalar;
        const auto wins = [&] {
            if constexpr (Larger)
                return mine > other;
            else
                return mine < other;
        }();
        return detail::choose(wins, g, detail::choose(mine == other, T(0.5) * g, T(0)));
    }
};

template <class T>
struct Clamp {
    static constexpr const char* name = "clamp";
    T lo, hi;
    auto forward(const auto& x) const { return x.cwiseMax(lo).cwiseMin(hi); }
    auto backward(const auto& g, const auto& x, const auto&) const {
        return detail::choose_if(x, detail::Within<T>{lo, hi}, g, T(0));
    }
    auto curvature(const auto&, const auto&, const auto&, const auto&) const { return detail::NoCurvature{}; }
};

}  // namespace ops

template <Operand A, Operand B>
auto maximum(A&& a, B&& b) {
    return detail::elementwise("maximum", ops::Extreme<true>{}, as_expression(std::forward<A>(a)),
                               as_expression(std::forward<B>(b)));
}

template <Operand A, Operand B>
auto minimum(A&& a, B&& b) {
    return detail::elementwise("minimum", ops::Extreme<false>{}, as_expression(std::forward<A>(a)),
                               as_expression(std::forward<B>(b)));
}

// x limited to [lo, hi]; lo > hi throws value_error.
template <Operand X, Arithmetic L, Arithmetic H>
auto clamp(X&& x, L lo, H hi) {
    using T = detail::scalar_of<X>;
    if (!(static_cast<T>(lo) <= static_cast<T>(hi)))
        throw value_error("clamp: lo (" + std::to_string(static_cast<double>(lo)) + ") must not exceed hi (" +
                          std::to_string(static_cast<double>(hi)) + ")");
    return detail::unary(ops::Clamp<T>{static_cast<T>(lo), static_cast<T>(hi)}, std::forward<X>(x));
}

}  // namespace tapestry
