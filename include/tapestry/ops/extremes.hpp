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
namespace detail {

// The share of g that goes to `mine`, an operand of maximum (Larger) or minimum: all of it
// where mine wins, half where the two tie, none where it loses or either is NaN. On
// packets, and reading g everywhere: Eigen's select would load g under masks, which g++
// 12 can get wrong (kernels/choose.hpp).
template <bool Larger>
struct ExtremeShareOp {
    template <class T>
    T operator()(const T& mine, const T& other, const T& g) const {
        const bool wins = Larger ? other < mine : mine < other;
        return wins ? g : mine == other ? T(0.5) * g : T(0);
    }
    template <class Packet>
    Packet packetOp(const Packet& mine, const Packet& other, const Packet& g) const {
        namespace ei = Eigen::internal;
        using T = typename ei::unpacket_traits<Packet>::type;
        const Packet wins = Larger ? ei::pcmp_lt(other, mine) : ei::pcmp_lt(mine, other);
        const Packet tie_share = ei::pand(ei::pcmp_eq(mine, other), ei::pmul(ei::pset1<Packet>(T(0.5)), g));
        return ei::pselect(wins, g, tie_share);
    }
};

}  // namespace detail

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
    static auto share(const auto& g, const auto& mine, const auto& other) {
        using Mine = std::decay_t<decltype(mine)>;
        using Other = std::decay_t<decltype(other)>;
        using G = std::decay_t<decltype(g)>;
        return Eigen::CwiseTernaryOp<detail::ExtremeShareOp<Larger>, const Mine, const Other, const G>(mine, other, g);
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

template <bool Larger>
struct Eigen::internal::functor_traits<tapestry::detail::ExtremeShareOp<Larger>> {
    enum { Cost = 4, PacketAccess = true };
};
