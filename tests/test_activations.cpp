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
