// Numerics at the edges, in float and double: activations and losses stay finite
// for |x| up to 1e4, their gradients reach their limits (0 or 1, not NaN), log and
// sqrt at 0 give their limits, and all-equal logits give the uniform softmax.

#include <algorithm>
#include <cmath>
#include <iterator>
#include <limits>
#include <random>
#include <type_traits>
#include <vector>

#include <catch2/catch.hpp>

#include "helpers.hpp"

using namespace tapestry;

namespace {

constexpr double extremes[] = {-1e4, -1e3, -100, -30, -1, 0, 1, 30, 100, 1e3, 1e4};
constexpr int count = sizeof(extremes) / sizeof(extremes[0]);

template <class T>
using Row = Eigen::Matrix<T, 1, count>;

template <class T>
Param<T, 1, count> at_extremes() {
    Row<T> x;
    for (int i = 0; i < count; ++i) x(i) = static_cast<T>(extremes[i]);
    return Param<T, 1, count>(x);
}

// The value of f at every extreme point, and d(sum f)/dx there.
template <class T, class F>
std::pair<Row<T>, Row<T>> value_and_gradient(F f) {
    auto x = at_extremes<T>();
    Tape tape;
    Var<T, 1, count> y = f(x);
    tape.backward(sum(y));
    return {y.value(), x.grad()};
}

// Within a few ulps of the expected value, both being finite; or both infinite alike.
template <class T>
bool near(T actual, double expected) {
    if (std::isinf(expected)) return actual == static_cast<T>(expected);
    const double tolerance = 8 * std::numeric_limits<T>::epsilon() * std::max(1.0, std::abs(expected));
    return std::isfinite(actual) && std::abs(static_cast<double>(actual) - expected) <= tolerance;
}

template <class T>
void check_row(const Row<T>& actual, double (*expected)(double), const char* what) {
    for (int i = 0; i < count; ++i) {
        INFO(what << " at x = " << extremes[i] << ": got " << actual(i) << ", expected " << expected(extremes[i]));
        CHECK(near(actual(i), expected(extremes[i])));
    }
}

double logistic(double x) { return x >= 0 ? 1 / (1 + std::exp(-x)) : std::exp(x) / (1 + std::exp(x)); }

}  // namespace

TEMPLATE_TEST_CASE("activations are finite at |x| up to 1e4 and their gradients reach their limits", "", float,
                   double) {
    using T = TestType;
    SECTION("sigmoid") {
        auto [y, dy] = value_and_gradient<T>([](const auto& x) { return sigmoid(x); });
        check_row<T>(y, logistic, "sigmoid");
        check_row<T>(
            dy, [](double x) { return logistic(x) * (1 - logistic(x)); }, "sigmoid'");
    }
    SECTION("tanh") {
        auto [y, dy] = value_and_gradient<T>([](const auto& x) { return tanh(x); });
        check_row<T>(
            y, [](double x) { return std::tanh(x); }, "tanh");
        check_row<T>(
            dy, [](double x) { return 1 - std::tanh(x) * std::tanh(x); }, "tanh'");
    }
    SECTION("softplus") {
        auto [y, dy] = value_and_gradient<T>([](const auto& x) { return softplus(x); });
        check_row<T>(
            y, [](double x) { return std::max(x, 0.0) + std::log1p(std::exp(-std::abs(x))); }, "softplus");
        check_row<T>(dy, logistic, "softplus'");
    }
    SECTION("gelu") {
        auto [y, dy] = value_and_gradient<T>([](const auto& x) { return gelu(x); });
        check_row<T>(
            y, [](double x) { return x * 0.5 * std::erfc(-x / std::sqrt(2.0)); }, "gelu");
        check_row<T>(
            dy,
            [](double x) {
                return 0.5 * std::erfc(-x / std::sqrt(2.0)) + x * std::exp(-x * x / 2) / 2.5066282746310002;
            },
            "gelu'");
    }
    SECTION("gelu_tanh") {
        const auto tanh_u = [](double x) { return std::tanh(0.7978845608028654 * (x + 0.044715 * x * x * x)); };
        auto [y, dy] = value_and_gradient<T>([](const auto& x) { return gelu_tanh(x); });
        for (int i = 0; i < count; ++i) {
            const double x = extremes[i], t = tanh_u(x);
            INFO("gelu_tanh at x = " << x);
            CHECK(near(y(i), 0.5 * x * (1 + t)));
            CHECK(near(dy(i), 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * 0.7978845608028654 * (1 + 3 * 0.044715 * x * x)));
        }
    }
    SECTION("leaky_relu") {
        auto [y, dy] = value_and_gradient<T>([](const auto& x) { return leaky_relu(x, 0.1); });
        check_row<T>(
            y, [](double x) { return x > 0 ? x : 0.1 * x; }, "leaky_relu");
        check_row<T>(
            dy, [](double x) { return x > 0 ? 1.0 : 0.1; }, "leaky_relu'");
    }
    SECTION("elu") {
        auto [y, dy] = value_and_gradient<T>([](const auto& x) { return elu(x); });
        check_row<T>(
            y, [](double x) { return x > 0 ? x : std::expm1(x); }, "elu");
        check_row<T>(
            dy, [](double x) { return x > 0 ? 1.0 : std::exp(x); }, "elu'");
    }
    SECTION("silu") {
        auto [y, dy] = value_and_gradient<T>([](const auto& x) { return silu(x); });
        check_row<T>(
            y, [](double x) { return x * logistic(x); }, "silu");
        check_row<T>(
            dy, [](double x) { return logistic(x) * (1 + x * (1 - logistic(x))); }, "silu'");
    }
    SECTION("relu") {
        auto [y, dy] = value_and_gradient<T>([](const auto& x) { return relu(x); });
        check_row<T>(
            y, [](double x) { return std::max(x, 0.0); }, "relu");
        check_row<T>(
            dy, [](double x) { return x > 0 ? 1.0 : 0.0; }, "relu'");  // 0 at 0, as PyTorch
    }
    SECTION("exp(-square(x)) underflows to (about) 0 with a gradient of (about) 0, not NaN") {
        auto [y, dy] = value_and_gradient<T>([](const auto& x) { return exp(-square(x)); });
        CHECK(y.allFinite());
        CHECK(dy.allFinite());
        // Eigen's vectorised exp clamps its argument, so e^-1e8 is the smallest normal
        // number or below, rather than exactly 0.
        CHECK(y(0) <= 4 * std::numeric_limits<T>::min());
        CHECK(std::abs(dy(0)) <= 1e5 * std::numeric_limits<T>::min());
    }
}

TEMPLATE_TEST_CASE("gelu and gelu_tanh stay finite where x squared and x cubed overflow", "", float, double) {
    using T = TestType;
    const T huge = std::numeric_limits<T>::max() / 4;
    Param<T, 1, 4> x(Eigen::Matrix<T, 1, 4>(-huge, -std::sqrt(huge), std::sqrt(huge), huge));
    for (int form = 0; form < 2; ++form) {
        INFO((form == 0 ? "gelu" : "gelu_tanh"));
        x.zero_grad();
        Tape tape;
        Var<T, 1, 4> y = form == 0 ? Var<T, 1, 4>(gelu(x)) : Var<T, 1, 4>(gelu_tanh(x));
        tape.backward(sum(y));
        CHECK(y.value()(0) == T(0));
        CHECK(y.value()(3) == huge);
        CHECK(x.grad()(0) == T(0));
        CHECK(x.grad()(3) == T(1));
        CHECK(y.value().allFinite());
        CHECK(x.grad().allFinite());
    }
}

TEMPLATE_TEST_CASE("gelu keeps its digits where the normal distribution function is tiny", "", float, double) {
    using T = TestType;
    const double at[] = {-6.0, -9.0, -12.0};  // Φ(-12) is 1.8e-33: a float's range still holds x Φ(x)
    for (double x : at) {
        Param<T, 1, 1> p(Eigen::Matrix<T, 1, 1>(static_cast<T>(x)));
        Tape tape;
        Var<T, 1, 1> y = gelu(p);
        tape.backward(y);
        const double cdf = 0.5 * std::erfc(-x / std::sqrt(2.0));
        const double expected = x * cdf, slope = cdf + x * std::exp(-x * x / 2) / 2.5066282746310002;
        INFO("gelu at x = " << x << ": got " << y.value()(0, 0) << ", expected " << expected);
        CHECK(static_cast<double>(y.value()(0, 0)) == Approx(expected).epsilon(1e-5));
        CHECK(static_cast<double>(p.grad()(0, 0)) == Approx(slope).epsilon(1e-4));
    }
}

TEMPLATE_TEST_CASE("losses are finite at logits up to 1e4 and their gradients are the limits", "", float, double) {
    using T = TestType;
    auto x = at_extremes<T>();
    SECTION("sigmoid_cross_entropy against targets 0, 1/2 and 1") {
        for (double target : {0.0, 0.5, 1.0}) {
            x.zero_grad();
            Tape tape;
            auto loss = sigmoid_cross_entropy(x, Row<T>::Constant(static_cast<T>(target)), Reduction::Sum);
            Var<T, 1, 1> value = loss;
            tape.backward(value);
            double expected = 0;
            for (double v : extremes) expected += std::max(v, 0.0) - v * target + std::log1p(std::exp(-std::abs(v)));
            INFO("target " << target);
            CHECK(std::isfinite(value.value()(0, 0)));
            CHECK(value.value()(0, 0) == Approx(expected).epsilon(1e-6));
            check_row<T>(
                x.grad(),
                target == 0.0   ? +[](double v) { return logistic(v); }
                : target == 1.0 ? +[](double v) { return logistic(v) - 1; }
                                : +[](double v) { return logistic(v) - 0.5; },
                "d loss / d logit");
        }
    }
    SECTION("mse at 1e4") {
        Tape tape;
        Var<T, 1, 1> value = mse(x, Row<T>::Zero(), Reduction::Sum);
        tape.backward(value);
        CHECK(std::isfinite(value.value()(0, 0)));
        check_row<T>(
            x.grad(), [](double v) { return 2 * v; }, "d mse / dx");
    }
    SECTION("softmax_cross_entropy with one logit at 1e4 and one at -1e4") {
        Param<T, 3, 2> logits(Eigen::Matrix<T, 3, 2>{{T(1e4), T(-1e4)}, {T(-1e4), T(1e4)}, {T(0), T(0)}});
        const std::vector<int> labels{1, 1};  // the first column's label has logit -1e4: a loss of 2e4
        Tape tape;
        Var<T, 1, 1> loss = softmax_cross_entropy(logits, labels, Reduction::Sum);
        tape.backward(loss);
        CHECK(loss.value()(0, 0) == Approx(2e4).epsilon(1e-6));
        CHECK(logits.grad().allFinite());
        // softmax(z) - onehot: column 0 is (1, 0, 0) - (0, 1, 0); column 1 is (0, 1, 0) - (0, 1, 0)
        const Eigen::Matrix<T, 3, 2> expected{{1, 0}, {-1, 0}, {0, 0}};
        CHECK(logits.grad().isApprox(expected));
    }
    SECTION("softmax_cross_entropy with all-equal logits is log(classes), with the uniform gradient") {
        for (T level : {T(-1e4), T(0), T(1e4)}) {
            Param<T, 4, 1> logits(Eigen::Matrix<T, 4, 1>::Constant(level));
            const std::vector<int> labels{2};
            Tape tape;
            Var<T, 1, 1> loss = softmax_cross_entropy(logits, labels);
            tape.backward(loss);
            INFO("all logits at " << level);
            CHECK(loss.value()(0, 0) == Approx(std::log(4.0)).epsilon(1e-6));
            const Eigen::Matrix<T, 4, 1> expected{T(0.25), T(0.25), T(-0.75), T(0.25)};
            CHECK(logits.grad().isApprox(expected));
        }
    }
}

TEMPLATE_TEST_CASE("log, sqrt and pow at 0 give their limits", "", float, double) {
    using T = TestType;
    constexpr T inf = std::numeric_limits<T>::infinity();
    Param<T, 1, 1> zero;
    auto at_zero = [&](auto f) {
        zero.zero_grad();
        Tape tape;
        Var<T, 1, 1> y = f(zero);
        tape.backward(y);
        return std::pair<T, T>{y.value()(0, 0), zero.grad()(0, 0)};
    };
    CHECK(at_zero([](const auto& x) { return sqrt(x); }) == std::pair<T, T>{0, inf});
    CHECK(at_zero([](const auto& x) { return log(x); }) == std::pair<T, T>{-inf, inf});
    CHECK(at_zero([](const auto& x) { return pow(x, 2); }) == std::pair<T, T>{0, 0});
    CHECK(at_zero([](const auto& x) { return pow(x, 0.5); }) == std::pair<T, T>{0, inf});
    CHECK(at_zero([](const auto& x) { return abs(x); }) == std::pair<T, T>{0, 0});  // 0 at the kink
    CHECK(at_zero([](const auto& x) { return sqrt(square(x) + 1e-12); }).second == T(0));
}

namespace {
// How many units in the last place of `expected` separate it from `actual`.
template <class T>
double ulps_apart(T actual, T expected) {
    const T magnitude = std::abs(expected);
    const T ulp = std::nextafter(magnitude, std::numeric_limits<T>::infinity()) - magnitude;
    return std::abs(static_cast<double>(actual) - static_cast<double>(expected)) / static_cast<double>(ulp);
}
}  // namespace

TEMPLATE_TEST_CASE("log1p, expm1 and tanh run vectorised, within 4 ulps of the C library's, with its limits", "", float,
                   double) {
    using T = TestType;
    using Array = Eigen::Array<T, Eigen::Dynamic, 1>;
    // Eigen 3.4 vectorises its own log1p, expm1 and tanh for float only: one such scalar
    // function makes a whole fused loop (a loss, softplus) scalar, exp and all.
    const Array probe = Array::Ones(4);
    using Log1pLoss = decltype(tapestry::ops::SigmoidCrossEntropy{}.forward(probe, probe));
    using Softplus = decltype(tapestry::ops::Softplus{}.forward(probe));
    using Expm1 = decltype(tapestry::ops::Expm1{}.forward(probe));
    using Tanh = decltype(tapestry::ops::Tanh{}.forward(probe));
    using GeluTanh = decltype(tapestry::ops::GeluTanh{}.forward(probe));
    if constexpr (tapestry::detail::has_vectorised_log_and_exp<T>) {
        STATIC_REQUIRE((Eigen::internal::evaluator<Log1pLoss>::Flags & Eigen::PacketAccessBit) != 0);
        STATIC_REQUIRE((Eigen::internal::evaluator<Softplus>::Flags & Eigen::PacketAccessBit) != 0);
        STATIC_REQUIRE((Eigen::internal::evaluator<Expm1>::Flags & Eigen::PacketAccessBit) != 0);
        STATIC_REQUIRE((Eigen::internal::evaluator<Tanh>::Flags & Eigen::PacketAccessBit) != 0);
        STATIC_REQUIRE((Eigen::internal::evaluator<GeluTanh>::Flags & Eigen::PacketAccessBit) != 0);
    }

    // Magnitudes log-uniform over every range where the functions do something: log1p
    // from 1e-30 to 1000 and into (-1, 0); expm1 and tanh from 1e-8 to 60, both signs.
    std::mt19937 rng(23);
    std::uniform_real_distribution<double> log1p_exponent(-30, 3), exponent(-8, std::log10(60.0));
    Array u(40001), x(40001);  // an odd size: the packet loop and its scalar tail
    for (Eigen::Index i = 0; i < u.size(); ++i) {
        const auto magnitude = static_cast<T>(std::pow(10.0, log1p_exponent(rng)));
        u[i] = i % 3 == 0 ? -magnitude / (T(1) + magnitude) : magnitude;
        x[i] = static_cast<T>((i % 2 == 0 ? 1 : -1) * std::pow(10.0, exponent(rng)));
    }
    const Array log1p_u = tapestry::detail::vectorised_log1p(u);
    const Array expm1_x = tapestry::detail::vectorised_expm1(x);
    const Array tanh_x = tapestry::detail::vectorised_tanh(x);  // what Tanh runs: Eigen's own in float
    const Array our_tanh_x = x.unaryExpr(tapestry::detail::TanhFunctor<T>{});
    double worst_log1p = 0, worst_expm1 = 0, worst_tanh = 0, worst_our_tanh = 0;
    for (Eigen::Index i = 0; i < u.size(); ++i) {
        worst_log1p = std::max(worst_log1p, ulps_apart(log1p_u[i], std::log1p(u[i])));
        worst_expm1 = std::max(worst_expm1, ulps_apart(expm1_x[i], std::expm1(x[i])));
        worst_tanh = std::max(worst_tanh, ulps_apart(tanh_x[i], std::tanh(x[i])));
        worst_our_tanh = std::max(worst_our_tanh, ulps_apart(our_tanh_x[i], std::tanh(x[i])));
    }
    CHECK(worst_log1p <= 4);
    CHECK(worst_expm1 <= 4);
    CHECK(worst_our_tanh <= 4);
    // Float runs Eigen's own tanh, a rational approximation: 5 ulps measured here.
    CHECK(worst_tanh <= (std::is_same_v<T, float> ? 6 : 4));

    constexpr T inf = std::numeric_limits<T>::infinity();
    constexpr T tiny = std::numeric_limits<T>::denorm_min();
    Array limits(10);
    limits << 0, T(-0.0), -1, inf, -inf, std::numeric_limits<T>::max(), tiny, -tiny, T(-2),
        std::numeric_limits<T>::quiet_NaN();
    const Array log1p_limits = tapestry::detail::vectorised_log1p(limits);
    const Array expm1_limits = tapestry::detail::vectorised_expm1(limits);
    const Array tanh_limits = limits.unaryExpr(tapestry::detail::TanhFunctor<T>{});
    for (Eigen::Index i = 0; i < limits.size(); ++i) {
        INFO("at " << limits[i]);
        const T expected[] = {std::log1p(limits[i]), std::expm1(limits[i]), std::tanh(limits[i])};
        const T actual[] = {log1p_limits[i], expm1_limits[i], tanh_limits[i]};
        for (int f = 0; f < 3; ++f) {
            INFO("function " << f << " (log1p, expm1, tanh): " << actual[f] << ", C library: " << expected[f]);
            if (std::isnan(expected[f])) {
                CHECK(std::isnan(actual[f]));
            } else {
                CHECK((actual[f] == expected[f] || ulps_apart(actual[f], expected[f]) <= 4));
                CHECK(std::signbit(actual[f]) == std::signbit(expected[f]));
            }
        }
    }
}

// The library's exponential (exp, softmax's, log_sum_exp's): a masked class (-inf), and
// anything whose exponential underflows below the smallest normal number, must get
// exactly 0 wherever it is in the array, where Eigen's packet exp clamps its argument and
// gives 3e-39 (float) or 6e-309 (double) and the C library's exp of a partial packet 0.
TEMPLATE_TEST_CASE("the library's exponential runs vectorised and gives exactly 0 where it underflows", "", float,
                   double) {
    using T = TestType;
    using Array = Eigen::Array<T, Eigen::Dynamic, 1>;
    using Exp = decltype(tapestry::detail::exp_underflow_to_zero(Array::Ones(4)));
    if constexpr (Eigen::internal::packet_traits<T>::HasExp)
        STATIC_REQUIRE((Eigen::internal::evaluator<Exp>::Flags & Eigen::PacketAccessBit) != 0);

    constexpr T inf = std::numeric_limits<T>::infinity();
    const T lowest = std::log(std::numeric_limits<T>::min());  // e^x below it underflows
    const T edges[] = {-inf,
                       inf,
                       std::numeric_limits<T>::quiet_NaN(),
                       T(0),
                       T(-1),
                       T(-80),
                       T(-1e4),
                       T(30),
                       lowest + T(0.01),
                       lowest - T(0.01),
                       std::is_same_v<T, float> ? T(-100) : T(-800)};
    constexpr Eigen::Index copies = 33;  // whole packets of each value at every width, and a scalar tail
    Array x(std::size(edges) * copies);
    for (Eigen::Index i = 0; i < x.size(); ++i) x[i] = edges[i / copies];
    const Array e = tapestry::detail::exp_underflow_to_zero(x);
    const Array eigen = x.exp();
    for (Eigen::Index i = 0; i < x.size(); ++i) {
        INFO("at " << x[i] << " (element " << i << ")");
        if (x[i] < lowest)
            CHECK(e[i] == T(0));
        else if (std::isnan(x[i]))
            CHECK(std::isnan(e[i]));
        else
            CHECK(e[i] == eigen[i]);  // Eigen's own exp everywhere else, bit for bit
    }
}

TEMPLATE_TEST_CASE("log(1 + e^-|x|), softplus's and the cross-entropy's, runs within 4 ulps at every magnitude", "",
                   float, double) {
    using T = TestType;
    using Array = Eigen::Array<T, Eigen::Dynamic, 1>;
    // The reference in long double, rounded once: the C library's log1p(exp(-|x|)) in T
    // rounds twice, and may be further from the true value than the series is.
    const auto reference = [](T x) {
        return static_cast<T>(std::log1p(std::exp(-std::abs(static_cast<long double>(x)))));
    };
    // Half the values with |x| log-uniform from 1e-3 (below it, the result is log 2 to an
    // ulp) to where e^-|x| leaves T's range, half evenly spaced over that range (its far
    // end, where exp needs help, is most of it), both signs.
    const double far_end = std::is_same_v<T, float> ? 104.0 : 745.2;
    std::mt19937 rng(29);
    std::uniform_real_distribution<double> exponent(-3, std::log10(far_end)), uniform(0, far_end);
    Array x(80001);  // an odd size: the packet loop and its scalar tail
    for (Eigen::Index i = 0; i < x.size(); ++i) {
        const double magnitude = i % 4 < 2 ? std::pow(10.0, exponent(rng)) : uniform(rng);
        x[i] = static_cast<T>((i % 2 == 0 ? 1 : -1) * magnitude);
    }
    const Array y = tapestry::detail::log1p_exp_minus_abs(x);
    double worst = 0;
    for (Eigen::Index i = 0; i < x.size(); ++i) {
        INFO("at " << x[i] << ": " << y[i] << ", reference " << reference(x[i]));
        if (reference(x[i]) == 0)
            CHECK(y[i] == 0);
        else
            worst = std::max(worst, ulps_apart(y[i], reference(x[i])));
    }
    // Eigen's float exp with AVX-512 is 5 ulps off for |x| in [86.6, 87] (a standalone scan of
    // every float from 1e-4 to 104 found it).
#ifdef EIGEN_VECTORIZE_AVX512
    constexpr bool avx512 = true;
#else
    constexpr bool avx512 = false;
#endif
    CHECK(worst <= (std::is_same_v<T, float> && avx512 ? 5 : 4));

    constexpr T inf = std::numeric_limits<T>::infinity();
    Array special(9);
    special << 0, T(-0.0), inf, -inf, std::numeric_limits<T>::max(), -std::numeric_limits<T>::max(),
        std::numeric_limits<T>::denorm_min(), T(1) / T(3), std::numeric_limits<T>::quiet_NaN();
    // Each value 16 times over, so that each fills whole packets (16 floats with AVX-512).
    const Array limits = special.replicate(1, 16).transpose().reshaped();
    const Array at_limits = tapestry::detail::log1p_exp_minus_abs(limits);
    for (Eigen::Index i = 0; i < limits.size(); ++i) {
        INFO("at " << limits[i] << ": " << at_limits[i] << ", reference " << reference(limits[i]));
        if (std::isnan(limits[i]))
            CHECK(std::isnan(at_limits[i]));
        else
            CHECK((at_limits[i] == reference(limits[i]) || ulps_apart(at_limits[i], reference(limits[i])) <= 4));
    }
}

TEMPLATE_TEST_CASE("erfc runs vectorised, within 8 ulps of the C library's, with its limits", "", float, double) {
    using T = TestType;
    using Array = Eigen::Array<T, Eigen::Dynamic, 1>;
    // gelu's normal distribution function: the C library's erfc, one element at a time,
    // made the whole fused gelu loop scalar, exp and all.
    const Array probe = Array::Ones(4);
    using GeluForward = decltype(tapestry::ops::Gelu{}.forward(probe));
    using GeluBackward = decltype(tapestry::ops::Gelu{}.backward(probe, probe, probe));
    if constexpr (tapestry::detail::has_vectorised_log_and_exp<T>) {
        STATIC_REQUIRE((Eigen::internal::evaluator<GeluForward>::Flags & Eigen::PacketAccessBit) != 0);
        STATIC_REQUIRE((Eigen::internal::evaluator<GeluBackward>::Flags & Eigen::PacketAccessBit) != 0);
    }

    // Both signs, uniform up to where erfc underflows to 0 (28 in double, 10.5 in float:
    // the subnormal results near the end included), and log-uniform from 1e-12 to 1,
    // where erfc is near 1 and 2 - erfc is formed.
    const double end = std::is_same_v<T, float> ? 10.6 : 28.0;
    std::mt19937 rng(29);
    std::uniform_real_distribution<double> uniform(0, end), exponent(-12, 0);
    Array x(60001);  // an odd size: the packet loop and its scalar tail
    for (Eigen::Index i = 0; i < x.size(); ++i) {
        const double magnitude = i % 3 == 0 ? std::pow(10.0, exponent(rng)) : uniform(rng);
        x[i] = static_cast<T>(i % 2 == 0 ? magnitude : -magnitude);
    }
    const Array erfc_x = tapestry::detail::vectorised_erfc(x);
    double worst = 0, total = 0;
    T worst_at = 0;
    for (Eigen::Index i = 0; i < x.size(); ++i) {
        const double apart = ulps_apart(erfc_x[i], std::erfc(x[i]));
        total += apart;
        if (apart > worst) {
            worst = apart;
            worst_at = x[i];
        }
    }
    INFO("worst " << worst << " ulps at x = " << worst_at << ", mean " << total / double(x.size()));
    CHECK(worst <= 8);
    CHECK(total / double(x.size()) <= 1);

    constexpr T inf = std::numeric_limits<T>::infinity();
    const T subnormal_at = std::is_same_v<T, float> ? T(9.5) : T(26.8);  // erfc there is subnormal
    Array limits(12);
    limits << 0, T(-0.0), inf, -inf, std::numeric_limits<T>::max(), std::numeric_limits<T>::lowest(),
        std::numeric_limits<T>::denorm_min(), subnormal_at, -subnormal_at, T(40), T(-40),
        std::numeric_limits<T>::quiet_NaN();
    const Array erfc_limits = tapestry::detail::vectorised_erfc(limits);
    for (Eigen::Index i = 0; i < limits.size(); ++i) {
        const T expected = std::erfc(limits[i]);
        INFO("erfc(" << limits[i] << "): " << erfc_limits[i] << ", C library: " << expected);
        if (std::isnan(expected))
            CHECK(std::isnan(erfc_limits[i]));
        else
            CHECK((erfc_limits[i] == expected || ulps_apart(erfc_limits[i], expected) <= 8));
    }
    CHECK(std::fpclassify(std::erfc(subnormal_at)) == FP_SUBNORMAL);  // the case is what it says
}

TEMPLATE_TEST_CASE("a branch picked per element runs vectorised and agrees with Eigen's select, NaN and -0 included",
                   "", float, double) {
    using T = TestType;
    using Array = Eigen::Array<T, Eigen::Dynamic, 1>;
    namespace detail = tapestry::detail;
    const Array probe = Array::Ones(4);
    using Relu = decltype(tapestry::ops::Relu{}.backward(probe, probe, probe));
    using Clamp = decltype(tapestry::ops::Clamp<T>{T(-1), T(1)}.backward(probe, probe, probe));
    using LeakyRelu = decltype(tapestry::ops::LeakyRelu<T>{T(0.1)}.forward(probe));
    STATIC_REQUIRE((Eigen::internal::evaluator<Relu>::Flags & Eigen::PacketAccessBit) != 0);
    STATIC_REQUIRE((Eigen::internal::evaluator<Clamp>::Flags & Eigen::PacketAccessBit) != 0);
    STATIC_REQUIRE((Eigen::internal::evaluator<LeakyRelu>::Flags & Eigen::PacketAccessBit) != 0);

    // An odd size: the packet loop and its scalar tail; the edge values at every offset.
    constexpr T nan = std::numeric_limits<T>::quiet_NaN(), inf = std::numeric_limits<T>::infinity();
    const T edges[] = {nan, T(-0.0), T(0), T(1), T(-1), inf, -inf, std::numeric_limits<T>::denorm_min(), T(0.5)};
    Array x(101), a(101), b(101);
    for (Eigen::Index i = 0; i < x.size(); ++i) {
        x[i] = edges[static_cast<std::size_t>(i) % std::size(edges)];
        a[i] = T(i);
        b[i] = -T(i) - T(1);
    }
    // Against Eigen's select of the comparison each test stands for, which the rules used.
    const auto check = [&](const char* name, auto test, const auto& condition) {
        INFO(name);
        const Array picked = detail::choose_if(x, test, a, b);
        const Array selected = condition.select(a, b);
        for (Eigen::Index i = 0; i < x.size(); ++i) {
            INFO("x = " << x[i]);
            CHECK(picked[i] == selected[i]);
        }
    };
    check("x > 0", detail::Positive{}, x > T(0));
    check("-1 <= x <= 1", detail::Within<T>{T(-1), T(1)}, x >= T(-1) && x <= T(1));
    check("x != 0", detail::Nonzero{}, x != T(0));
    // The scalar tests are the comparisons they stand for, NaN and -0 included.
    CHECK_FALSE(detail::Positive{}(nan));
    CHECK_FALSE(detail::Positive{}(T(-0.0)));
    CHECK_FALSE(detail::Within<T>{T(-1), T(1)}(nan));
    CHECK(detail::Within<T>{T(-0.0), T(0)}(T(0)));
    CHECK(detail::Nonzero{}(nan));
    CHECK_FALSE(detail::Nonzero{}(T(-0.0)));
}

// expm1's slope is e^x, taken again: from y as y + 1 it was 0 wherever y rounds to -1
// (x below -37 in double, -17 in float), where e^x keeps all its digits.
TEMPLATE_TEST_CASE("expm1's gradient keeps its digits where expm1 rounds to -1", "", float, double) {
    using T = TestType;
    const double at[] = {-0.5, -10.0, -20.0, std::is_same_v<T, float> ? -80.0 : -40.0,
                         std::is_same_v<T, float> ? -85.0 : -700.0};
    for (double x : at) {
        Param<T, 1, 1> p(Eigen::Matrix<T, 1, 1>(static_cast<T>(x)));
        Tape tape;
        tape.backward(expm1(p));
        INFO("expm1' at x = " << x << ": " << p.grad()(0, 0) << ", expected " << std::exp(x));
        CHECK(static_cast<double>(p.grad()(0, 0)) ==
              Approx(std::exp(x)).epsilon(std::is_same_v<T, float> ? 1e-5 : 1e-13));
    }
}

// exp and log_sum_exp through the tape: an element whose exponential underflows is 0, and
// so is its share of the gradient, at every place in the array (a whole packet, or the
// last partial one).
TEMPLATE_TEST_CASE("exp and log_sum_exp give exactly 0 where the exponential underflows, at every position", "", float,
                   double) {
    using T = TestType;
    const T far = std::is_same_v<T, float> ? T(-200) : T(-800);
    for (const Index n : {3, 16, 35}) {
        INFO(n << " elements");
        Eigen::Matrix<T, Dynamic, 1> v = Eigen::Matrix<T, Dynamic, 1>::Constant(n, far);
        v(0) = -std::numeric_limits<T>::infinity();
        v(n / 2) = T(0.5);
        Param<T, Dynamic, 1> x(v);
        Tape tape;
        Var<T, Dynamic, 1> e = exp(x);
        tape.backward(log_sum_exp(x) + sum(e));
        for (Index i = 0; i < n; ++i) {
            INFO("element " << i << " = " << v(i));
            if (i == n / 2) {
                CHECK(e.value()(i) == Approx(std::exp(0.5)));
                CHECK(double(x.grad()(i)) == Approx(1.0 + std::exp(0.5)));
            } else {
                CHECK(e.value()(i) == T(0));
                CHECK(x.grad()(i) == T(0));
            }
        }
    }
}

// pow(x, 0) is 1 everywhere, and its gradient 0, at x = 0 too (0 x^-1 was 0 inf = NaN).
TEMPLATE_TEST_CASE("pow(x, 0)'s gradient is 0 at x = 0", "", float, double) {
    using T = TestType;
    Param<T, 1, 3> x(Eigen::Matrix<T, 1, 3>(T(0), T(2), T(-1.5)));
    Tape tape;
    tape.backward(sum(pow(x, T(0))));
    CHECK(x.grad()(0) == T(0));
    CHECK(x.grad()(1) == T(0));
    CHECK(x.grad()(2) == T(0));
}

// long double has no packets and its own smallest normal number (3.4e-4932): its
// exponential underflows there, not at float's threshold (found in review).
TEST_CASE("exp of long double underflows at long double's threshold") {
    Param<long double, 1, 2> x(Eigen::Matrix<long double, 1, 2>(-100.0L, -200.0L));
    Tape tape;
    Var<long double, 1, 2> e = exp(x);
    tape.backward(sum(e));
    CHECK(double(e.value()(0)) == Approx(std::exp(-100.0)));
    CHECK(double(e.value()(1)) == Approx(std::exp(-200.0)));
    CHECK(double(x.grad()(1)) == Approx(std::exp(-200.0)));
}

TEMPLATE_TEST_CASE("a summed sigmoid_cross_entropy gives the same bits with a tape and without one", "", float,
                   double) {
    // Recorded, its kernel also writes the derivative; without a tape it only sums. Both
    // must compute each element alike: at -O3 -march=native, g++ once inlined the packet
    // step into one of them only and contracted different multiply-adds there (found in
    // review). Odd numbers of packets take the loop's last, single step.
    using T = TestType;
    std::mt19937 rng(17);
    std::uniform_real_distribution<T> logit(-6, 6), probability(0, 1);
    for (Index rows = 1; rows <= 200; ++rows)
        for (const Index cols : {1, 2, 3, 41}) {
            Eigen::Matrix<T, Dynamic, Dynamic> y(rows, cols), t(rows, cols);
            for (Index k = 0; k < y.size(); ++k) {
                y.data()[k] = logit(rng);
                t.data()[k] = probability(rng);
            }
            Param<T, Dynamic, Dynamic> p(y);
            const T without_tape = sigmoid_cross_entropy(p, t, Reduction::Sum).value()(0, 0);
            Tape tape;
            auto loss = sigmoid_cross_entropy(p, t, Reduction::Sum);
            INFO(rows << " x " << cols);
            CHECK(loss.value()(0, 0) == without_tape);
            // The kernel itself, on arrays of other types than the library's own calls
            Eigen::Matrix<T, Dynamic, Dynamic> d(rows, cols);
            Eigen::Map<Eigen::Array<T, Dynamic, Dynamic>> derivative(d.data(), rows, cols);
            CHECK(detail::sigmoid_cross_entropy_and_derivative(y.array(), t.array(), derivative) ==
                  detail::sigmoid_cross_entropy_and_derivative(y.array(), t.array(), detail::NoDerivative{}));
        }
}
