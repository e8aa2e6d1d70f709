// Forward mode and second order through reshape and flatten, dropout, prod and
// stationary_ar1, and a Param outside the set held fixed through the views and the
// piecewise-linear ops. jvp against central differences of values and against reverse
// mode's Jacobian; hvp against central differences of gradients. Every f reads a Param
// more than once, in fixed and Dynamic shapes. The views block, concat and
// gather_columns: test_derivatives_of_views.cpp; the norms: test_derivatives_of_norms.cpp;
// the convolutions and their kin: test_derivatives_of_conv.cpp; softmax and its kin:
// test_derivatives_of_softmax.cpp (one binary per area, several files: tests/CMakeLists.txt
// says why).

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include <tapestry/functional/gnvp.hpp>
#include <tapestry/nn/batch_norm.hpp>
#include <tapestry/tapestry.hpp>

#include "derivative_checks.hpp"
#include "helpers.hpp"

using namespace tapestry;
using test::check_hvp;
using test::check_jvp;
using test::relative_difference;
using test::scalar_of;

TEST_CASE("jvp and hvp of reshape, flatten and dropout") {
    auto P = test::random_param<4, 6>(4, 6);
    Param<double, Dynamic, Dynamic> Q(test::random_matrix(4, 6));
    const nn::ParamSet<double> params{{"P", P}, {"Q", Q}};
    check_jvp([&] { return reshape<3, 8>(hadamard(P, Q)) + reshape(tanh(P), 3, 8); }, params);
    check_hvp([&] { return scalar_of(reshape<8, 3>(hadamard(P, Q))) + scalar_of(flatten(tanh(P) + Q)); }, params);
    for (const double p : {0.0, 0.5, 0.9}) {
        SECTION("dropout, p = " + std::to_string(p)) {
            // The same seed on every call: the same mask for jvp, hvp and the differences.
            auto dropped = [&] {
                std::mt19937 rng(7);
                return dropout(hadamard(P, Q) + P, p, rng, Mode::Train);
            };
            check_jvp(dropped, params);
            check_hvp([&] { return scalar_of(dropped()); }, params);
        }
    }
}

TEST_CASE("hvp holds a Param outside the set fixed through the views and the piecewise-linear ops") {
    auto P = test::random_param<4, 5>(4, 5);
    Param<double, Dynamic, Dynamic> Q(test::random_matrix(4, 5));
    Param<double, 2, 1> bias(test::random_matrix(2, 1));
    const nn::ParamSet<double> only_P{{"P", P}};
    const std::vector<int> ids{1, 3, 1};
    auto f = [&] {
        auto mixed = hadamard(P, P) + P;
        return scalar_of(hadamard(block<2, 3>(mixed, 1, 1), block<2, 3>(Q, 0, 2))) +
               scalar_of(hadamard(concat_rows(mixed, Q), concat_rows(Q, mixed))) +
               scalar_of(hadamard(gather_columns(Q, ids), gather_columns(tanh(P), ids))) +
               scalar_of(hadamard(reshape<5, 4>(Q), reshape<5, 4>(mixed))) + scalar_of(col_max(mixed + Q)) +
               scalar_of(add_channel_bias(as_images<2, 2, 5>(reshape<20, 1>(mixed)), bias).flat());
    };
    Q.grad().setConstant(7.0);
    bias.zero_grad();
    const HvpResult<double> result = hvp(f, only_P, test::random_matrix(20, 1));
    CHECK((Q.grad().array() == 7.0).all());
    CHECK(bias.grad().isZero());
    CHECK(result.product.allFinite());
    check_hvp(f, only_P);  // its differences move P alone
}

TEST_CASE("jvp and hvp of prod, with no zero, one zero and two zeros") {
    Param<double, 3, 3> P(test::random_matrix(3, 3, 0.5, 1.5));
    Param<double, Dynamic, Dynamic> Q(test::random_matrix(3, 3, 0.5, 1.5));
    const nn::ParamSet<double> params{{"P", P}, {"Q", Q}};
    check_jvp([&] { return prod(hadamard(P, Q)); }, params);
    check_hvp([&] { return prod(hadamard(P, Q)) + prod(tanh(P)) * sum(Q); }, params);
    for (const int zeros : {1, 2, 3}) {
        SECTION(std::to_string(zeros) + " zeros") {
            for (int k = 0; k < zeros; ++k) P.value()(k, 2 - k) = 0.0;  // exactly zero: the exact paths
            check_jvp([&] { return prod(P) + prod(Q); }, params);
            // The gradient is a polynomial: central differences step off the zeros exactly.
            check_hvp([&] { return prod(P) + prod(P) * prod(Q); }, params, 1e-6);
        }
    }
}

// An element tiny but not 0 takes the path without zeros, where (H v)_i = g_i (sum_j v_j/x_j
// - v_i/x_i): at that element v/x is huge, and the difference lost every other term (it
// came out 0). Against the closed form summed in long double: (H v)_i = sum over j != i of
// v_j times the product of all x but x_i and x_j. One tiny element, then two.
TEST_CASE("hvp of prod keeps its digits at an element tiny but not zero") {
    for (const int tiny : {1, 2}) {
        INFO(tiny << " tiny element(s)");
        Eigen::Matrix3d x0 = test::random_matrix(3, 3, 0.5, 1.5);
        x0(0, 2) = 1e-23;
        if (tiny == 2) x0(2, 1) = -3e-19;
        Param<double, 3, 3> P(x0);
        const nn::ParamSet<double> params{{"P", P}};
        const Eigen::VectorXd v = test::random_matrix(9, 1);
        const HvpResult<double> result = hvp([&] { return prod(P); }, params, v);
        const double* x = x0.data();
        Eigen::VectorXd exact(9);
        for (int i = 0; i < 9; ++i) {
            long double total = 0;
            for (int j = 0; j < 9; ++j) {
                if (j == i) continue;
                long double term = v(j);
                for (int k = 0; k < 9; ++k)
                    if (k != i && k != j) term *= x[k];
                total += term;
            }
            exact(i) = static_cast<double>(total);
        }
        INFO("H v: " << result.product.transpose() << "\nexact: " << exact.transpose());
        for (int i = 0; i < 9; ++i) CHECK(std::abs(result.product(i) - exact(i)) <= 1e-13 * std::abs(exact(i)));
    }
}

TEST_CASE("jvp and hvp of prod whose running product underflows: the exponent-tracking path") {
    // Six elements near 1e-52: the product, near 1e-312, is subnormal (its digits lost),
    // while every product of all elements but one or two is a normal number. Against the
    // formulas, summed in long double logarithms: g_i = c prod_{j != i} x_j, and along v = x ∘ r,
    // J v = sum_i g_i v_i and (H v)_i = g_i (sum_j r_j - r_i).
    const Eigen::MatrixXd mantissas = test::random_matrix(3, 2, 0.5, 2.0);
    Param<double, 3, 2> P(Eigen::MatrixXd(mantissas * 1e-52));
    const nn::ParamSet<double> params{{"P", P}};
    const double c = 1e260;  // so that the gradient's elements are near 1
    const auto f = [&] { return prod(P) * c; };
    const Eigen::ArrayXd x = P.value().reshaped().array(), r = test::random_matrix(6, 1).array();
    const Eigen::VectorXd v = (x * r).matrix();
    using LongArray = Eigen::Array<long double, Eigen::Dynamic, 1>;
    const LongArray log_x = x.cast<long double>().log();
    const long double log_all = std::log(static_cast<long double>(c)) + log_x.sum();
    const Eigen::ArrayXd g = (log_all - log_x).exp().cast<double>();
    REQUIRE(!std::isnormal(x.prod()));  // the path under test
    REQUIRE((g.abs() > 1e-3).all());

    const auto relative = [](const Eigen::VectorXd& a, const Eigen::ArrayXd& b) {
        return (a.array() - b).abs().maxCoeff() / b.abs().maxCoeff();
    };
    const HvpResult<double> second = hvp(f, params, v);
    CHECK(relative(second.gradient, g) < 1e-12);
    CHECK(relative(second.product, g * (r.sum() - r)) < 1e-12);
    // J v is prod's tangent times c, and prod's tangent, sum_i (g_i / c) v_i near 1e-312, is
    // itself subnormal: about 11 significant digits, relative to the sum of the terms'
    // magnitudes (the sum may cancel). Measured up to 4e-12 of it over 20 draws at
    // -O3 -march=native; 1e-12 of the sum passed only for the data the test case drew alone.
    const double expected_jvp = (g * x * r).sum(), magnitude = (g * x * r).abs().sum();
    CHECK(std::abs(jvp(f, params, v).tangent(0, 0) - expected_jvp) <= 1e-10 * magnitude);
}

TEST_CASE("jvp and hvp of stationary_ar1, phi and the innovations used more than once") {
    Param<double, Dynamic, 1> e(test::random_matrix(7, 1));
    Param<double, 1, 1> raw(Eigen::Matrix<double, 1, 1>::Constant(0.4));
    const nn::ParamSet<double> params{{"raw", raw}, {"e", e}};
    auto u = [&] { return stationary_ar1(tanh(raw), hadamard(e, e) * 0.5 + e); };
    check_jvp(u, params);
    check_hvp([&] { return scalar_of(u()) + sum(square(raw)) * sum(e); }, params);
}
