#pragma once
// log1p, expm1 and tanh that stay vectorised in double precision, erfc in both, and
// log(1 + e^-|x|) (softplus's) faster than through log1p. Eigen
// 3.4 has packet log1p, expm1 and tanh for float only and erfc for neither (gelu's normal
// distribution function), and one scalar functor makes Eigen evaluate a whole
// fused expression one element at a time, exp and all: in Model A's double step, 27% of
// the time went to libm's log1p and 3% to its exp, called element by element from the
// loss (issue 23). These functors run on Eigen's packet exp and log in both precisions.

#include <bit>
#include <cmath>
#include <cstdint>
#include <iterator>
#include <limits>
#include <numbers>
#include <type_traits>

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

// log(1 + e^-|x|): what softplus and the sigmoid cross-entropy add to max(x, 0). With
// u = e^-|x| in [0, 1], log(1 + u) = 2 atanh(s) with s = u / (2 + u) in [0, 1/3], and
// atanh(s) = s (1 + s^2/3 + s^4/5 + ...) converges fast there (s^2 <= 1/9): one division
// and a polynomial, where log1p(u) takes a logarithm (a division of its own) and
// Goldberg's correction (another). Taylor's terms up to s^30 in double and s^12 in
// float (the first left out is below a quarter of an ulp). Within 4 ulps of
// log(1 + e^-|x|) at every magnitude, subnormal results included, except in float with
// AVX-512, where Eigen's exp itself is 5 ulps off for |x| in [86.6, 87] and so is this
// (test_numerics samples it; a standalone scan of every float from 1e-4 to 104 found the
// 5). Over 200,704 values drawn from N(0, 9) it takes 0.6x log1p's time in double and
// 0.4x in float with -march=native (AVX-512), 0.7x and 0.6x with SSE2
// (docs/performance.md).
//
// Eigen 3.4's exp stops short of the subnormals (in double it returns 5.6e-309 for
// anything below e^-709.78, where the true value is smaller or 0), so beyond the normal
// range u is taken as (e^-|x|/2)^2, which rounds once, into the subnormals or to 0.
template <class T>
struct Log1pExpMinusAbsFunctor {
    static constexpr int terms = std::is_same_v<T, float> ? 6 : 15;
    T operator()(T x) const { return std::log1p(std::exp(-std::abs(x))); }
    template <class Packet>
    Packet packetOp(const Packet& x) const {
        return of_exp(exp_of_minus_abs(x));
    }

    // e^-|x|, for callers that need it for something else too (a sigmoid).
    template <class Packet>
    static Packet exp_of_minus_abs(const Packet& x) {
        using namespace Eigen::internal;
        const Packet minus_abs = pnegate(pabs(x));
        // log of the smallest normal number
        const T halve_below = std::is_same_v<T, float> ? T(-87.3365447505530) : T(-708.396418532264106);
        const Packet halve = pcmp_lt(minus_abs, pset1<Packet>(halve_below));
        const Packet e = pexp(pselect(halve, pmul(minus_abs, pset1<Packet>(T(0.5))), minus_abs));
        return pselect(halve, pmul(e, e), e);
    }

    // log(1 + u) for u = exp_of_minus_abs(x).
    template <class Packet>
    static Packet of_exp(const Packet& u) {
        using namespace Eigen::internal;
        const Packet s = pdiv(u, padd(u, pset1<Packet>(T(2))));
        const Packet s2 = pmul(s, s);
        Packet series = pset1<Packet>(T(1) / T(2 * terms + 1));
        for (int k = terms - 1; k >= 0; --k) series = pmadd(series, s2, pset1<Packet>(T(1) / T(2 * k + 1)));
        return pmul(padd(s, s), series);
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

// erfc(z) for z >= 0 is t e^(-z^2) g(y) with t = 2 / (2 + z) and y = 2t - 1 in (-1, 1]: g is
// smooth over the whole half-line (1 at z = 0, 1 / (2 sqrt(pi)) as z grows), so one
// polynomial in y, with no branches, serves every z (the form of Numerical Recipes' erfccheb;
// the coefficients, and how they were fitted, are scripts/erfc_coefficients.py's). e^(-z^2)
// is where the digits go: z^2 rounds with an error of z^2 ulps, which exp turns into a
// relative error of as much (700 ulps at z = 26). So z is split as high + (z - high) with
// high's lower bits cleared, high^2 exact; e^(-z^2) = e^(-high^2) e^d with
// d = (high - z)(high + z) small, e^d by its Taylor series. Where erfc is subnormal
// (z > 26.5 in double), e^(-high^2) is below the end of Eigen's exp range: exp's argument
// is raised by about 64 ln 2 and the result lowered by 2^-64, exactly; the rounding of
// that argument, and of the 64 ln 2, join d. erfc(-z) = 2 - erfc(z). Within 8 ulps of
// the C library's erfc over every range, most within 1 (test_numerics).
template <class T>
struct ErfcSeries;

template <>
struct ErfcSeries<double> {
    static constexpr double coefficients[] = {
        0.510791352621011489098,       0.343580342206905136697,      0.139736046278026891305,
        0.0182211157534590399070,      -0.0107553309447163638786,    -0.00323959253458206746441,
        0.00154530602905764368954,     0.000418648043279111130013,   -0.000331536747619460442515,
        -0.0000171858318748897514962,  0.0000722353506143854334822,  -0.0000170737811338189143953,
        -0.0000108480572688910957684,  0.00000805787586714734040266, -5.62816693519292463271e-7,
        -0.00000181503550805416656429, 0.00000100091858626541011381, -1.37545082331859451306e-8,
        -2.85548182383411716644e-7,    1.78672294791685345426e-7,    -1.69827240129356661877e-9,
        -6.96584294340913830881e-8,    2.90419854442090856649e-8,    1.32163255176326486361e-8,
        -9.74475662593225779702e-9,    -1.05903331435717986313e-9,   1.20516659958836367010e-9};
    static constexpr std::uint64_t high_bits = ~((std::uint64_t(1) << 27) - 1);  // 26 bits: high^2 exact
    static constexpr int taylor_terms = 4;                                       // |d| < 3e-5: d^4 / 24 < 1e-19
    static constexpr double beyond = 28;                                         // erfc(28) is 0 in double
    static constexpr int scale_exponent = 64;  // e^-784 2^64 is still beyond double: 0, as erfc is
};

template <>
struct ErfcSeries<float> {
    static constexpr float coefficients[] = {
        0.510791352761f,    0.343580341221f,    0.139736032662f,    0.0182211532128f,    -0.0107551161528f,
        -0.00324000663200f, 0.00154404768309f,  0.000420683247777f, -0.000328100147985f, -2.23900342950e-5f,
        6.76878068973e-5f,  -9.77659949783e-6f, -8.50886990032e-6f, 2.59975507082e-6f};
    static constexpr std::uint32_t high_bits = ~((std::uint32_t(1) << 12) - 1);  // 12 bits: high^2 exact
    static constexpr int taylor_terms = 6;                                       // |d| < 0.06: d^6 / 720 < 1e-10
    static constexpr float beyond = 10.5f;                                       // erfc(10.5) is 0 in float
    static constexpr int scale_exponent = 32;
};

template <class T>
struct ErfcFunctor {
    T operator()(T x) const { return std::erfc(x); }
    template <class Packet>
    Packet packetOp(const Packet& x) const {
        using namespace Eigen::internal;
        using Series = ErfcSeries<T>;
        // scale_exponent ln 2, rounded to a multiple of 2^-12 so that shift - high^2 is
        // exact wherever high^2 is large; its own rounding goes into d.
        constexpr T shift = T(std::int64_t(Series::scale_exponent * std::numbers::ln2 * 4096 + 0.5)) / T(4096);
        constexpr T shift_error = T(Series::scale_exponent * std::numbers::ln2_v<long double> - shift);

        const Packet one = pset1<Packet>(T(1)), two = pset1<Packet>(T(2));
        const Packet z = pmin(pabs(x), pset1<Packet>(Series::beyond));  // also inf: e^-inf d would be 0 NaN
        const Packet t = pdiv(two, padd(two, z));
        const Packet y = psub(padd(t, t), one);
        constexpr int terms = int(std::size(Series::coefficients));
        Packet g = pset1<Packet>(Series::coefficients[terms - 1]);
        for (int k = terms - 2; k >= 0; --k) g = pmadd(g, y, pset1<Packet>(Series::coefficients[k]));

        const Packet high = pand(z, pset1<Packet>(std::bit_cast<T>(Series::high_bits)));
        const Packet minus_high_squared = pnegate(pmul(high, high));  // exact
        const Packet argument = padd(pset1<Packet>(shift), minus_high_squared);
        const Packet back = psub(argument, minus_high_squared);  // Knuth's two-sum: argument's rounding
        const Packet rounding = padd(psub(minus_high_squared, psub(argument, back)), psub(pset1<Packet>(shift), back));
        const Packet d = padd(padd(pmul(psub(high, z), padd(high, z)), pset1<Packet>(shift_error)), rounding);
        Packet e_d = pset1<Packet>(T(1));
        for (int k = Series::taylor_terms - 1; k >= 1; --k) e_d = pmadd(pmul(e_d, d), pset1<Packet>(T(1) / T(k)), one);

        const Packet scaled = pmul(pmul(pmul(t, g), e_d), pexp(argument));
        const Packet erfc_z = pmul(scaled, pset1<Packet>(std::ldexp(T(1), -Series::scale_exponent)));
        const Packet erfc_x = pselect(pcmp_lt(x, pzero(x)), psub(two, erfc_z), erfc_z);
        return pselect(pcmp_eq(x, x), erfc_x, x);  // NaN stays NaN
    }
};

// The standard normal density e^(-x^2 / 2) / sqrt(2 pi), vectorised, and exactly 0 where
// it underflows (|x| beyond 40 in double, 15 in float): Eigen 3.4's packet exp stops at
// the end of its range instead of reaching 0 (its e^-inf is 5.6e-309 in double), and
// x φ(x) at x = 1e300 would then be 0.1 instead of 0. It is computed as (e^(-x^2 / 4))^2,
// so that where the density is subnormal each factor is still within exp's range.
template <class T>
struct NormalDensityFunctor {
    static constexpr T beyond = sizeof(T) == 8 ? T(40) : T(15);
    static constexpr T inverse_sqrt_2pi = T(std::numbers::inv_sqrtpi / std::numbers::sqrt2);
    T operator()(T x) const { return !(std::abs(x) >= beyond) ? std::exp(T(-0.5) * x * x) * inverse_sqrt_2pi : T(0); }
    template <class Packet>
    Packet packetOp(const Packet& x) const {
        using namespace Eigen::internal;
        const Packet quarter_exp = pexp(pmul(pset1<Packet>(T(-0.25)), pmul(x, x)));
        const Packet density = pmul(pmul(quarter_exp, pset1<Packet>(inverse_sqrt_2pi)), quarter_exp);
        return pandnot(density, pcmp_le(pset1<Packet>(beyond), pabs(x)));  // NaN stays NaN
    }
};

// e^x, exactly 0 where it underflows below the smallest normal number (x below -708.4
// in double, -87.3 in float; -inf included). Eigen's packet exp clamps its argument and
// gives about 6e-309 (3e-39 in float) there, while the C library's exp, which Eigen takes
// for an array's last partial packet, gives 0 or a subnormal number: the same x had
// different exponentials by its place in the array (found by a user's trial). A masked
// class (a logit of -inf) gets a probability of exactly 0 and passes its gradient on
// exactly (where its line's sum of gradients is finite). One comparison per packet,
// where a separate pass looking for -inf took 4% of log_softmax's time along rows.
template <class T>
struct ExpUnderflowToZeroFunctor {
    // The log of the smallest normal number, rounded up: e^x below it is 0 in both paths.
    static T lowest() {
        if constexpr (std::is_same_v<T, float>)
            return -87.33654f;
        else if constexpr (std::is_same_v<T, double>)
            return -708.3964185322641;
        else
            return std::log(std::numeric_limits<T>::min());  // long double: no packets
    }
    T operator()(T x) const { return x < lowest() ? T(0) : std::exp(x); }  // NaN: std::exp's NaN
    template <class Packet>
    Packet packetOp(const Packet& x) const {
        using namespace Eigen::internal;
        return pandnot(pexp(x), pcmp_lt(x, pset1<Packet>(lowest())));  // NaN: the comparison is false
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

// log(1 + e^-|x|) elementwise, over any Eigen array expression.
template <class X>
auto log1p_exp_minus_abs(const X& x) {
    return x.unaryExpr(Log1pExpMinusAbsFunctor<typename X::Scalar>{});
}

// e^x - 1 elementwise, over any Eigen array expression.
template <class X>
auto vectorised_expm1(const X& x) {
    return x.unaryExpr(Expm1Functor<typename X::Scalar>{});
}

// erfc elementwise, over any Eigen array expression.
template <class X>
auto vectorised_erfc(const X& x) {
    return x.unaryExpr(ErfcFunctor<typename X::Scalar>{});
}

// e^x elementwise, exactly 0 where it underflows (x = -inf included), over any Eigen
// array expression.
template <class X>
auto exp_underflow_to_zero(const X& x) {
    return x.unaryExpr(ExpUnderflowToZeroFunctor<typename X::Scalar>{});
}

// The standard normal density elementwise, over any Eigen array expression.
template <class X>
auto normal_density(const X& x) {
    return x.unaryExpr(NormalDensityFunctor<typename X::Scalar>{});
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
struct functor_traits<tapestry::detail::ExpUnderflowToZeroFunctor<T>> {
    enum {
        PacketAccess = packet_traits<T>::HasExp,
        Cost = int(functor_traits<scalar_exp_op<T>>::Cost) + 2 * int(NumTraits<T>::AddCost)
    };
};

template <class T>
struct functor_traits<tapestry::detail::Log1pFunctor<T>> {
    enum {
        PacketAccess = tapestry::detail::has_vectorised_log_and_exp<T>,
        Cost = int(functor_traits<scalar_log_op<T>>::Cost) + 4 * int(NumTraits<T>::AddCost)
    };
};

template <class T>
struct functor_traits<tapestry::detail::Log1pExpMinusAbsFunctor<T>> {
    enum {
        PacketAccess = tapestry::detail::has_vectorised_log_and_exp<T>,
        Cost = int(functor_traits<scalar_exp_op<T>>::Cost) + 20 * int(NumTraits<T>::MulCost)
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
struct functor_traits<tapestry::detail::ErfcFunctor<T>> {
    enum {
        PacketAccess =
            tapestry::detail::has_vectorised_log_and_exp<T> && (std::is_same_v<T, float> || std::is_same_v<T, double>),
        Cost = int(functor_traits<scalar_exp_op<T>>::Cost) + 40 * int(NumTraits<T>::MulCost)
    };
};

template <class T>
struct functor_traits<tapestry::detail::NormalDensityFunctor<T>> {
    enum {
        PacketAccess = packet_traits<T>::HasExp && (std::is_same_v<T, float> || std::is_same_v<T, double>),
        Cost = int(functor_traits<scalar_exp_op<T>>::Cost) + 6 * int(NumTraits<T>::MulCost)
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
