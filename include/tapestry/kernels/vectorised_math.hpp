#pragma once
// log1p, expm1 and tanh that stay vectorised in double precision. Eigen 3.4 has packet
// versions of them for float only, and one scalar functor makes Eigen evaluate a whole
// fused expression one element at a time, exp and all: in Model A's double step, 27% of
// the time went to libm's log1p and 3% to its exp, called element by element from the
// loss (issue 23). These functors run on Eigen's packet exp and log in both precisions.

#include <cmath>

#include "tapestry/core/eigen.hpp"

namespace tapestry::detail {

// log(1 + u) = log(w) u / (w - 1) with w = 1 + u: the rounding error of w cancels in
// the ratio (Goldberg's correction, as Eigen's float log1p does); u itself where w
// rounds to 1, and w where it overflows (where log(w) = w = inf).
template <class T>
struct Log1pFunctor {
    T operator()(T u) const { return std::log1p(u); }
    template <class Packet>
    Packet packetOp(const Packet& u) const {
        using namespace Eigen::internal;
        const Packet one = pset1<Packet>(T(1));
        const Packet w = padd(u, one);
        const Packet log_w = plog(w);
        const Packet keep_u = por(pcmp_eq(w, one), pcmp_eq(w, log_w));
        return pselect(keep_u, u, pmul(u, pdiv(log_w, psub(w, one))));
    }
};

// e^x - 1 = (v - 1) x / log(v) with v = e^x: the rounding error of v cancels in the
// ratio (Kahan's correction, as Eigen's float expm1 does); x itself where v rounds to 1,
// -1 where v - 1 does, and v where it overflows.
template <class T>
struct Expm1Functor {
    T operator()(T x) const { return std::expm1(x); }
    template <class Packet>
    Packet packetOp(const Packet& x) const {
        return from_exp(x, Eigen::internal::pexp(x));
    }
    // For callers that need e^x too: v must be pexp(x).
    template <class Packet>
    static Packet from_exp(const Packet& x, const Packet& v) {
        using namespace Eigen::internal;
        const Packet one = pset1<Packet>(T(1));
        const Packet minus_one = pset1<Packet>(T(-1));
        const Packet v_minus_one = psub(v, one);
        const Packet log_v = plog(v);
        Packet result = pmul(v_minus_one, pdiv(x, log_v));
        result = pselect(pcmp_eq(v, log_v), v, result);
        result = pselect(pcmp_eq(v_minus_one, minus_one), minus_one, result);
        return pselect(pcmp_eq(v, one), x, result);
    }
};

// With v = e^-2|x| and e = v - 1 = expm1(-2|x|): tanh(|x|) = -e / (e + 2) for |x| < 0.55,
// where expm1 keeps the digits of small x (tanh(x) ~ x), and (1 - v) / (1 + v) beyond,
// where e is near -1 and the first form would double its error; x's sign is copied onto
// the result. v only shrinks, so nothing overflows: v = 0 gives 1. Within 4 ulps of
// libm's tanh (test_numerics).
template <class T>
struct TanhFunctor {
    T operator()(T x) const { return std::tanh(x); }
    template <class Packet>
    Packet packetOp(const Packet& x) const {
        using namespace Eigen::internal;
        const Packet one = pset1<Packet>(T(1)), two = pset1<Packet>(T(2));
        const Packet minus_twice_abs = pnegate(pmul(two, pabs(x)));
        const Packet v = pexp(minus_twice_abs);
        const Packet e = Expm1Functor<T>::from_exp(minus_twice_abs, v);
        const Packet small = pdiv(pnegate(e), padd(e, two));
        const Packet large = pdiv(psub(one, v), padd(one, v));
        const Packet magnitude = pselect(pcmp_lt(minus_twice_abs, pset1<Packet>(T(-1.1))), large, small);
        return por(magnitude, pand(x, pset1<Packet>(T(-0.0))));  // magnitude >= 0: this copies x's sign
    }
};

// Where Eigen has packet log and exp, it has the comparisons and selects they use too
// (HasCmp is not set on every architecture that has them, e.g. NEON).
template <class T>
inline constexpr bool has_vectorised_log_and_exp =
    Eigen::internal::packet_traits<T>::HasLog && Eigen::internal::packet_traits<T>::HasExp &&
    Eigen::internal::packet_traits<T>::HasDiv;

// log(1 + x) elementwise, over any Eigen array expression.
template <class X>
auto vectorised_log1p(const X& x) {
    return x.unaryExpr(Log1pFunctor<typename X::Scalar>{});
}

// e^x - 1 elementwise, over any Eigen array expression.
template <class X>
auto vectorised_expm1(const X& x) {
    return x.unaryExpr(Expm1Functor<typename X::Scalar>{});
}

// tanh elementwise, over any Eigen array expression: Eigen's own where it has a packet
// version (float), else the one above.
template <class X>
auto vectorised_tanh(const X& x) {
    using T = typename X::Scalar;
    if constexpr (Eigen::internal::packet_traits<T>::HasTanh)
        return x.tanh();
    else
        return x.unaryExpr(TanhFunctor<T>{});
}

}  // namespace tapestry::detail

namespace Eigen::internal {

template <class T>
struct functor_traits<tapestry::detail::Log1pFunctor<T>> {
    enum {
        PacketAccess = tapestry::detail::has_vectorised_log_and_exp<T>,
        Cost = int(functor_traits<scalar_log_op<T>>::Cost) + 4 * int(NumTraits<T>::AddCost)
    };
};

template <class T>
struct functor_traits<tapestry::detail::Expm1Functor<T>> {
    enum {
        PacketAccess = tapestry::detail::has_vectorised_log_and_exp<T>,
        Cost = int(functor_traits<scalar_exp_op<T>>::Cost) + int(functor_traits<scalar_log_op<T>>::Cost)
    };
};

template <class T>
struct functor_traits<tapestry::detail::TanhFunctor<T>> {
    enum {
        PacketAccess = tapestry::detail::has_vectorised_log_and_exp<T>,
        Cost = int(functor_traits<tapestry::detail::Expm1Functor<T>>::Cost) + 4 * int(NumTraits<T>::MulCost)
    };
};

}  // namespace Eigen::internal
