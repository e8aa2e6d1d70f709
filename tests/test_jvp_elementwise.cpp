// jvp of elementwise chains, each Param read more than once, in fixed and Dynamic shapes:
// against central differences of f's value along v. (jvp's other tests: test_jvp.cpp.)

#include <optional>

#include <catch2/catch.hpp>

#include <tapestry/functional/jacobian.hpp>
#include <tapestry/functional/jvp.hpp>
#include <tapestry/tapestry.hpp>

#include "derivative_checks.hpp"
#include "helpers.hpp"

using namespace tapestry;
using test::MessageContains;

using test::check_jvp;
using test::relative_difference;

TEST_CASE("jvp of elementwise chains, in fixed and Dynamic shapes") {
    test::for_each_shape([]<int R, int C>(Index rows, Index cols) {
        auto A = test::random_param<R, C>(rows, cols);
        Param<double, R, C> B(test::random_away_from_zero(rows, cols));
        auto column = test::random_param<R, 1>(rows, 1);
        auto row = test::random_param<1, C>(1, cols);
        Param<double, 1, 1> s(Eigen::Matrix<double, 1, 1>(0.7));
        const nn::ParamSet<double> params{{"A", A}, {"B", B}, {"column", column}, {"row", row}, {"s", s}};
        check_jvp([&] { return hadamard(exp(A), tanh(B)) - divide(sigmoid(A), B) + softplus(A - column) + 2.0 / B; },
                  params);
        check_jvp([&] { return log(square(B)) * 0.5 + sqrt(abs(B)) + (A + row) * 3.0 - s + 2.0; }, params);
        check_jvp([&] { return hadamard(A, A) + leaky_relu(B) + elu(A) + silu(B) + gelu(A) + gelu_tanh(B); }, params);
        check_jvp([&] { return pow(abs(B), 3) + log1p(square(A)) + expm1(A) + maximum(A, B) + minimum(A, B); }, params);
    });
}
