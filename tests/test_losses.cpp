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

// Summed or averaged over column-major operands with long columns, the loss is one node
// that keeps sigmoid(y) - t from its forward for its backward (kernels/logistic_loss.hpp);
// otherwise, and per example (Reduction::None), it is the fused elementwise form. Both
// must give the same loss and gradients.
namespace {
// The one pass keeps one value per logit on the tape; the fused form keeps none.
template <class X, class Target>
bool takes_the_one_pass(X& x, const Target& target) {
    Tape tape;
    auto loss = sigmoid_cross_entropy(x, constant_view(target), Reduction::Sum);  // the target read in place
    const auto logits = static_cast<std::size_t>(x.value().size());
    return tape.bytes_used().values_and_steps >= logits * sizeof(typename X::Scalar);
}
}  // namespace

TEST_CASE("sigmoid_cross_entropy summed keeps its derivative: the same as per example, summed") {
    // 37 and 40 rows: long columns that end in part of a packet; a fixed 40 x 3 (Dynamic
    // in its kernel form) and a single column (cut by rows among threads).
    auto check = []<int R, int C>(Index rows, Index cols) {
        INFO(rows << "x" << cols);
        auto W = random_param<R, R>(rows, rows);
        auto b = random_param<R, 1>(rows, 1);
        auto Z = random_param<R, C>(rows, cols, -3.0, 3.0);
        const Eigen::MatrixXd target = random_matrix(rows, cols, 0.0, 1.0);
        REQUIRE(takes_the_one_pass(Z, target));
        // W used twice, as W and W^T; the target a constant, then a Param.
        auto logits = [&] { return W.transpose() * tanh(W * Z) * (1.0 / static_cast<double>(rows)) + b; };
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
        // Averaged: a sum of 120-185 losses of about a unit each rounds, at gradcheck's step
        // of 1e-6, to 1e-6 of a small gradient component (the sum's gradients are the same
        // node's, checked against the fused form above).
        CHECK(gradcheck([&] { return sigmoid_cross_entropy(logits(), target); }, W, b, Z) < gradient_tolerance);
        auto T = random_param<R, C>(rows, cols, 0.0, 1.0);
        CHECK(gradcheck([&] { return sigmoid_cross_entropy(logits(), T); }, W, b, Z, T) < gradient_tolerance);
        // The target only: its gradient is -y scale.
        CHECK(gradcheck([&] { return sigmoid_cross_entropy(constant(Z.value()), T); }, T) < gradient_tolerance);
    };
    check.operator()<Dynamic, Dynamic>(37, 5);
    check.operator()<40, 3>(40, 3);
    check.operator()<Dynamic, 1>(40, 1);
}

TEST_CASE("sigmoid_cross_entropy takes the fused form for short columns and operands not stored by columns") {
    const Eigen::MatrixXd short_target = random_matrix(3, 50, 0.0, 1.0);
    auto Short = random_param<Dynamic, Dynamic>(3, 50, -3.0, 3.0);
    CHECK_FALSE(takes_the_one_pass(Short, short_target));
    // Each against the per-example form summed; each compiles (the one pass reads down columns).
    auto agrees = [](auto loss_of_reduction, auto&... params) {
        auto loss_of = [&](auto reduction) {
            for (auto* p : {&params...}) p->zero_grad();
            Tape tape;
            auto loss = loss_of_reduction(reduction);
            tape.backward(loss);
            std::vector<Eigen::MatrixXd> result{loss.value()};
            (result.push_back(params.grad()), ...);
            return result;
        };
        const auto summed = loss_of(Reduction::Sum);
        const auto per_example = loss_of(Reduction::None);
        for (std::size_t k = 0; k < summed.size(); ++k) CHECK(summed[k].isApprox(per_example[k], 1e-13));
        CHECK(gradcheck([&] { return loss_of_reduction(Reduction::Mean); }, params...) < gradient_tolerance);
    };
    auto sum_of = [](auto loss) {
        if constexpr (std::is_same_v<decltype(loss), Var<double, 1, 1>>)
            return loss;
        else
            return sum(loss);
    };
    SECTION("a transposed Param against a matrix") {
        auto X = random_param<Dynamic, Dynamic>(40, 5, -3.0, 3.0);
        const Eigen::MatrixXd target = random_matrix(5, 40, 0.0, 1.0);
        agrees([&](auto r) { return sum_of(sigmoid_cross_entropy(X.transpose(), target, r)); }, X);
        agrees([&](auto r) { return sum_of(sigmoid_cross_entropy(constant(target), X.transpose(), r)); }, X);
    }
    SECTION("a fixed row (stored row-major) against a Dynamic matrix") {
        auto X = random_param<1, 4>(1, 4, -3.0, 3.0);
        const Eigen::MatrixXd target = random_matrix(1, 4, 0.0, 1.0);
        agrees([&](auto r) { return sum_of(sigmoid_cross_entropy(X, target, r)); }, X);
    }
    SECTION("a row and a block of a fixed Param") {
        auto X = random_param<4, 4>(4, 4, -3.0, 3.0);
        const Eigen::MatrixXd target = random_matrix(1, 4, 0.0, 1.0);
        agrees([&](auto r) { return sum_of(sigmoid_cross_entropy(row(X, 1), target, r)); }, X);
        agrees([&](auto r) { return sum_of(sigmoid_cross_entropy(block<1, 4>(X, 2, 0), target, r)); }, X);
    }
}

TEMPLATE_TEST_CASE("sigmoid_cross_entropy summed gives the same bits with and without a tape", "", float, double) {
    using T = TestType;
    using Matrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>;
    auto check = [](auto& X, const auto& t, double float_tolerance = 1e-5) {
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
        const Matrix targets = t;  // once: a copy per element would be quadratic
        for (Index i = 0; i < y.size(); ++i) {
            const long double v = y(i), target = targets(i);
            expected += std::max(v, 0.0L) - v * target + std::log1p(std::exp(-std::abs(v)));
        }
        CHECK(static_cast<long double>(without_tape) ==
              Approx(expected).epsilon(std::is_same_v<T, float> ? float_tolerance : 1e-12));
    };
    SECTION("columns of 301 rows: cut among threads on two, and ending in part of a packet") {
        Param<T, Dynamic, Dynamic> X(Matrix::Random(301, 300) * T(60));  // logits from -60 to 60
        check(X, Matrix((Matrix::Random(301, 300).array() + T(1)) / T(2)));
    }
    SECTION("a 1 x B row and 3 x B (the fused form: columns shorter than four packets)") {
        for (Index rows : {1, 3}) {
            Param<T, Dynamic, Dynamic> X(Matrix::Random(rows, 100000) * T(60));
            check(X, Matrix((Matrix::Random(rows, 100000).array() + T(1)) / T(2)), 1e-4);
        }
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
