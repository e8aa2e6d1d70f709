// Second order: hvp(f, params, v) against central differences of the gradient along v
// on a tied autoencoder, the Hessian's symmetry, hessian() against a quadratic's known
// Hessian, Params outside the set, a user's tape, and what an operation without a
// second-order rule yet says. The losses and reductions: test_hvp_losses.cpp; products and
// broadcasts, float and threads: test_hvp_products.cpp; every elementwise op:
// test_hvp_elementwise.cpp; gnvp: test_gnvp.cpp (one binary, several files:
// tests/CMakeLists.txt says why).

#include <algorithm>
#include <cmath>
#include <cstddef>

#include <catch2/catch.hpp>

#include <tapestry/functional/hvp.hpp>
#include <tapestry/functional/jvp.hpp>
#include <tapestry/tapestry.hpp>

#include "derivative_checks.hpp"
#include "helpers.hpp"

using namespace tapestry;
using test::check_hvp;
using test::gradient_difference;
using test::MessageContains;
using test::relative_difference;

TEST_CASE("hvp of a tied autoencoder: products, broadcast biases, W used twice and transposed") {
    auto W = test::random_param<4, 6>(4, 6);
    auto b1 = test::random_param<4, 1>(4, 1);
    auto b2 = test::random_param<6, 1>(6, 1);
    const Eigen::MatrixXd x = test::random_matrix(6, 5);
    const Eigen::MatrixXd target = (test::random_matrix(6, 5).array() > 0).cast<double>();
    const nn::ParamSet<double> params{{"W", W}, {"b1", b1}, {"b2", b2}};
    SECTION("sigmoid cross-entropy") {
        check_hvp(
            [&] {
                auto h = sigmoid(W * constant(x) + b1);
                return sigmoid_cross_entropy(W.transpose() * h + b2, constant(target));
            },
            params);
    }
    SECTION("mse of a sigmoid") {
        check_hvp(
            [&] {
                auto h = sigmoid(W * constant(x) + b1);
                return mse(sigmoid(W.transpose() * h + b2), constant(x));
            },
            params);
    }
    SECTION("a product of two computed values (both sides need a gradient)") {
        check_hvp([&] { return sum(tanh((W * constant(x) + b1).transpose() * tanh(W))); }, params);
    }
}

TEST_CASE("pow(x, 1) has zero curvature, also at x = 0") {
    Eigen::MatrixXd start = test::random_matrix(2, 2);
    start(0, 0) = 0;
    Param<double, 2, 2> P(start);
    const nn::ParamSet<double> params{{"P", P}};
    const HvpResult<double> result = hvp([&] { return sum(pow(P, 1.0)); }, params, Eigen::VectorXd::Ones(4));
    CHECK(result.product.isZero());
}

TEST_CASE("the Hessian is symmetric: vᵀ H w = wᵀ H v") {
    auto W = test::random_param<5, 4>(5, 4);
    auto b = test::random_param<5, 1>(5, 1);
    const Eigen::MatrixXd x = test::random_matrix(4, 7);
    const nn::ParamSet<double> params{{"W", W}, {"b", b}};
    auto f = [&] {
        auto h = tanh(W * constant(x) + b);
        return mse(W.transpose() * softplus(h), constant(x)) + sum(gelu(W));
    };
    for (int trial = 0; trial < 5; ++trial) {
        const Eigen::VectorXd v = test::random_matrix(25, 1), w = test::random_matrix(25, 1);
        const double vHw = v.dot(hvp(f, params, w).product);
        const double wHv = w.dot(hvp(f, params, v).product);
        CHECK(std::abs(vHw - wHv) < 1e-13 * std::max(1.0, std::abs(vHw)));
    }
}

TEST_CASE("hessian() of a quadratic is its matrix; of a cubic, what the formula gives") {
    Param<double, 3, 1> x(test::random_matrix(3, 1));
    const nn::ParamSet<double> params{{"x", x}};
    const Eigen::MatrixXd M = test::random_matrix(3, 3);
    const Eigen::MatrixXd A = M * M.transpose();
    SECTION("xᵀ A x / 2 has Hessian A, exactly as the products are rounded") {
        const Eigen::MatrixXd H = hessian([&] { return 0.5 * sum(hadamard(x, constant(A) * x)); }, params);
        CHECK((H - A).cwiseAbs().maxCoeff() < 1e-15);
    }
    SECTION("Σ x_i³ has Hessian diag(6 x)") {
        const Eigen::MatrixXd H = hessian([&] { return sum(pow(x, 3.0)); }, params);
        const Eigen::MatrixXd expected = (6.0 * x.value()).asDiagonal();
        CHECK((H - expected).cwiseAbs().maxCoeff() < 1e-14);
    }
}

TEST_CASE("hvp leaves the Params' gradients as they were, and holds Params outside the set fixed") {
    auto W = test::random_param<3, 4>(3, 4);
    auto b = test::random_param<3, 1>(3, 1);
    const Eigen::MatrixXd x = test::random_matrix(4, 6);
    auto f = [&] { return sum(square(tanh(W * constant(x) + b))); };
    W.grad().setConstant(7.0);
    b.zero_grad();
    const nn::ParamSet<double> only_W{{"W", W}};
    const Eigen::VectorXd v = test::random_matrix(12, 1);
    const HvpResult<double> result = hvp(f, only_W, v);
    CHECK((W.grad().array() == 7.0).all());
    CHECK(b.grad().isZero());  // held fixed: no gradient sent to it
    // b held fixed: the same as differences of W's gradient with b unmoved.
    CHECK(relative_difference(result.product, gradient_difference(f, only_W, v)) < 1e-7);
}

namespace {

// An op as a user might add one (graph/node.hpp), with forward, backward and tangent
// rules but no second-order rule: x³ elementwise.
struct CubeWithoutSecondOrder {
    static constexpr const char* name = "cube";
    void forward(const auto& out, const auto& x) const { out.value() = x.array().cube(); }
    void backward(const auto& dy, const auto&, const auto& x) const { x.backprop(3 * dy * x.array().square()); }
    void tangent(const auto& out, const auto&, const auto& x) const {
        out.value() = 3 * x.tangent() * x.array().square();
    }
};

template <class X>
Var<double, 3, 4> cube(const X& x) {
    return detail::make_node<Var<double, 3, 4>>(CubeWithoutSecondOrder{}, 3, 4, as_expression(x));
}

}  // namespace

TEST_CASE("an op without a tangent or second-order rule yet is named; the value must be 1x1") {
    auto P = test::random_param<3, 4>(3, 4);
    const nn::ParamSet<double> params{{"P", P}};
    const Eigen::VectorXd v = test::random_matrix(12, 1);
    CHECK_THROWS_MATCHES(hvp([&] { return sum(test::cube_without_tangent(P)); }, params, v), tape_error,
                         MessageContains("forward mode: cube(Param 3x4) has no tangent rule yet"));
    CHECK_THROWS_MATCHES(hvp([&] { return sum(cube(P)); }, params, v), tape_error,
                         MessageContains("second order (hvp): cube(Param 3x4) has no second-order rule yet"));
    // jvp needs only the tangent rule.
    CHECK_NOTHROW(jvp([&] { return cube(P); }, params, v));
    CHECK_THROWS_MATCHES(hvp([&] { return evaluate(2.0 * P); }, params, v), shape_error, MessageContains("1x1"));
    CHECK_THROWS_MATCHES(hvp([&] { return sum(P); }, params, Eigen::VectorXd(11)), shape_error,
                         MessageContains("11 elements, the Params 12"));
    CHECK(P.grad().isZero());
}

TEST_CASE("hvp inside a user's tape leaves that tape as it was") {
    auto P = test::random_param<3, 4>(3, 4);
    const nn::ParamSet<double> params{{"P", P}};
    Tape user;
    const auto before = evaluate(sum(square(P)));
    const std::size_t recorded = user.size();
    const Eigen::VectorXd v = test::random_matrix(12, 1);
    const HvpResult<double> result = hvp([&] { return sum(square(P)); }, params, v);
    CHECK(relative_difference(result.product, 2 * v) < 1e-15);
    CHECK(user.size() == recorded);
    user.backward(before);
    CHECK(relative_difference(P.grad().reshaped(), 2 * P.value().reshaped()) < 1e-15);
}
