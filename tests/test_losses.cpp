// Losses: values against plain formulas, gradients against finite differences
// (for the prediction and, where it has one, the target), and stability at
// extreme inputs in float and double.

#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>
#include <vector>

#include <catch2/catch.hpp>

#include "helpers.hpp"

using namespace tapestry;
using test::gradient_tolerance;
using test::random_matrix;
using test::random_param;

TEST_CASE("mse is the mean of squared differences, or their sum with Reduction::Sum") {
    auto P = random_param<4, Dynamic>(4, 6);
    const Eigen::MatrixXd target = random_matrix(4, 6);
    const double sum_of_squares = (P.value() - target).squaredNorm();

    CHECK(mse(P, target).value()(0, 0) == Approx(sum_of_squares / 24.0).epsilon(1e-14));
    CHECK(mse(P, target, Reduction::Sum).value()(0, 0) == Approx(sum_of_squares).epsilon(1e-14));
    CHECK(mse(P, constant(target)).value()(0, 0) == Approx(sum_of_squares / 24.0).epsilon(1e-14));

    CHECK(gradcheck([&] { return mse(tanh(P), target); }, P) < gradient_tolerance);
    CHECK(gradcheck([&] { return mse(P, target, Reduction::Sum); }, P) < gradient_tolerance);
    SECTION("a trainable target receives the opposite gradient") {
        auto Q = random_param<4, Dynamic>(4, 6);
        CHECK(gradcheck([&] { return mse(P, Q); }, P, Q) < gradient_tolerance);
    }
}

namespace {
// The textbook formula, fine at moderate inputs: -(t log s + (1 - t) log(1 - s)).
double naive_binary_cross_entropy(double x, double t) {
    const double s = 1.0 / (1.0 + std::exp(-x));
    return -(t * std::log(s) + (1.0 - t) * std::log(1.0 - s));
}
}  // namespace

TEST_CASE("sigmoid_cross_entropy equals binary cross-entropy of sigmoid(logits)") {
    auto X = random_param<Dynamic, Dynamic>(5, 3, -4.0, 4.0);
    const Eigen::MatrixXd target = random_matrix(5, 3, 0.0, 1.0);
    double expected = 0;
    for (Index i = 0; i < target.size(); ++i) expected += naive_binary_cross_entropy(X.value()(i), target(i));

    CHECK(sigmoid_cross_entropy(X, target, Reduction::Sum).value()(0, 0) == Approx(expected).epsilon(1e-12));
    CHECK(sigmoid_cross_entropy(X, target).value()(0, 0) == Approx(expected / 15.0).epsilon(1e-12));
    CHECK(gradcheck([&] { return sigmoid_cross_entropy(X, target); }, X) < gradient_tolerance);
    SECTION("a trainable target") {
        auto T = random_param<Dynamic, Dynamic>(5, 3, 0.0, 1.0);
        CHECK(gradcheck([&] { return sigmoid_cross_entropy(X * 2.0, T); }, X, T) < gradient_tolerance);
    }
}

// Summed or averaged, the loss is one node that keeps sigmoid(y) - t from its forward for
// its backward (kernels/logistic_loss.hpp); per example (Reduction::None) it is the fused
// elementwise form. Both must give the same loss and gradients.
TEST_CASE("sigmoid_cross_entropy summed keeps its derivative: the same as per example, summed") {
    test::for_each_shape([]<int R, int C>(Index rows, Index cols) {
        INFO(rows << "x" << cols);
        auto W = random_param<R, R>(rows, rows);
        auto b = random_param<R, 1>(rows, 1);
        auto Z = random_param<R, C>(rows, cols, -3.0, 3.0);
        const Eigen::MatrixXd target = random_matrix(rows, cols, 0.0, 1.0);
        // W used twice, as W and W^T; the target a constant, then a Param.
        auto logits = [&] { return W.transpose() * tanh(W * Z) + b; };
        auto summed = [&] { return sigmoid_cross_entropy(logits(), target, Reduction::Sum); };
        auto per_example = [&] { return sum(sigmoid_cross_entropy(logits(), target, Reduction::None)); };

        auto gradients_of = [&](auto loss_of) {
            W.zero_grad(), b.zero_grad(), Z.zero_grad();
            Tape tape;
            auto loss = loss_of();
            tape.backward(loss);
            return std::vector<Eigen::MatrixXd>{loss.value(), W.grad(), b.grad(), Z.grad()};
        };
        const auto kept = gradients_of(summed), fused = gradients_of(per_example);
        for (std::size_t k = 0; k < kept.size(); ++k) CHECK(kept[k].isApprox(fused[k], 1e-13));
        // A sum of up to 35 losses of a few units each: at the default step of 1e-6 its
        // rounding (1e-16 of the sum, over 1e-6) is 1e-6 of a small gradient component.
        const GradcheckOptions step{.step = 1e-5};
        CHECK(gradcheck(step, summed, W, b, Z) < gradient_tolerance);
        CHECK(gradcheck([&] { return sigmoid_cross_entropy(logits(), target); }, W, b, Z) < gradient_tolerance);

        auto T = random_param<R, C>(rows, cols, 0.0, 1.0);
        CHECK(gradcheck(
                  step, [&] { return sigmoid_cross_entropy(logits(), T, Reduction::Sum); }, W, b, Z, T) <
              gradient_tolerance);
        // The target only: its gradient is -y scale.
        CHECK(gradcheck([&] { return sigmoid_cross_entropy(constant(Z.value()), T); }, T) < gradient_tolerance);
    });
}

TEMPLATE_TEST_CASE("sigmoid_cross_entropy summed gives the same bits with and without a tape", "", float, double) {
    using T = TestType;
    using Matrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>;
    auto check = [](auto& X, const auto& t) {
        const Matrix y = X.value();
        T without_tape;
        {
            InferenceMode no_recording;
            without_tape = sigmoid_cross_entropy(X, t, Reduction::Sum).value()(0, 0);
        }
        Tape tape;
        auto loss = sigmoid_cross_entropy(X, t, Reduction::Sum);
        CHECK(loss.value()(0, 0) == without_tape);
        tape.backward(loss);
        const Matrix expected_gradient = (T(1) / (T(1) + (-y.array()).exp())).matrix() - Matrix(t);
        CHECK(Matrix(X.grad()).isApprox(expected_gradient, std::is_same_v<T, float> ? T(1e-6) : T(1e-14)));
        // Against the formula in long double.
        long double expected = 0;
        for (Index i = 0; i < y.size(); ++i) {
            const long double v = y(i), target = Matrix(t)(i);
            expected += std::max(v, 0.0L) - v * target + std::log1p(std::exp(-std::abs(v)));
        }
        CHECK(static_cast<long double>(without_tape) ==
              Approx(expected).epsilon(std::is_same_v<T, float> ? 1e-5 : 1e-12));
    };
    SECTION("columns of 301 rows: cut among threads on two, and ending in part of a packet") {
        Param<T, Dynamic, Dynamic> X(Matrix::Random(301, 300) * T(60));  // logits from -60 to 60
        check(X, Matrix((Matrix::Random(301, 300).array() + T(1)) / T(2)));
    }
    SECTION("a row vector of fixed length (stored row-major)") {
        using Row = Eigen::Matrix<T, 1, 1001>;
        Param<T, 1, 1001> X(Row::Random() * T(60));
        check(X, Row((Row::Random().array() + T(1)) / T(2)));
    }
}

namespace {
double naive_softmax_cross_entropy(const Eigen::MatrixXd& z, const std::vector<int>& labels) {
    double total = 0;
    for (Index j = 0; j < z.cols(); ++j) {
        double denominator = 0;
        for (Index i = 0; i < z.rows(); ++i) denominator += std::exp(z(i, j));
        total += -std::log(std::exp(z(labels[static_cast<std::size_t>(j)], j)) / denominator);
    }
    return total;
}
}  // namespace

TEST_CASE("softmax_cross_entropy is the mean over columns of -log softmax at the label") {
    auto Z = random_param<6, Dynamic>(6, 4, -3.0, 3.0);
    const std::vector<int> labels{0, 5, 2, 2};
    const double expected = naive_softmax_cross_entropy(Z.value(), labels);

    CHECK(softmax_cross_entropy(Z, labels).value()(0, 0) == Approx(expected / 4.0).epsilon(1e-12));
    CHECK(softmax_cross_entropy(Z, labels, Reduction::Sum).value()(0, 0) == Approx(expected).epsilon(1e-12));
    const Eigen::VectorXi eigen_labels = Eigen::Map<const Eigen::VectorXi>(labels.data(), 4);
    CHECK(softmax_cross_entropy(Z, eigen_labels).value()(0, 0) == Approx(expected / 4.0).epsilon(1e-12));

    CHECK(gradcheck([&] { return softmax_cross_entropy(Z, labels); }, Z) < gradient_tolerance);
    SECTION("of an expression, with the weights used twice") {
        auto W = random_param<6, 6>(6, 6);
        CHECK(gradcheck([&] { return softmax_cross_entropy(W * tanh(W * Z), labels, Reduction::Sum); }, W, Z) <
              gradient_tolerance);
    }
    SECTION("a label out of range is a value_error that names it") {
        const std::vector<int> bad{0, 6, 1, 1};
        CHECK_THROWS_MATCHES(softmax_cross_entropy(Z, bad), value_error, test::MessageContains("label 6 of column 1"));
        CHECK_THROWS_AS(softmax_cross_entropy(Z, std::vector<int>{0, 1}), shape_error);
    }
}

TEMPLATE_TEST_CASE("losses and activations stay finite at extreme inputs", "", float, double) {
    using T = TestType;
    using Matrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>;
    Matrix extreme(2, 3);
    extreme << T(-1e4), T(-50), T(0), T(1e4), T(50), T(-1e-30);
    const Matrix half = Matrix::Constant(2, 3, T(0.5));
    const Matrix one_hot_ish = (Matrix(2, 3) << 1, 0, 1, 0, 1, 0).finished();
    Param<T, Dynamic, Dynamic> X(extreme);

    auto all_finite = [](const auto& m) { return m.array().isFinite().all(); };
    {
        Tape tape;
        auto loss = sigmoid_cross_entropy(X, one_hot_ish, Reduction::Sum);
        CHECK(std::isfinite(loss.value()(0, 0)));
        // Two logits of 1e4 on the wrong side cost 1e4 each; the two near 0 cost log 2 each.
        CHECK(loss.value()(0, 0) == Approx(2e4 + 2 * std::log(2.0)).epsilon(1e-6));
        tape.backward(loss);
        CHECK(all_finite(X.grad()));
    }
    X.zero_grad();
    {
        Tape tape;
        auto loss = softmax_cross_entropy(X, std::vector<int>{1, 0, 1});
        CHECK(std::isfinite(loss.value()(0, 0)));
        tape.backward(loss);
        CHECK(all_finite(X.grad()));
    }
    SECTION("all-equal logits give log(classes)") {
        Param<T, 4, 2> E;
        CHECK(softmax_cross_entropy(E, std::vector<int>{3, 0}).value()(0, 0) == Approx(std::log(4.0)));
    }
    SECTION("activations") {
        Tape tape;
        Var<T, Dynamic, Dynamic> s = sigmoid(X), t = tanh(X), p = softplus(X), r = relu(X);
        CHECK(all_finite(s.value()));
        CHECK(all_finite(t.value()));
        CHECK(all_finite(p.value()));
        CHECK(p.value()(1, 0) == Approx(1e4));  // softplus(1e4) = 1e4, not inf
        CHECK(s.value()(0, 0) >= T(0));
        CHECK(s.value()(0, 0) < T(1e-30));
        CHECK(s.value()(1, 0) == T(1));
        tape.backward(sum(s + t + p + r) + mse(X, half));
        CHECK(all_finite(X.grad()));
    }
}
