// Forward mode, jvp(f, params, v): against central differences of f's value along v,
// against jacobian(f, params) v (reverse mode, one sweep per element), with a Param used
// more than once, with Params left out of the direction, and what an operation without a
// tangent rule yet says.

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

TEST_CASE("jvp of a tied autoencoder's layers: products, broadcast bias, transposes, W used three times") {
    auto W = test::random_param<4, 6>(4, 6);
    auto b1 = test::random_param<4, 1>(4, 1);
    auto b2 = test::random_param<6, 1>(6, 1);
    const Eigen::MatrixXd x = test::random_matrix(6, 5);
    const nn::ParamSet<double> params{{"W", W}, {"b1", b1}, {"b2", b2}};
    check_jvp(
        [&] {
            auto h = sigmoid(W * constant(x) + b1);
            return sigmoid(W.transpose() * h + b2) + tanh(W.transpose() * (W * constant(x)));
        },
        params);
}

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

TEST_CASE("jvp treats a Param outside the ParamSet, and a constant, as fixed") {
    auto W = test::random_param<3, 4>(3, 4);
    auto b = test::random_param<3, 1>(3, 1);
    const Eigen::MatrixXd x = test::random_matrix(4, 2);
    auto f = [&] { return tanh(W * constant(x) + b) + constant(x.topRows(3)); };
    const nn::ParamSet<double> only_W{{"W", W}};
    check_jvp(f, only_W);
    const Eigen::VectorXd v = test::random_matrix(12, 1);
    CHECK(relative_difference(jvp(f, only_W, v).tangent, (jacobian(f, only_W) * v).reshaped(3, 2)) < 1e-13);

    // Nothing in the ParamSet reaches the value: its tangent is zero.
    auto unrelated = test::random_param<2, 2>(2, 2);
    CHECK(jvp(f, nn::ParamSet<double>{{"unrelated", unrelated}}, Eigen::VectorXd::Ones(4)).tangent.isZero());
}

TEST_CASE("jvp in float agrees with double") {
    const Eigen::MatrixXd w = test::random_matrix(3, 4), x = test::random_matrix(4, 2);
    const Eigen::VectorXd v = test::random_matrix(12, 1);
    Param<float, 3, 4> Wf(w.cast<float>());
    Param<double, 3, 4> Wd(w);
    const auto in_float = jvp([&] { return sigmoid(Wf * constant(Eigen::MatrixXf(x.cast<float>()))); },
                              nn::ParamSet<float>{{"W", Wf}}, Eigen::VectorXf(v.cast<float>()));
    const auto in_double = jvp([&] { return sigmoid(Wd * constant(x)); }, nn::ParamSet<double>{{"W", Wd}}, v);
    CHECK(relative_difference(in_float.tangent.cast<double>(), in_double.tangent) < 1e-5);
}

TEST_CASE("jvp refuses a direction of the wrong length, and names an operation without a tangent rule") {
    auto W = test::random_param<3, 4>(3, 4);
    const nn::ParamSet<double> params{{"W", W}};
    CHECK_THROWS_MATCHES(jvp([&] { return tanh(W); }, params, Eigen::VectorXd::Ones(11)), shape_error,
                         MessageContains("the direction has 11 elements, the Params 12"));
    CHECK_THROWS_MATCHES(jvp([&] { return test::cube_without_tangent(W); }, params, Eigen::VectorXd::Ones(12)),
                         tape_error, MessageContains("forward mode: cube(Param 3x4) has no tangent rule yet"));
    CHECK(W.grad().isZero());
}

TEST_CASE("jvp gives exactly zero for the term of what has no tangent, even where its derivative is infinite") {
    auto W = test::random_param<2, 2>(2, 2);
    Param<double, 2, 2> P(Eigen::Matrix2d::Zero());  // outside the direction, where sqrt' is infinite
    const Eigen::Matrix2d c{{0.0, 1.0}, {4.0, 9.0}};
    const nn::ParamSet<double> params{{"W", W}};
    const Eigen::VectorXd v = Eigen::VectorXd::Ones(4);
    CHECK(jvp([&] { return W + sqrt(constant(c)); }, params, v).tangent == Eigen::Matrix2d::Ones());
    CHECK(jvp([&] { return W + pow(constant(c) * 2.0, 0.5); }, params, v).tangent == Eigen::Matrix2d::Ones());
    CHECK(jvp([&] { return hadamard(W, sqrt(P)); }, params, v).tangent.isZero());
    check_jvp([&] { return hadamard(W, sqrt(P + 1.0)) + sqrt(constant(c)); }, params);
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

TEST_CASE("jvp on sizes that are cut into pieces for threads") {
    auto W = test::random_param<Dynamic, Dynamic>(300, 200);
    auto b = test::random_param<Dynamic, 1>(300, 1);
    const Eigen::MatrixXd x = test::random_matrix(200, 260);
    const nn::ParamSet<double> params{{"W", W}, {"b", b}};
    auto f = [&] { return sum(softplus(W * constant(x) + b)) + sum(tanh(W)); };
    const Eigen::VectorXd v = test::random_matrix(300 * 200 + 300, 1);
    const double exact = jvp(f, params, v).tangent(0, 0);
    CHECK(std::abs(exact - test::value_difference(f, params, v)(0, 0)) < 1e-6 * std::max(1.0, std::abs(exact)));
    // The gradient's dot product with v is the same number (a 1x1 value's J v).
    params.zero_grad();
    {
        Tape tape;
        tape.backward(f());
    }
    const double by_gradient = W.grad().reshaped().dot(v.head(60000)) + b.grad().dot(v.tail(300));
    CHECK(std::abs(exact - by_gradient) < 1e-10 * std::max(1.0, std::abs(exact)));
}

TEST_CASE("jvp runs inside a user's tape, and refuses an f that leaves another recording active") {
    auto W = test::random_param<3, 3>(3, 3);
    const nn::ParamSet<double> params{{"W", W}};
    const Eigen::VectorXd v = test::random_matrix(9, 1);
    Tape outer;
    auto before = evaluate(tanh(W));
    const Eigen::MatrixXd inside = jvp([&] { return tanh(W); }, params, v).tangent;
    CHECK(relative_difference(inside, (jacobian([&] { return tanh(W); }, params) * v).reshaped(3, 3)) < 1e-14);
    auto after = evaluate(before + W);  // the outer tape records on
    CHECK(after.rows() == 3);

    std::optional<Tape> another;
    CHECK_THROWS_MATCHES(jvp(
                             [&] {
                                 another.emplace();
                                 return tanh(W);
                             },
                             params, v),
                         tape_error, MessageContains("f must record on jvp's own tape"));
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
