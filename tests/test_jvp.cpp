// Forward mode, jvp(f, params, v): against central differences of f's value along v and
// against jacobian(f, params) v (reverse mode, one sweep per element), on a tied
// autoencoder's layers, with Params left out of the direction, in float, on sizes cut among
// threads, inside a user's tape, and what an operation without a tangent rule yet says.
// The elementwise chains: test_jvp_elementwise.cpp; sums, losses and the other operations:
// test_jvp_ops.cpp (one binary, three files: tests/CMakeLists.txt says why).

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

TEST_CASE("jvp on sizes that are cut into pieces for threads") {
    auto W = test::random_param<Dynamic, Dynamic>(300, 200);
    auto b = test::random_param<Dynamic, 1>(300, 1);
    const Eigen::MatrixXd x = test::random_matrix(200, 260);
    const nn::ParamSet<double> params{{"W", W}, {"b", b}};
    auto f = [&] { return sum(softplus(W * constant(x) + b)) + sum(tanh(W)); };
    const Eigen::VectorXd v = test::random_matrix(300 * 200 + 300, 1);
    const double exact = jvp(f, params, v).tangent(0, 0);
    // f sums 78,000 values, and rounds differently at p + h v and p - h v: with h = 1e-6
    // that noise reached 1.1e-6 of the difference quotient for some random draws; with
    // h = 1e-4 it is about 1e-8, and the truncation error, O(h^2), no larger.
    const double by_differences = test::value_difference(f, params, v, 1e-4)(0, 0);
    CHECK(std::abs(exact - by_differences) < 1e-6 * std::max(1.0, std::abs(exact)));
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
