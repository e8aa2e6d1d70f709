// Forward mode and second order through softmax and log_softmax (down columns and along
// rows, with masked classes), softmax_cross_entropy and nll_loss (every reduction). jvp
// against central differences of values and against reverse mode's Jacobian; hvp against
// central differences of gradients; gnvp of a softmax cross-entropy against Jᵀ H J with
// the loss's Hessian worked out by hand. Every f reads a Param more than once, in fixed
// and Dynamic shapes. log_sum_exp and the extremes along an axis:
// test_derivatives_of_extremes.cpp; the other operations: test_derivatives_of_ops.cpp.

#include <limits>
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

namespace {

const double infinity = std::numeric_limits<double>::infinity();

}  // namespace

TEST_CASE("jvp and hvp of softmax and log_softmax, down columns and along rows") {
    auto P = test::random_param<4, 5>(4, 5, -2.0, 2.0);
    Param<double, Dynamic, Dynamic> Q(test::random_matrix(4, 5, -2.0, 2.0));
    const nn::ParamSet<double> params{{"P", P}, {"Q", Q}};
    for (const Each each : {Each::Column, Each::Row}) {
        SECTION(each == Each::Column ? "columns" : "rows") {
            check_jvp([&] { return softmax(hadamard(P, Q) + P, each); }, params);
            check_jvp([&] { return log_softmax(tanh(P) + Q, each); }, params);
            check_hvp([&] { return scalar_of(softmax(hadamard(P, Q) + P, each)); }, params);
            check_hvp([&] { return scalar_of(log_softmax(tanh(P) + Q, each)); }, params);
            check_hvp([&] { return sum(hadamard(softmax(P, each), log_softmax(Q + P, each))); }, params);
        }
    }
}

TEST_CASE("jvp and hvp of softmax and log_softmax with masked classes stay finite and exact") {
    auto P = test::random_param<4, 3>(4, 3);
    const nn::ParamSet<double> params{{"P", P}};
    Eigen::MatrixXd mask = Eigen::MatrixXd::Zero(4, 3);
    mask(1, 0) = mask(3, 2) = mask(0, 2) = -infinity;
    // softmax gives the masked classes exactly 0, with tangent 0.
    check_jvp([&] { return softmax(P + constant(mask)); }, params);
    check_hvp([&] { return scalar_of(softmax(P + constant(mask))); }, params);
    // log_softmax's masked entries are -inf; a loss that reads the others only, its
    // adjoint's tangent not zero (each example's loss weighted by a function of P).
    const std::vector<int> labels{0, 1, 1};
    check_hvp([&] { return nll_loss(log_softmax(hadamard(P, P) + constant(mask)), labels); }, params);
    auto weighted = [&] {
        return sum(hadamard(nll_loss(log_softmax(P + constant(mask)), labels, Reduction::None), tanh(row(P, 3))));
    };
    check_hvp(weighted, params);
    CHECK(hvp(weighted, params, test::random_matrix(12, 1)).product.allFinite());
}

TEST_CASE("jvp and hvp of softmax_cross_entropy and nll_loss, in every reduction") {
    auto W = test::random_param<3, 4>(3, 4);
    Param<double, Dynamic, 1> b(test::random_matrix(3, 1));
    const Eigen::MatrixXd x = test::random_matrix(4, 6);
    const std::vector<int> labels{0, 2, 1, 1, 0, 2};
    const nn::ParamSet<double> params{{"W", W}, {"b", b}};
    auto logits = [&] { return W * constant(x) + b + tanh(W * constant(x)); };  // W twice
    SECTION("softmax_cross_entropy") {
        check_jvp([&] { return softmax_cross_entropy(logits(), labels); }, params);
        check_jvp([&] { return softmax_cross_entropy(logits(), labels, Reduction::None); }, params);
        check_hvp([&] { return softmax_cross_entropy(logits(), labels); }, params);
        check_hvp([&] { return softmax_cross_entropy(logits(), labels, Reduction::Sum); }, params);
        // Not at the root: the reduced loss's adjoint has a tangent.
        check_hvp([&] { return hadamard(softmax_cross_entropy(logits(), labels), sum(tanh(b))); }, params);
        check_hvp([&] { return square(softmax_cross_entropy(logits(), labels, Reduction::Sum)); }, params);
        check_hvp([&] { return scalar_of(softmax_cross_entropy(logits(), labels, Reduction::None)); }, params);
    }
    SECTION("nll_loss of log_softmax") {
        check_jvp([&] { return nll_loss(log_softmax(logits()), labels); }, params);
        check_jvp([&] { return nll_loss(log_softmax(logits()), labels, Reduction::None); }, params);
        check_hvp([&] { return nll_loss(log_softmax(logits()), labels); }, params);
        check_hvp([&] { return scalar_of(nll_loss(log_softmax(logits()), labels, Reduction::None)); }, params);
    }
    SECTION("the two agree") {
        const Eigen::VectorXd v = test::random_matrix(15, 1);
        const Eigen::VectorXd direct = hvp([&] { return softmax_cross_entropy(logits(), labels); }, params, v).product;
        const Eigen::VectorXd in_two_steps =
            hvp([&] { return nll_loss(log_softmax(logits()), labels); }, params, v).product;
        CHECK(relative_difference(direct, in_two_steps) < 1e-13);
    }
}

TEST_CASE("gnvp of a softmax cross-entropy is Jᵀ H J v, H = (diag(p) - p pᵀ) / B per example") {
    auto W1 = test::random_param<4, 3>(4, 3);
    auto W2 = test::random_param<3, 4>(3, 4);
    const Eigen::MatrixXd x = test::random_matrix(3, 5);
    const std::vector<int> labels{2, 0, 1, 1, 2};
    const nn::ParamSet<double> params{{"W1", W1}, {"W2", W2}};
    auto model = [&] { return W2 * tanh(W1 * constant(x)); };
    const Eigen::MatrixXd J = jacobian(model, params);  // 15 x 24
    Eigen::MatrixXd z;
    {
        InferenceMode plain;
        z = evaluate(model()).value();
    }
    Eigen::MatrixXd H = Eigen::MatrixXd::Zero(15, 15);
    for (Index j = 0; j < 5; ++j) {
        const Eigen::VectorXd p = (z.col(j).array() - z.col(j).maxCoeff()).exp().matrix().normalized();
        const Eigen::VectorXd probabilities = p / p.sum();
        H.block(3 * j, 3 * j, 3, 3) =
            (Eigen::MatrixXd(probabilities.asDiagonal()) - probabilities * probabilities.transpose()) / 5.0;
    }
    const Eigen::VectorXd v = test::random_matrix(24, 1);
    for (const bool in_two_steps : {false, true}) {
        const GnvpResult<double> result =
            in_two_steps ? gnvp(
                               model, [&](const auto& out) { return nll_loss(log_softmax(out), labels); }, params, v)
                         : gnvp(
                               model, [&](const auto& out) { return softmax_cross_entropy(out, labels); }, params, v);
        CHECK(relative_difference(result.product, J.transpose() * (H * (J * v))) < 1e-13);
    }
}
