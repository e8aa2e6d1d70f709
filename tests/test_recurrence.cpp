// stationary_ar1: values against the recurrence written out, gradients against
// central differences, with phi and the innovations each used more than once.

#include <cmath>

#include <catch2/catch.hpp>

#include "helpers.hpp"

using namespace tapestry;
using test::gradient_tolerance;
using test::random_matrix;

TEST_CASE("stationary_ar1 follows u_1 = e_1 / sqrt(1 - phi^2), u_t = phi u_(t-1) + e_t") {
    const Eigen::VectorXd e = random_matrix(7, 1);
    const double p = 0.8;
    Param<double, Dynamic, 1> innovations(e);
    Param<double, 1, 1> phi(Eigen::Matrix<double, 1, 1>::Constant(p));
    const auto u = stationary_ar1(phi, innovations).value();
    double expected = e(0) / std::sqrt(1 - p * p);
    CHECK(u(0) == Approx(expected).epsilon(1e-15));
    for (Index t = 1; t < e.size(); ++t) {
        expected = p * expected + e(t);
        CHECK(u(t) == Approx(expected).epsilon(1e-15));
    }
}

TEST_CASE("stationary_ar1's gradients match central differences, phi and e used twice") {
    Param<double, Dynamic, 1> e(random_matrix(9, 1));
    Param<double, 1, 1> phi(Eigen::Matrix<double, 1, 1>::Constant(-0.6));
    Param<double, 5, 1> fixed(random_matrix(5, 1));
    const Eigen::MatrixXd w = random_matrix(9, 1);
    CHECK(gradcheck([&] { return sum(hadamard(stationary_ar1(phi, e), constant(w))); }, phi, e) < gradient_tolerance);
    CHECK(gradcheck(
              [&] {
                  auto u = stationary_ar1(phi, hadamard(e, e) * 0.5);    // e twice, through an expression
                  return sum(exp(u * 0.3)) + sum(square(phi)) + sum(e);  // phi and e again outside
              },
              phi, e) < gradient_tolerance);
    CHECK(gradcheck([&] { return sum(square(stationary_ar1(tanh(phi * 2.0), fixed))); }, phi, fixed) <
          gradient_tolerance);
}

TEST_CASE("stationary_ar1 needs a 1x1 phi and one column of innovations") {
    Param<double, Dynamic, Dynamic> two_columns(random_matrix(4, 2));
    Param<double, Dynamic, Dynamic> phi(Eigen::MatrixXd::Constant(1, 1, 0.5));
    CHECK_THROWS_AS(stationary_ar1(phi, two_columns), shape_error);
}
