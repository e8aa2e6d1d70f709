// dropout, layer_norm, item() and detach(): dropout's mask (its rate, its scale, its seed,
// its gradient) and modes; layer_norm's values and gradients against finite differences
// with its scale and shift; a Var's one number; a gradient stopped without a copy.

#include <cmath>
#include <random>

#include <catch2/catch.hpp>

#include <tapestry/io/checkpoint.hpp>
#include <tapestry/nn/batch_norm.hpp>
#include <tapestry/nn/optim/sgd.hpp>

#include "helpers.hpp"
#include "temp_files.hpp"

using namespace tapestry;
using test::gradient_tolerance;
using test::MessageContains;
using test::random_matrix;
using test::random_param;

TEST_CASE("dropout zeroes about p of the elements and scales the rest by 1 / (1 - p)") {
    Param<double, Dynamic, Dynamic> X(Eigen::MatrixXd::Constant(100, 100, 2.0));
    std::mt19937_64 rng(7);
    Tape tape;
    const Eigen::MatrixXd y = dropout(X, 0.3, rng).value();
    const double dropped = static_cast<double>((y.array() == 0.0).count()) / 10000.0;
    CHECK(std::abs(dropped - 0.3) < 4 * std::sqrt(0.3 * 0.7 / 10000.0));
    CHECK(((y.array() == 0.0) || (y.array() == 2.0 / 0.7)).all());
}

TEST_CASE("dropout's mask is the seed's, and its gradient passes through the kept elements only") {
    auto X = random_param<4, 5>(4, 5);
    Tape tape;
    std::mt19937_64 first(42), second(42);
    Var<double, 4, 5> y = dropout(X, 0.5, first);
    Var<double, 4, 5> again = dropout(X, 0.5, second);
    CHECK(y.value() == again.value());
    tape.backward(sum(y * 3.0));
    const Eigen::ArrayXXd kept = (y.value().array() != 0.0).cast<double>();
    CHECK(X.grad().array().isApprox(kept * 3.0 * 2.0));

    // With the mask fixed by its seed, the gradient is a plain one: check it numerically.
    const auto model = [&] {
        std::mt19937_64 rng(3);
        return sum(square(dropout(hadamard(X, X), 0.4, rng, Mode::Train) + X));
    };
    CHECK(gradcheck(model, X) < gradient_tolerance);
}

TEST_CASE("dropout is the identity in evaluation, at p = 0, and zero at p = 1") {
    auto X = random_param<3, 4>(3, 4);
    std::mt19937_64 rng(1);
    CHECK(dropout(X, 0.5, rng).value() == X.value());  // no tape: inference
    {
        Tape tape;
        CHECK(dropout(X, 0.5, rng, Mode::Eval).value() == X.value());
        CHECK(dropout(X, 0.0, rng).value() == X.value());
        CHECK(dropout(X, 1.0, rng).value().isZero());
        const InferenceMode predicting;
        CHECK(dropout(X, 0.5, rng).value() == X.value());
    }
    CHECK((dropout(X, 0.999, rng, Mode::Train).value().array() == 0.0).count() >= 6);
}

TEST_CASE("dropout rejects a probability outside [0, 1]") {
    Param<double, 2, 2> X;
    std::mt19937_64 rng(1);
    CHECK_THROWS_MATCHES(dropout(X, 1.5, rng), value_error, MessageContains("must lie in [0, 1]"));
    CHECK_THROWS_AS(dropout(X, -0.1, rng), value_error);
    CHECK_THROWS_AS(dropout(X, std::nan(""), rng), value_error);
}

TEST_CASE("layer_norm standardises each column, then scales and shifts it") {
    auto X = random_param<Dynamic, Dynamic>(6, 4, -3.0, 5.0);
    auto gamma = random_param<Dynamic, 1>(6, 1);
    auto beta = random_param<Dynamic, 1>(6, 1);
    const Eigen::MatrixXd y = layer_norm(X, gamma, beta, 1e-5).value();
    for (Index j = 0; j < 4; ++j) {
        const Eigen::VectorXd x = X.value().col(j);
        const double mean = x.mean();
        const double variance = (x.array() - mean).square().mean();
        const Eigen::VectorXd expected =
            ((x.array() - mean) / std::sqrt(variance + 1e-5)) * gamma.value().array() + beta.value().array();
        CHECK(y.col(j).isApprox(expected, 1e-13));
    }
}

TEST_CASE("layer_norm's gradients match finite differences, the input used twice") {
    auto X = random_param<5, Dynamic>(5, 3);
    auto gamma = random_param<5, 1>(5, 1);
    auto beta = random_param<5, 1>(5, 1);
    const Eigen::MatrixXd w = random_matrix(5, 3);
    CHECK(gradcheck([&] { return sum(hadamard(layer_norm(X, gamma, beta), constant(w) + X)); }, X, gamma, beta) <
          gradient_tolerance);
    CHECK(gradcheck([&] { return sum(square(layer_norm(tanh(X) * 3.0, 0.1))); }, X) < gradient_tolerance);
}

TEST_CASE("layer_norm's scale and shift: computed, shared, of Dynamic rows, or the only trainable inputs") {
    auto X = random_param<Dynamic, Dynamic>(6, 4, -2.0, 3.0);
    auto v = random_param<Dynamic, 1>(6, 1);
    const Eigen::MatrixXd w = random_matrix(6, 4);
    // The same column as scale and (computed) shift, used again after the node.
    CHECK(gradcheck([&] { return sum(hadamard(layer_norm(X, v, tanh(v) * 2.0, 0.01), constant(w)) + v); }, X, v) <
          gradient_tolerance);
    // A computed scale, and an input that needs no gradient: only gamma and beta get one.
    const Eigen::MatrixXd fixed_input = random_matrix(6, 4);
    auto beta = random_param<Dynamic, 1>(6, 1);
    CHECK(gradcheck([&] { return sum(square(layer_norm(constant(fixed_input), square(v) + 0.5, beta))); }, v, beta) <
          gradient_tolerance);
    // A one-row input: every column standardises to zero, and only beta shows through.
    auto row = random_param<1, Dynamic>(1, 5);
    auto g1 = random_param<1, 1>(1, 1);
    auto b1 = random_param<1, 1>(1, 1);
    CHECK(gradcheck([&] { return sum(square(layer_norm(row, g1, b1) + row)); }, row, g1, b1) < gradient_tolerance);
}

TEST_CASE("layer_norm with scale and shift agrees with the standardisation followed by them") {
    auto X = random_param<Dynamic, Dynamic>(7, 5, -3.0, 4.0);
    auto gamma = random_param<Dynamic, 1>(7, 1);
    auto beta = random_param<Dynamic, 1>(7, 1);
    const Eigen::MatrixXd w = random_matrix(7, 5);
    Tape tape;
    tape.backward(sum(hadamard(layer_norm(X, gamma, beta, 0.1), constant(w))));
    const Eigen::MatrixXd dX = X.grad(), dgamma = gamma.grad(), dbeta = beta.grad();
    X.zero_grad(), gamma.zero_grad(), beta.zero_grad();
    tape.clear();
    tape.backward(sum(hadamard(hadamard(layer_norm(X, 0.1), gamma) + beta, constant(w))));
    CHECK(X.grad().isApprox(dX, 1e-13));
    CHECK(gamma.grad().isApprox(dgamma, 1e-13));
    CHECK(beta.grad().isApprox(dbeta, 1e-13));
}

TEST_CASE("layer_norm of a constant column gives zeros with finite gradients; eps must be positive") {
    Param<double, 3, 2> X(Eigen::Matrix<double, 3, 2>::Constant(4.0));
    Tape tape;
    Var<double, 3, 2> y = layer_norm(X);
    CHECK(y.value().isZero());
    tape.backward(sum(square(y + 1.0)));
    CHECK(X.grad().allFinite());
    CHECK_THROWS_AS(layer_norm(X, 0.0), value_error);
}

TEST_CASE("item() reads a 1x1 Var, a Dynamic one only if it is 1x1") {
    auto X = random_param<3, 3>(3, 3);
    const Var<double, 1, 1> s = sum(X);
    CHECK(s.item() == Approx(X.value().sum()).epsilon(1e-15));
    CHECK(static_cast<double>(s) == s.item());
    const Var<double, Dynamic, Dynamic> d = block(X, 0, 0, 1, 1);
    CHECK(d.item() == X.value()(0, 0));
    const Var<double, Dynamic, Dynamic> wide = block(X, 0, 0, 1, 2);
    CHECK_THROWS_MATCHES(wide.item(), shape_error, MessageContains("1x2 and 1x1"));
}

TEST_CASE("detach stops the gradient: a Var's value shared, not copied") {
    auto X = random_param<3, 2>(3, 2);
    Tape tape;
    Var<double, 3, 2> h = tanh(X);
    const auto stopped = detach(h);
    CHECK(stopped.value().data() == h.value().data());
    CHECK_FALSE(stopped.requires_grad());
    tape.backward(sum(hadamard(h, stopped)));  // d/dX of h * const(h) = (1 - h^2) h
    const Eigen::ArrayXXd t = X.value().array().tanh();
    CHECK(X.grad().array().isApprox((1.0 - t.square()) * t, 1e-14));
    const auto from_param = stop_gradient(X);
    CHECK_FALSE(from_param.requires_grad());
    CHECK(from_param.value() == X.value());
}

TEST_CASE("batch norm standardises each row across the batch in training, and updates its running statistics") {
    nn::BatchNorm<double, 4> bn(4, /*momentum=*/0.25);
    bn.scale.value() = random_matrix(4, 1);
    bn.shift.value() = random_matrix(4, 1);
    const Eigen::MatrixXd x = random_matrix(4, 6, -2.0, 3.0);
    Param<double, 4, Dynamic> X(x);
    Tape tape;
    const Eigen::MatrixXd y = bn(X).value();
    for (Index i = 0; i < 4; ++i) {
        const Eigen::RowVectorXd row = x.row(i);
        const double mean = row.mean();
        const double variance = (row.array() - mean).square().mean();
        const Eigen::RowVectorXd expected =
            ((row.array() - mean) / std::sqrt(variance + 1e-5)) * bn.scale.value()(i) + bn.shift.value()(i);
        CHECK(y.row(i).isApprox(expected, 1e-13));
        CHECK(bn.running_mean.value()(i) == Approx(0.25 * mean).epsilon(1e-14));
        CHECK(bn.running_var.value()(i) == Approx(0.75 + 0.25 * variance * 6.0 / 5.0).epsilon(1e-14));
    }
}

TEST_CASE("batch norm's gradients match finite differences, in training and in evaluation") {
    nn::BatchNorm<double, Dynamic> bn(3);
    bn.scale.value() = random_matrix(3, 1);
    bn.shift.value() = random_matrix(3, 1);
    auto X = random_param<3, Dynamic>(3, 5);
    const Eigen::MatrixXd w = random_matrix(3, 5);
    CHECK(gradcheck([&] { return sum(hadamard(bn(X, Mode::Train), constant(w) + X)); }, X, bn.scale, bn.shift) <
          gradient_tolerance);
    bn.running_var.value() = random_matrix(3, 1, 0.5, 2.0);
    CHECK(gradcheck([&] { return sum(square(bn(tanh(X), Mode::Eval))); }, X, bn.scale, bn.shift) < gradient_tolerance);
}

TEST_CASE("batch norm in evaluation reads its running statistics, and a ParamSet carries them unchanged by steps") {
    nn::BatchNorm<double, 2> bn;
    bn.running_mean.value() << 1.0, -2.0;
    bn.running_var.value() << 4.0, 0.25;
    Param<double, 2, 3> X(random_matrix(2, 3));
    const Eigen::MatrixXd y = bn(X).value();  // no tape: evaluation
    Eigen::MatrixXd expected = X.value();
    expected.row(0) = (expected.row(0).array() - 1.0) / std::sqrt(4.0 + 1e-5);
    expected.row(1) = (expected.row(1).array() + 2.0) / std::sqrt(0.25 + 1e-5);
    CHECK(y.isApprox(expected, 1e-14));

    nn::ParamSet<double> params{{"x", X}};
    bn.add_to(params, "bn");
    CHECK(params.find("bn.running_var") < params.size());
    nn::OptimizerOptions options;
    options.lr = nn::lr::fixed(0.1);
    options.weight_decay = 0.1;
    nn::Sgd<double> sgd(params, options, {.momentum = 0.9});
    Eigen::Vector2d expected_mean = bn.running_mean.value();
    for (int step = 0; step < 3; ++step) {
        expected_mean = 0.9 * expected_mean + 0.1 * X.value().rowwise().mean();
        Tape tape;
        tape.backward(sum(square(bn(X))));
        sgd.step();
    }
    // The forward passes moved the running mean, the optimizer (which moved scale) did not.
    CHECK(bn.scale.value() != Eigen::Vector2d::Ones());
    CHECK(bn.running_mean.value().isApprox(expected_mean, 1e-14));

    // Saved and loaded with the other Params.
    const test::TempDir dir;
    io::save_params(dir.file("bn.safetensors"), params);
    const Eigen::Vector2d saved = bn.running_var.value();
    bn.running_var.value().setConstant(7.0);
    io::load_params(dir.file("bn.safetensors"), params);
    CHECK(bn.running_var.value() == saved);
}

TEST_CASE("batch norm rejects a batch of one in training and a wrong number of features") {
    nn::BatchNorm<double, Dynamic> bn(3);
    Param<double, Dynamic, Dynamic> one(3, 1), wrong(4, 5);
    Tape tape;
    CHECK_THROWS_MATCHES(bn(one), value_error, MessageContains("at least 2 examples"));
    CHECK_THROWS_MATCHES(bn(wrong), shape_error, MessageContains("4x5 and 3x1"));
    CHECK_THROWS_AS((nn::BatchNorm<double, Dynamic>(3, 1.5)), value_error);
}

TEST_CASE("the norms check their sizes and eps in their own scalar type, before recording") {
    CHECK_THROWS_AS((nn::BatchNorm<double, Dynamic>()), value_error);  // how many features?
    CHECK_THROWS_AS((nn::BatchNorm<double, 4>(3)), value_error);
    CHECK_THROWS_AS((nn::BatchNorm<float, 3>(3, 0.1, 1e-50)), value_error);  // 0 in float
    Param<float, 3, 2> X(Eigen::Matrix<float, 3, 2>::Constant(1.0f));
    CHECK_THROWS_AS(layer_norm(X, 1e-50), value_error);
    CHECK_THROWS_AS(layer_norm(X, 1e39), value_error);  // finite in double, inf in float
    CHECK_THROWS_AS((nn::BatchNorm<float, 3>(3, 0.1, 1e39)), value_error);

    nn::BatchNorm<double, 3> bn;
    Param<double, 3, Dynamic> Y(random_matrix(3, 4));
    Param<double, Dynamic, 1> wrong_gamma(Eigen::VectorXd::Ones(2));
    Param<double, Dynamic, 1> beta(Eigen::VectorXd::Zero(3));
    Param<double, Dynamic, Dynamic> too_many(random_matrix(4, 4));
    Tape tape;
    CHECK_THROWS_AS(bn(tanh(too_many)), shape_error);
    CHECK_THROWS_MATCHES(layer_norm(tanh(Y), wrong_gamma, beta), shape_error, MessageContains("3x4 and 2x1"));
    CHECK(tape.size() == 0);
}

TEST_CASE("a 1x1 Var converts explicitly to any arithmetic type") {
    Param<double, 2, 2> X(Eigen::Matrix2d::Constant(0.75));
    const Var<double, 1, 1> s = sum(X);
    CHECK(static_cast<float>(s) == 3.0f);
    CHECK(static_cast<int>(s) == 3);
}
