// Elementwise math (exp, log, log1p, expm1, clamp, sqrt, square, abs, pow): values
// against plain formulas, gradients against central finite differences, fixed and
// Dynamic shapes. The activations: test_activations.cpp; scalar arithmetic:
// test_scalar_arithmetic.cpp (one binary, three files: tests/CMakeLists.txt says why).

#include <algorithm>
#include <cmath>

#include <catch2/catch.hpp>

#include "helpers.hpp"
#include "unary_checks.hpp"

using namespace tapestry;
using test::check_unary_everywhere;
using test::random_param;

namespace {

double ref_exp(double x) { return std::exp(x); }
double ref_log(double x) { return std::log(x); }
double ref_log1p(double x) { return std::log1p(x); }
double ref_expm1(double x) { return std::expm1(x); }
double ref_clamp(double x) { return std::clamp(x, -0.5, 0.75); }
double ref_sqrt(double x) { return std::sqrt(x); }
double ref_square(double x) { return x * x; }
double ref_abs(double x) { return std::abs(x); }

}  // namespace

TEST_CASE("elementwise math matches its formulas and its gradients match finite differences") {
    SECTION("exp") {
        check_unary_everywhere([](auto& a) { return exp(a); }, ref_exp);
    }
    SECTION("log, on positive inputs") {
        check_unary_everywhere([](auto& a) { return log(a); }, ref_log, 0.2, 3.0);
    }
    SECTION("log1p, above -1") {
        check_unary_everywhere([](auto& a) { return log1p(a); }, ref_log1p, -0.8, 3.0);
    }
    SECTION("expm1") {
        check_unary_everywhere([](auto& a) { return expm1(a); }, ref_expm1);
    }
    SECTION("clamp to [-0.5, 0.75], away from its bounds") {
        // Inputs in [-2, 2] fall within 1e-6 of a bound with probability about 1e-6 each.
        check_unary_everywhere([](auto& a) { return clamp(a, -0.5, 0.75); }, ref_clamp);
    }
    SECTION("sqrt, on positive inputs") {
        check_unary_everywhere([](auto& a) { return sqrt(a); }, ref_sqrt, 0.2, 3.0);
    }
    SECTION("square") {
        check_unary_everywhere([](auto& a) { return square(a); }, ref_square);
    }
    SECTION("abs, away from its kink") {
        check_unary_everywhere([](auto& a) { return abs(a); }, ref_abs, 0.1, 2.0);
        check_unary_everywhere([](auto& a) { return abs(a); }, ref_abs, -2.0, -0.1);
    }
    SECTION("pow with a fractional exponent") {
        check_unary_everywhere([](auto& a) { return pow(a, 2.5); }, [](double x) { return std::pow(x, 2.5); }, 0.2,
                               3.0);
    }
    SECTION("pow with a negative exponent") {
        check_unary_everywhere([](auto& a) { return pow(a, -1.5); }, [](double x) { return std::pow(x, -1.5); }, 0.2,
                               3.0);
    }
}

TEST_CASE("clamp with its bounds the wrong way round throws value_error before recording") {
    auto A = random_param<2, 2>(2, 2);
    Tape tape;
    CHECK_THROWS_AS(clamp(A, 1.0, -1.0), value_error);
    CHECK(tape.size() == 0);
}
