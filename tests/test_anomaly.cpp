// Anomaly mode: inside a DetectAnomaly scope the first NaN or infinity, forward or
// backward, throws anomaly_error naming the operation, the shapes and the element.

#include <limits>
#include <optional>
#include <thread>

#include <catch2/catch.hpp>

#include "helpers.hpp"

using namespace tapestry;
using test::MessageContains;

namespace {
Param<double, 2, 3> with_one_negative() {
    Eigen::Matrix<double, 2, 3> m;
    m << 1, 2, 3, 4, -5, 6;  // (1, 1) is negative
    return Param<double, 2, 3>(m);
}
}  // namespace

TEST_CASE("anomaly detection is off by default and a NaN flows through silently") {
    auto P = with_one_negative();
    CHECK_FALSE(DetectAnomaly::active());
    Tape tape;
    Var<double, 1, 1> loss = sum(log(P));
    CHECK(std::isnan(loss.value()(0, 0)));
    CHECK_NOTHROW(tape.backward(loss));
}

TEST_CASE("a NaN computed forward throws, naming the operation, its shapes and the element") {
    auto P = with_one_negative();
    Tape tape;
    DetectAnomaly guard;
    CHECK(DetectAnomaly::active());
    using Value = Var<double, 2, 3>;
    CHECK_THROWS_MATCHES(Value(log(P)), anomaly_error,
                         MessageContains("anomaly in the forward pass: the value of log(Param 2x3) has NaN at (1, 1)"));
    CHECK(tape.size() == 0);  // nothing recorded for the failed operation
}

TEST_CASE("an infinity in the backward pass throws, naming the operation and the input it was sent to") {
    Param<double, 2, 2> P(Eigen::Matrix2d{{0.0, 1.0}, {4.0, 9.0}});  // sqrt'(0) is infinite
    Tape tape;
    DetectAnomaly guard;
    Var<double, 1, 1> loss = sum(sqrt(P));  // forward is finite: sqrt(0) = 0
    CHECK_THROWS_MATCHES(tape.backward(loss), anomaly_error,
                         MessageContains("anomaly in the backward pass: the gradient that sum(sqrt(Param 2x2)) sends "
                                         "to Param 2x2 has +inf at (0, 0)"));
}

TEST_CASE("products, reductions and constants are checked too") {
    constexpr double big = 1e200;
    Param<double, 2, 2> A(Eigen::Matrix2d{{big, 0.0}, {0.0, 1.0}});
    Param<double, 2, 1> x(Eigen::Vector2d{big, 1.0});
    Tape tape;
    DetectAnomaly guard;
    CHECK_THROWS_MATCHES(A * x, anomaly_error,
                         MessageContains("the value of matrix product(Param 2x2, Param 2x1) has +inf at (0, 0)"));
    CHECK_THROWS_MATCHES(sum(hadamard(x, x)), anomaly_error,
                         MessageContains("the value of sum(hadamard(Param 2x1, Param 2x1)) has +inf"));
    const Eigen::Matrix2d with_nan{{1.0, std::numeric_limits<double>::quiet_NaN()}, {0.0, 1.0}};
    CHECK_THROWS_MATCHES(constant(with_nan), anomaly_error,
                         MessageContains("the value of constant 2x2 has NaN at (0, 1)"));
    CHECK_THROWS_MATCHES(row_sum(A * 1e200), anomaly_error, MessageContains("row_sum(scale(Param 2x2))"));
}

TEST_CASE("anomaly detection reads an adjoint no step wrote as zeros, and computes what the sweep without it does") {
    // prod of a vector with two zeros sends its operand no gradient, so sqrt's step, whose
    // derivative at 0 is infinite, does not run. The check after prod's step reads sqrt's
    // adjoint: that must not make sqrt's step run (0 x infinity = NaN).
    Param<double, 3, 1> P(Eigen::Vector3d(0.0, 0.0, 4.0));
    const auto gradient = [&](bool detect) {
        P.zero_grad();
        std::optional<DetectAnomaly> scope;
        if (detect) scope.emplace();
        Tape tape;
        const Var<double, 3, 1> x = sqrt(P);
        tape.backward(prod(x) + sum(P));
        return Eigen::Vector3d(P.grad());
    };
    CHECK(gradient(false) == Eigen::Vector3d::Ones());
    CHECK_NOTHROW(gradient(true));
    CHECK(gradient(true) == Eigen::Vector3d::Ones());
}

TEST_CASE("finite training steps pass unchanged under anomaly detection") {
    auto W = test::random_param<3, 4>(3, 4);
    const Eigen::MatrixXd x = test::random_matrix(4, 5);
    auto loss = [&] { return sigmoid_cross_entropy(W.transpose() * sigmoid(W * constant(x)), (x.array() + 1) / 2); };
    Eigen::MatrixXd plain_grad;
    {
        Tape tape;
        tape.backward(loss());
        plain_grad = W.grad();
    }
    W.zero_grad();
    {
        Tape tape;
        DetectAnomaly guard;
        tape.backward(loss());
    }
    CHECK(W.grad() == plain_grad);
}

TEST_CASE("the scope ends detection, and each thread has its own") {
    {
        DetectAnomaly guard;
        CHECK(DetectAnomaly::active());
        bool other_thread_active = true;
        std::thread([&] { other_thread_active = DetectAnomaly::active(); }).join();
        CHECK_FALSE(other_thread_active);
    }
    CHECK_FALSE(DetectAnomaly::active());
}
