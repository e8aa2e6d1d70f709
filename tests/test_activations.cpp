// Activations (sigmoid, tanh, relu, softplus, leaky_relu, elu, silu, gelu, gelu_tanh):
// values against plain formulas, gradients against central finite differences, fixed
// and Dynamic shapes. (The other unary operations: test_unary_ops.cpp.)

#include <cmath>
#include <iterator>
#include <limits>
#include <type_traits>
#include <vector>

#include <catch2/catch.hpp>

#include "helpers.hpp"
#include "unary_checks.hpp"

using namespace tapestry;
using test::check_unary_everywhere;

namespace {

double ref_sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }
double ref_tanh(double x) { return std::tanh(x); }
double ref_relu(double x) { return x > 0 ? x : 0.0; }
double ref_softplus(double x) { return std::log(1.0 + std::exp(x)); }
double ref_leaky_relu(double x) { return x > 0 ? x : 0.01 * x; }
double ref_elu(double x) { return x > 0 ? x : 1.5 * std::expm1(x); }
double ref_silu(double x) { return x * ref_sigmoid(x); }
double ref_gelu(double x) { return 0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0))); }
// gelu's slope Φ(x) + x φ(x), given Φ(x): the exact one with normal_cdf(x)
double normal_cdf(double x) { return 0.5 * std::erfc(-x / std::sqrt(2.0)); }
double gelu_slope_given_cdf(double x, double cdf) { return cdf + x * std::exp(-x * x / 2) / 2.5066282746310002; }
double ref_gelu_tanh(double x) {
    return 0.5 * x * (1.0 + std::tanh(std::sqrt(2.0 / 3.14159265358979323846) * (x + 0.044715 * x * x * x)));
}

}  // namespace

TEST_CASE("activations match their formulas and their gradients match finite differences") {
    SECTION("sigmoid") {
        check_unary_everywhere([](auto& a) { return sigmoid(a); }, ref_sigmoid);
    }
    SECTION("tanh") {
        check_unary_everywhere([](auto& a) { return tanh(a); }, ref_tanh);
    }
    SECTION("relu") {
        check_unary_everywhere([](auto& a) { return relu(a); }, ref_relu);
    }
    SECTION("softplus") {
        check_unary_everywhere([](auto& a) { return softplus(a); }, ref_softplus);
    }
    SECTION("leaky_relu, away from its kink") {
        check_unary_everywhere([](auto& a) { return leaky_relu(a); }, ref_leaky_relu, 0.1, 2.0);
        check_unary_everywhere([](auto& a) { return leaky_relu(a); }, ref_leaky_relu, -2.0, -0.1);
    }
    SECTION("elu with alpha 1.5, away from its kink") {
        check_unary_everywhere([](auto& a) { return elu(a, 1.5); }, ref_elu, 0.1, 2.0);
        check_unary_everywhere([](auto& a) { return elu(a, 1.5); }, ref_elu, -3.0, -0.1);
    }
    SECTION("silu") {
        check_unary_everywhere([](auto& a) { return silu(a); }, ref_silu, -4.0, 4.0);
    }
    SECTION("gelu") {
        check_unary_everywhere([](auto& a) { return gelu(a); }, ref_gelu, -4.0, 4.0);
    }
    SECTION("gelu_tanh") {
        check_unary_everywhere([](auto& a) { return gelu_tanh(a); }, ref_gelu_tanh, -4.0, 4.0);
    }
}

// Each of these picks a branch per element. With every element on one side of the kink
// (as above) a vectorised loop's lanes all agree; here the sides mix within one 3x4
// array, read beside a Dynamic operand, the case g++ 12.2 at -O3 with AVX or later
// miscompiled through Eigen's select: the lanes of later groups took the first group's
// mask, and leaky_relu's gradient was 0 where x > 0 (kernels/choose.hpp).
TEST_CASE("ops that pick a branch per element are right where the branches mix in one small fixed-size array") {
    // P's values are ±[0.2, 0.6] or ±[1.6, 2], Q's near 1: x = P ∘ Q is away from every
    // kink (0, ±1), and x - 1 from 0.
    Eigen::Matrix<double, 3, 4> p = test::random_matrix(3, 4, 0.2, 0.6);
    const Eigen::Array<bool, 3, 4> far = test::random_matrix(3, 4).array() > 0;
    const Eigen::Array<bool, 3, 4> negative = test::random_matrix(3, 4).array() > 0;
    p = far.select(p.array() + 1.4, p.array()).matrix();
    p = negative.select(-p.array(), p.array()).matrix();
    INFO("P = " << p);
    Param<double, 3, 4> P(p);
    Param<double, Dynamic, Dynamic> Q(test::random_matrix(3, 4, 0.9, 1.1));
    const Eigen::Array<bool, 3, 4> mask = test::random_matrix(3, 4).array() > 0;
    const Eigen::MatrixXd weights = test::random_matrix(3, 4);

    const auto check = [&](const char* name, auto op) {
        INFO(name);
        // evaluate(): the op at the root of its node, its gradient read from the node's adjoint.
        const double err =
            gradcheck([&] { return sum(hadamard(evaluate(op(hadamard(P, Q))), constant(weights))); }, P, Q);
        CHECK(err < test::gradient_tolerance);
    };
    check("relu", [](const auto& x) { return relu(x); });
    check("leaky_relu", [](const auto& x) { return leaky_relu(x, 0.1); });
    check("leaky_relu of x - 1", [](const auto& x) { return leaky_relu(x - 1.0, 0.1); });
    check("elu", [](const auto& x) { return elu(x, 0.7); });
    check("clamp", [](const auto& x) { return clamp(x, -1.0, 1.0); });
    check("where", [&](const auto& x) { return where(mask, x, square(x)); });
    check("maximum", [&](const auto& x) { return maximum(x, square(P)); });
}

// A stored gelu (a layer's activation, the root of its node) takes its slope's Φ from
// its value, Φ = y / x, and falls back to erfc for a packet holding a value where that
// quotient loses digits (y = 0 or subnormal: x = 0, x tiny, Φ underflowing). The slope
// must be the one the fused path computes from erfc, in both.
TEMPLATE_TEST_CASE("gelu's slope from its stored value is the slope from erfc, in every lane", "", float, double) {
    using T = TestType;
    constexpr bool is_float = std::is_same_v<T, float>;
    // 16 ordinary values (a whole packet at every width up to AVX-512 float), then 16 with
    // one of each kind that takes erfc's path, then a tail that is not a whole packet.
    std::vector<T> values;
    for (int i = 0; i < 16; ++i) values.push_back(T(-6.0 + 0.75 * i));
    const T tiny = std::numeric_limits<T>::min() / 4;  // subnormal
    // subnormal, and not a power of two: y = x Φ(x) = 1.5 times the smallest subnormal
    // rounds, and y / x would be 0.67
    const T few = 3 * std::numeric_limits<T>::denorm_min();
    const T underflow = is_float ? T(-14) : T(-38);  // x Φ(x) subnormal
    const T specials[] = {T(0), tiny, -tiny, underflow, few, -few, 5 * few / 3, T(-0.3), T(1e-30), T(2.5), T(-12)};
    constexpr int special_count = int(std::size(specials));
    for (int i = 0; i < 16; ++i) values.push_back(i < special_count ? specials[i] : T(0.4 * i - 3));
    for (int i = 0; i < 3; ++i) values.push_back(T(1.0 - 0.7 * i));
    const Index n = Index(values.size());
    const Eigen::Matrix<T, 1, Dynamic> x0 = Eigen::Map<const Eigen::Matrix<T, 1, Dynamic>>(values.data(), n);
    const Eigen::Matrix<T, 1, Dynamic> weights = test::random_matrix(1, n).cast<T>();

    Param<T, 1, Dynamic> x(x0);
    const auto slope = [&](bool stored) {
        x.zero_grad();
        Tape tape;
        if (stored) {
            Var<T, 1, Dynamic> y = gelu(x);  // the root of its node: backward reads y
            tape.backward(sum(hadamard(y, constant(weights))));
        } else {
            tape.backward(sum(hadamard(gelu(x), constant(weights))));  // fused: Φ from erfc
        }
        return Eigen::Matrix<T, 1, Dynamic>(x.grad());
    };
    const Eigen::Matrix<T, 1, Dynamic> from_value = slope(true), from_erfc = slope(false);
    for (Index i = 0; i < n; ++i) {
        const double x_i = double(values[size_t(i)]);
        const double exact = double(weights(i)) * gelu_slope_given_cdf(x_i, normal_cdf(x_i));
        INFO("x = " << x_i << ": from the stored value " << from_value(i) << ", from erfc " << from_erfc(i)
                    << ", exact " << exact);
        // Relative where the slope is not near 0 (at x = -0.75 it crosses 0), absolute beside it.
        const double margin = is_float ? 1e-6 : 1e-14;
        CHECK(double(from_value(i)) == Approx(double(from_erfc(i))).epsilon(margin).margin(margin));
        CHECK(double(from_value(i)) == Approx(exact).epsilon(2 * margin).margin(margin));
    }
}

TEST_CASE("a stored gelu's gradient matches finite differences, a Param used twice") {
    Param<double, Dynamic, Dynamic> A(test::random_matrix(7, 5, -4, 4));
    Param<double, 7, 5> B(test::random_matrix(7, 5, 0.5, 1.5));
    const Eigen::MatrixXd weights = test::random_matrix(7, 5);
    const double err = gradcheck(
        [&] {
            Var<double, Dynamic, Dynamic> y = gelu(hadamard(A, B) - A);  // A twice, y stored
            return sum(hadamard(y, constant(weights))) + sum(gelu(A));
        },
        A, B);
    CHECK(err < test::gradient_tolerance);
}

// The functor on its own, given a y that is not x Φ(x): a packet of ordinary values takes
// Φ from y / x (so the result shows y), and an element whose y is 0 or subnormal takes Φ
// from erfc (so the result does not), whatever the packet width.
TEMPLATE_TEST_CASE("gelu's slope given its value uses y / x where y is a normal number, erfc elsewhere", "", float,
                   double) {
    using T = TestType;
    using Array = Eigen::Array<T, Dynamic, 1>;
    Array x(35), y(35);
    for (Index i = 0; i < 35; ++i) {
        x(i) = T(-2.0 + 0.125 * double(i));
        y(i) = T(2 * x(i) * normal_cdf(double(x(i))));  // twice the value: y / x = 2 Φ
    }
    x(20) = T(1.5);
    y(20) = T(0);                                      // a zero y among ordinary ones
    y(21) = std::numeric_limits<T>::denorm_min() * 3;  // a subnormal one
    const Array slope = x.binaryExpr(y, detail::GeluSlopeGivenValueFunctor<T>{});
    const double tolerance = std::is_same_v<T, float> ? 1e-5 : 1e-13;
    for (Index i = 0; i < 16; ++i) {  // a whole packet at every width, all ordinary
        INFO("x = " << x(i));
        CHECK(double(slope(i)) == Approx(gelu_slope_given_cdf(double(x(i)), 2 * normal_cdf(double(x(i)))))
                                      .epsilon(tolerance)
                                      .margin(tolerance));
    }
    for (const Index i : {Index(20), Index(21)}) {  // erfc's Φ, not y / x
        INFO("x = " << x(i) << ", y = " << y(i));
        CHECK(double(slope(i)) ==
              Approx(gelu_slope_given_cdf(double(x(i)), normal_cdf(double(x(i))))).epsilon(tolerance));
    }
}

TEST_CASE("backward_given_value is taken where the node's value was stored, and only there") {
    Param<double, Dynamic, Dynamic> A(test::random_matrix(5, 3));
    {
        Tape tape;
        Var<double, Dynamic, Dynamic> y = test::two_rules(A);  // the root of its node: y stored
        tape.backward(sum(y));
        CHECK((A.grad().array() == 3.0).all());
    }
    A.zero_grad();
    {
        Tape tape;
        tape.backward(sum(test::two_rules(A)));  // fused into the sum: y not stored
        CHECK((A.grad().array() == 2.0).all());
    }
}
