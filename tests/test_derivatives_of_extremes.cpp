// jvp and hvp of log_sum_exp and of the extremes along an axis (max, min), each Param
// read more than once, in fixed and Dynamic shapes. (Softmax's kin:
// test_derivatives_of_softmax.cpp.)

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

TEST_CASE("jvp and hvp of log_sum_exp and of the extremes along an axis") {
    test::for_each_shape([]<int R, int C>(Index rows, Index cols) {
        auto A = test::random_param<R, C>(rows, cols);
        Param<double, R, C> B(test::random_matrix(rows, cols));
        const nn::ParamSet<double> params{{"A", A}, {"B", B}};
        check_jvp([&] { return log_sum_exp(hadamard(A, B) + A); }, params);
        check_hvp([&] { return log_sum_exp(hadamard(A, B) + A) * log_sum_exp(tanh(A)); }, params);
        // Random values have no ties: the extreme does not move within the differences' step.
        check_jvp([&] { return col_max(hadamard(A, B)); }, params);
        check_jvp([&] { return row_min(A + B); }, params);
        check_hvp([&] { return scalar_of(col_min(hadamard(A, B))) + scalar_of(row_max(tanh(A) + B)); }, params);
    });
}
