// jvp through sums, losses, relu and clamp, products with either side transposed, views,
// the operations whose tangent comes from their forward, softmax and layer_norm: against
// central differences of f's value along v. (jvp's other tests: test_jvp.cpp.)

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

TEST_CASE("jvp through sums, row and column sums, and losses") {
    auto W = test::random_param<3, 4>(3, 4);
    auto b = test::random_param<3, 1>(3, 1);
    const Eigen::MatrixXd x = test::random_matrix(4, 5);
    const Eigen::MatrixXd target = test::random_matrix(3, 5, 0.0, 1.0);
    const nn::ParamSet<double> params{{"W", W}, {"b", b}};
    check_jvp([&] { return sum(square(W * constant(x) + b)); }, params);
    check_jvp([&] { return hadamard(row_sum(tanh(W * constant(x))), b) + sum(b); }, params);
    check_jvp([&] { return col_sum(square(W)) * 2.0; }, params);
    check_jvp([&] { return mse(W * constant(x) + b, target); }, params);
    check_jvp([&] { return sigmoid_cross_entropy(W * constant(x) + b, target); }, params);
}

TEST_CASE("jvp through relu, clamp, negation, products with either side transposed, and per-example losses") {
    auto A = test::random_param<4, 3>(4, 3);
    auto B = test::random_param<5, 3>(5, 3);
    const Eigen::MatrixXd x = test::random_matrix(3, 6);
    const Eigen::MatrixXd target = test::random_matrix(4, 6, 0.0, 1.0);
    const nn::ParamSet<double> params{{"A", A}, {"B", B}};
    check_jvp([&] { return relu(A) - clamp(-A, -0.3, 0.4); }, params);
    check_jvp([&] { return A * B.transpose(); }, params);
    check_jvp([&] { return B * A.transpose() * 2.0; }, params);
    check_jvp(
        [&] {
            Var<double, 4, 6> h = tanh(A * constant(x));
            return h.transpose() * A + sigmoid(h.transpose() * A);
        },
        params);
    check_jvp([&] { return sigmoid_cross_entropy(A * constant(x), target, Reduction::None); }, params);
}

TEST_CASE("jvp through views, ops whose tangent comes from their forward, softmax and layer_norm") {
    // This program defines TAPESTRY_FORWARD_MODE alone: the tangent rules compile without second order.
    auto P = test::random_param<4, 6>(4, 6);
    Param<double, Dynamic, Dynamic> Q(test::random_matrix(4, 6));
    const nn::ParamSet<double> params{{"P", P}, {"Q", Q}};
    check_jvp(
        [&] {
            return reshape<6, 4>(hadamard(P, Q)) +
                   reshape<6, 4>(concat_rows(block<2, 6>(P, 0, 0), tanh(block(Q, 1, 0, 2, 6))));
        },
        params);
    check_jvp([&] { return softmax(P + Q) + layer_norm(tanh(P), 0.1); }, params);
    check_jvp([&] { return avg_pool2d<2>(as_images<1, 4, 6>(reshape<24, 1>(hadamard(P, Q)))).flat(); }, params);
}
