// The Gauss-Newton-vector product gnvp(model, loss, params, v) = Jᵀ H J v: against
// jacobian() and the loss's Hessian worked out by hand, a loss that reads a Param
// itself refused, Params outside the set held fixed, and Jᵀ H J positive semi-definite.

#include <catch2/catch.hpp>

#include <tapestry/functional/gnvp.hpp>
#include <tapestry/functional/jacobian.hpp>
#include <tapestry/tapestry.hpp>

#include "derivative_checks.hpp"
#include "helpers.hpp"

using namespace tapestry;
using test::MessageContains;
using test::relative_difference;

TEST_CASE("gnvp is Jᵀ H J v: against jacobian() and the loss's Hessian worked out by hand") {
    auto W1 = test::random_param<4, 3>(4, 3);
    auto b1 = test::random_param<4, 1>(4, 1);
    auto W2 = test::random_param<2, 4>(2, 4);
    const Eigen::MatrixXd x = test::random_matrix(3, 5);
    const nn::ParamSet<double> params{{"W1", W1}, {"b1", b1}, {"W2", W2}};
    auto model = [&] { return W2 * tanh(W1 * constant(x) + b1); };
    const Eigen::MatrixXd J = jacobian(model, params);  // 10 x 24
    Eigen::VectorXd z;
    {
        InferenceMode plain;
        z = evaluate(model()).value().reshaped();
    }
    const Eigen::VectorXd v = test::random_matrix(J.cols(), 1);
    SECTION("mse: H = 2 I / n") {
        const Eigen::MatrixXd y = test::random_matrix(2, 5);
        const GnvpResult<double> result = gnvp(
            model, [&](const auto& out) { return mse(out, constant(y)); }, params, v);
        const Eigen::VectorXd expected = J.transpose() * ((2.0 / 10.0) * (J * v));
        CHECK(relative_difference(result.product, expected) < 1e-13);
        CHECK(result.value == Approx((z - y.reshaped()).squaredNorm() / 10).epsilon(1e-14));
    }
    SECTION("sigmoid cross-entropy: H = diag(σ(z)(1 - σ(z)))") {
        const Eigen::MatrixXd t = (test::random_matrix(2, 5).array() > 0).cast<double>();
        const GnvpResult<double> result = gnvp(
            model, [&](const auto& out) { return sigmoid_cross_entropy(out, constant(t)); }, params, v);
        const Eigen::ArrayXd s = 1.0 / (1.0 + (-z.array()).exp());
        const Eigen::VectorXd expected = J.transpose() * (s * (1 - s) * (J * v).array() / 10.0).matrix();
        CHECK(relative_difference(result.product, expected) < 1e-13);
    }
    SECTION("a loss that reads a Param itself is refused; Params outside the set are held fixed") {
        auto s = test::random_param<1, 1>(1, 1);
        const Eigen::MatrixXd y = test::random_matrix(2, 5);
        CHECK_THROWS_MATCHES(
            gnvp(
                model, [&](const auto& out) { return mse(out, constant(y)) + sum(square(W2)); }, params, v),
            value_error, MessageContains("gnvp: the loss reads the Param \"W2\" itself"));
        W1.grad().setConstant(3.0);
        s.zero_grad();
        const GnvpResult<double> result = gnvp(
            model, [&](const auto& out) { return mse(out, constant(y)) + sum(square(s)); }, params, v);
        CHECK((W1.grad().array() == 3.0).all());
        CHECK(s.grad().isZero());
        const Eigen::VectorXd expected = J.transpose() * ((2.0 / 10.0) * (J * v));
        CHECK(relative_difference(result.product, expected) < 1e-13);
    }
    SECTION("positive semi-definite") {
        const Eigen::MatrixXd y = test::random_matrix(2, 5);
        auto loss = [&](const auto& out) { return mse(out, constant(y)); };
        for (int trial = 0; trial < 20; ++trial) {
            const Eigen::VectorXd u = test::random_matrix(J.cols(), 1);
            const Eigen::VectorXd Gu = gnvp(model, loss, params, u).product;
            CHECK(Gu.norm() > 0);
            CHECK(u.dot(Gu) >= 0);
        }
    }
}
