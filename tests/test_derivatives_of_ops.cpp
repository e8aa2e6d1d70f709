// Forward mode and second order through the operations that are not elementwise:
// softmax and log_softmax (down columns and along rows, with masked classes),
// softmax_cross_entropy and nll_loss (every reduction), log_sum_exp, the extremes
// along an axis, reshape and flatten, dropout, and the views block, concat and
// gather_columns. jvp against central differences of values and against reverse mode's
// Jacobian; hvp against central differences of gradients; gnvp of a softmax
// cross-entropy against Jᵀ H J with the loss's Hessian worked out by hand. Every f reads
// a Param more than once, in fixed and Dynamic shapes.

#include <functional>
#include <limits>
#include <random>
#include <string>
#include <utility>
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

namespace {

// A scalar in which the op's curvature meets another: its values squashed and multiplied
// by themselves, so that both g and ġ reach the op's second-order step non-trivially.
template <class V>
auto scalar_of(const V& v) {
    return sum(hadamard(tanh(v), v));
}

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

TEST_CASE("jvp and hvp of reshape, flatten and dropout") {
    auto P = test::random_param<4, 6>(4, 6);
    Param<double, Dynamic, Dynamic> Q(test::random_matrix(4, 6));
    const nn::ParamSet<double> params{{"P", P}, {"Q", Q}};
    check_jvp([&] { return reshape<3, 8>(hadamard(P, Q)) + reshape(tanh(P), 3, 8); }, params);
    check_hvp([&] { return scalar_of(reshape<8, 3>(hadamard(P, Q))) + scalar_of(flatten(tanh(P) + Q)); }, params);
    for (const double p : {0.0, 0.5, 0.9}) {
        SECTION("dropout, p = " + std::to_string(p)) {
            // The same seed on every call: the same mask for jvp, hvp and the differences.
            auto dropped = [&] {
                std::mt19937 rng(7);
                return dropout(hadamard(P, Q) + P, p, rng, Mode::Train);
            };
            check_jvp(dropped, params);
            check_hvp([&] { return scalar_of(dropped()); }, params);
        }
    }
}

TEST_CASE("jvp and hvp of blocks, concatenations and gathered columns") {
    auto P = test::random_param<4, 5>(4, 5);
    Param<double, Dynamic, Dynamic> Q(test::random_matrix(4, 5));
    const nn::ParamSet<double> params{{"P", P}, {"Q", Q}};
    const std::vector<int> ids{4, 0, 4, 2};  // one column twice
    SECTION("of Params, read in place") {
        check_jvp([&] { return block<2, 3>(P, 1, 1) + tanh(block(Q, 2, 2, 2, 3)); }, params);
        check_jvp([&] { return concat_rows(P, Q) * 2.0; }, params);
        check_jvp([&] { return gather_columns(P, ids) - hadamard(gather_columns(Q, ids), gather_columns(P, ids)); },
                  params);
        check_hvp([&] { return scalar_of(block<2, 3>(P, 1, 1) + block(Q, 0, 2, 2, 3)); }, params);
        check_hvp([&] { return scalar_of(concat_columns(P, Q)) + sum(hadamard(col(P, 1), tanh(col(Q, 2)))); }, params);
        check_hvp([&] { return scalar_of(row(Q, 1)) * sum(row(P, 3)); }, params);
        check_hvp([&] { return scalar_of(gather_columns(P, ids)) + sum(square(gather_columns(Q, ids))); }, params);
    }
    SECTION("of computed values") {
        check_jvp([&] { return concat_columns(hadamard(P, Q), tanh(P)); }, params);
        check_hvp([&] { return scalar_of(concat_rows(hadamard(P, Q), tanh(P))); }, params);
        check_hvp([&] { return scalar_of(block<3, 2>(hadamard(P, Q), 1, 3)); }, params);
        check_hvp([&] { return scalar_of(gather_columns(tanh(P) + Q, ids)); }, params);
    }
}

TEST_CASE("jvp and hvp of layer_norm, with and without its scale and shift, and of batch_norm in training") {
    auto P = test::random_param<5, 4>(5, 4);
    Param<double, Dynamic, Dynamic> Q(test::random_matrix(5, 4));
    Param<double, 5, 1> gamma(test::random_matrix(5, 1, 0.5, 1.5));
    Param<double, Dynamic, 1> beta(test::random_matrix(5, 1));
    const nn::ParamSet<double> params{{"P", P}, {"Q", Q}, {"gamma", gamma}, {"beta", beta}};
    check_jvp([&] { return layer_norm(hadamard(P, Q) + P); }, params);
    check_jvp([&] { return layer_norm(hadamard(P, Q) + P, gamma, beta, 0.1); }, params);
    check_hvp([&] { return scalar_of(layer_norm(hadamard(P, Q) + P)); }, params);
    check_hvp([&] { return scalar_of(layer_norm(hadamard(P, Q) + P, gamma, beta, 0.1)); }, params);
    // gamma read by the norm and beside it.
    check_hvp([&] { return sum(hadamard(layer_norm(tanh(P) + Q, gamma, beta), P)) + sum(square(gamma)); }, params);
    nn::BatchNorm<double, 5> norm(5);
    const nn::ParamSet<double> with_norm{{"P", P}, {"Q", Q}, {"scale", norm.scale}, {"shift", norm.shift}};
    norm.scale.value() = test::random_matrix(5, 1, 0.5, 1.5);
    norm.shift.value() = test::random_matrix(5, 1);
    check_jvp([&] { return norm(hadamard(P, Q) + P, Mode::Train); }, with_norm);
    check_hvp([&] { return scalar_of(norm(hadamard(P, Q) + P, Mode::Train)); }, with_norm);
}

TEST_CASE("hvp holds a Param outside the set fixed through the views and the piecewise-linear ops") {
    auto P = test::random_param<4, 5>(4, 5);
    Param<double, Dynamic, Dynamic> Q(test::random_matrix(4, 5));
    Param<double, 2, 1> bias(test::random_matrix(2, 1));
    const nn::ParamSet<double> only_P{{"P", P}};
    const std::vector<int> ids{1, 3, 1};
    auto f = [&] {
        auto mixed = hadamard(P, P) + P;
        return scalar_of(hadamard(block<2, 3>(mixed, 1, 1), block<2, 3>(Q, 0, 2))) +
               scalar_of(hadamard(concat_rows(mixed, Q), concat_rows(Q, mixed))) +
               scalar_of(hadamard(gather_columns(Q, ids), gather_columns(tanh(P), ids))) +
               scalar_of(hadamard(reshape<5, 4>(Q), reshape<5, 4>(mixed))) + scalar_of(col_max(mixed + Q)) +
               scalar_of(add_channel_bias(as_images<2, 2, 5>(reshape<20, 1>(mixed)), bias).flat());
    };
    Q.grad().setConstant(7.0);
    bias.zero_grad();
    const HvpResult<double> result = hvp(f, only_P, test::random_matrix(20, 1));
    CHECK((Q.grad().array() == 7.0).all());
    CHECK(bias.grad().isZero());
    CHECK(result.product.allFinite());
    check_hvp(f, only_P);  // its differences move P alone
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

TEST_CASE("jvp and hvp of prod, with no zero, one zero and two zeros") {
    Param<double, 3, 3> P(test::random_matrix(3, 3, 0.5, 1.5));
    Param<double, Dynamic, Dynamic> Q(test::random_matrix(3, 3, 0.5, 1.5));
    const nn::ParamSet<double> params{{"P", P}, {"Q", Q}};
    check_jvp([&] { return prod(hadamard(P, Q)); }, params);
    check_hvp([&] { return prod(hadamard(P, Q)) + prod(tanh(P)) * sum(Q); }, params);
    for (const int zeros : {1, 2, 3}) {
        SECTION(std::to_string(zeros) + " zeros") {
            for (int k = 0; k < zeros; ++k) P.value()(k, 2 - k) = 0.0;  // exactly zero: the exact paths
            check_jvp([&] { return prod(P) + prod(Q); }, params);
            // The gradient is a polynomial: central differences step off the zeros exactly.
            check_hvp([&] { return prod(P) + prod(P) * prod(Q); }, params, 1e-6);
        }
    }
}

TEST_CASE("jvp and hvp of stationary_ar1, phi and the innovations used more than once") {
    Param<double, Dynamic, 1> e(test::random_matrix(7, 1));
    Param<double, 1, 1> raw(Eigen::Matrix<double, 1, 1>::Constant(0.4));
    const nn::ParamSet<double> params{{"raw", raw}, {"e", e}};
    auto u = [&] { return stationary_ar1(tanh(raw), hadamard(e, e) * 0.5 + e); };
    check_jvp(u, params);
    check_hvp([&] { return scalar_of(u()) + sum(square(raw)) * sum(e); }, params);
}

TEST_CASE("jvp and hvp of pooling, upsampling and a channel bias") {
    Param<double, 2 * 4 * 4, Dynamic> X(test::random_matrix(32, 3));
    Param<double, 2, 1> bias(test::random_matrix(2, 1));
    const nn::ParamSet<double> params{{"X", X}, {"bias", bias}};
    auto images = [&] { return as_images<2, 4, 4>(evaluate(hadamard(X, X) + X)); };
    SECTION("max_pool2d") {
        check_jvp([&] { return max_pool2d<2>(images()).flat(); }, params);
        check_hvp([&] { return scalar_of(max_pool2d<3>(images(), stride<1>, padding<1>).flat()); }, params);
    }
    SECTION("avg_pool2d") {
        check_jvp([&] { return avg_pool2d<2>(images()).flat(); }, params);
        check_hvp([&] { return scalar_of(avg_pool2d<3>(images(), stride<2>, padding<1>).flat()); }, params);
    }
    SECTION("upsample_nearest and add_channel_bias") {
        check_jvp([&] { return add_channel_bias(upsample_nearest<2, 1>(images()), bias).flat(); }, params);
        check_hvp([&] { return scalar_of(add_channel_bias(upsample_nearest<2>(images()), tanh(bias)).flat()); },
                  params);
    }
}
