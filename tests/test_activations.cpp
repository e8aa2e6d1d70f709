// Activations (sigmoid, tanh, relu, softplus, leaky_relu, elu, silu, gelu, gelu_tanh):
// values against plain formulas, gradients against central finite differences, fixed
// and Dynamic shapes. (The other unary operations: test_unary_ops.cpp.)

#include <cmath>

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
