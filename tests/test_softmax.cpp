// softmax, log_softmax and nll_loss: values against the textbook formulas, gradients
// against central finite differences (fixed and Dynamic, columns and rows, a Param used
// twice), stability at logits of +-1e4 and at masked (-inf) classes, nll_loss against
// softmax_cross_entropy, and Reduction::None for every loss.

#include <cmath>
#include <limits>
#include <type_traits>
#include <vector>

#include <catch2/catch.hpp>

#include "helpers.hpp"

using namespace tapestry;
using test::for_each_shape;
using test::gradient_tolerance;
using test::MessageContains;
using test::random_matrix;
using test::random_param;

namespace {
// exp(x) / sum(exp(x)) down each column, straight from the definition.
Eigen::MatrixXd textbook_softmax(const Eigen::MatrixXd& x) {
    Eigen::MatrixXd e = x.array().exp().matrix();
    for (Index j = 0; j < e.cols(); ++j) e.col(j) /= e.col(j).sum();
    return e;
}

std::vector<int> random_labels(Index classes, Index examples) {
    std::vector<int> labels(static_cast<std::size_t>(examples));
    for (auto& label : labels) label = static_cast<int>(test::rng()() % static_cast<unsigned>(classes));
    return labels;
}
}  // namespace

TEST_CASE("softmax and log_softmax match the definition down columns and along rows") {
    for_each_shape([]<int R, int C>(Index rows, Index cols) {
        INFO("shape " << rows << "x" << cols);
        auto X = random_param<R, C>(rows, cols, -3.0, 3.0);
        const Eigen::MatrixXd by_column = textbook_softmax(X.value());
        const Eigen::MatrixXd by_row = textbook_softmax(X.value().transpose()).transpose();
        CHECK(softmax(X).value().isApprox(by_column, 1e-14));
        CHECK(softmax(X, Each::Row).value().isApprox(by_row, 1e-14));
        CHECK(log_softmax(X).value().isApprox(by_column.array().log().matrix(), 1e-13));
        CHECK(log_softmax(X, Each::Row).value().isApprox(by_row.array().log().matrix(), 1e-13));
        STATIC_REQUIRE(std::is_same_v<decltype(softmax(X)), Var<double, R, C>>);
    });
}

// A column as long as a packet or longer is reduced by Eigen, a shorter one by a plain
// loop (kernels/column_softmax.hpp): 40 classes take Eigen's at any packet width, 3 the
// loop with AVX (packets of 4 or 8 doubles), 1 the loop with SSE2 (2 doubles).
TEST_CASE("softmax and log_softmax of long and short columns match the definition and finite differences") {
    for (const Index classes : {Index(40), Index(3), Index(1)}) {
        INFO(classes << " classes");
        Param<double, Dynamic, Dynamic> X(random_matrix(classes, 6) * 4.0);
        CHECK(softmax(X).value().isApprox(textbook_softmax(X.value()), 1e-14));
        CHECK(log_softmax(X).value().isApprox(textbook_softmax(X.value()).array().log().matrix(), 1e-13));
        const Eigen::MatrixXd w = random_matrix(classes, 6);
        // A sum over 240 log-probabilities rounds at 1e-14 of 100: at the default step of
        // 1e-6, finite differences are that noisy at 1e-6 of a gradient of 1e-3.
        GradcheckOptions wider_step;
        wider_step.step = 1e-5;
        for (const Each each : {Each::Column, Each::Row}) {
            CHECK(gradcheck(
                      wider_step, [&] { return sum(hadamard(softmax(X, each), constant(w))); }, X) <
                  gradient_tolerance);
            CHECK(gradcheck(
                      wider_step, [&] { return sum(hadamard(log_softmax(X, each), X)); }, X) < gradient_tolerance);
        }
        // The cross-entropy's gradient against its formula, softmax - onehot: with 40 classes
        // finite differences of its sum lose 1e-6 to rounding at their usual step.
        const std::vector<int> labels = random_labels(classes, 6);
        Eigen::MatrixXd expected = textbook_softmax(X.value());
        for (Index j = 0; j < 6; ++j) expected(labels[static_cast<std::size_t>(j)], j) -= 1.0;
        X.zero_grad();
        {
            Tape tape;
            tape.backward(softmax_cross_entropy(X, labels, Reduction::Sum));
        }
        CHECK(X.grad().isApprox(expected, 1e-13));
    }
}

TEST_CASE("softmax's and log_softmax's gradients match finite differences, with a Param used twice") {
    for_each_shape([]<int R, int C>(Index rows, Index cols) {
        INFO("shape " << rows << "x" << cols);
        auto X = random_param<R, C>(rows, cols, -2.0, 2.0);
        auto Y = random_param<R, C>(rows, cols);
        const Eigen::MatrixXd w = random_matrix(rows, cols);
        for (const Each each : {Each::Column, Each::Row}) {
            CHECK(gradcheck([&] { return sum(hadamard(softmax(X + Y, each), constant(w))); }, X, Y) <
                  gradient_tolerance);
            CHECK(gradcheck([&] { return sum(hadamard(log_softmax(hadamard(X, Y), each), X)); }, X, Y) <
                  gradient_tolerance);
        }
    });
}

TEST_CASE("softmax and log_softmax stay finite at logits of +-1e4 and give masked classes probability 0") {
    const double inf = std::numeric_limits<double>::infinity();
    Eigen::Matrix<double, 3, 2> logits;
    logits << 1e4, -inf, -1e4, 2.0, 1e4 - 1.0, -inf;
    Param<double, 3, 2> Z(logits);
    const std::vector<int> labels{0, 1};

    const Eigen::MatrixXd p = softmax(Z).value();
    CHECK(p(1, 0) < 1e-300);  // e^-20000
    CHECK(p(0, 0) == Approx(1.0 / (1.0 + std::exp(-1.0))));
    CHECK(p(0, 1) == 0.0);
    CHECK(p(2, 1) == 0.0);
    CHECK(p(1, 1) == 1.0);
    CHECK(log_softmax(Z).value()(0, 1) == -inf);

    Tape tape;
    Var<double, 1, 1> loss = nll_loss(log_softmax(Z), labels);
    tape.backward(loss);
    CHECK(std::isfinite(loss.value()(0, 0)));
    CHECK(Z.grad().allFinite());
    CHECK(Z.grad()(0, 1) == 0.0);  // a masked class gets no gradient

    // In float, 3 classes are shorter than a packet at any width: the plain-loop reductions.
    Param<float, 3, 2> Zf(logits.cast<float>());
    CHECK(softmax(Zf).value().allFinite());
    CHECK(softmax(Zf).value()(0, 0) == Approx(1.0 / (1.0 + std::exp(-1.0))));
    CHECK(softmax(Zf).value()(0, 1) == 0.0f);
    CHECK(softmax(Zf).value()(2, 1) == 0.0f);
    CHECK(log_softmax(Zf).value().col(0).allFinite());
    {
        Tape float_tape;
        const Eigen::Matrix<float, 3, 2> w = Eigen::Matrix<float, 3, 2>::Constant(0.5f);
        float_tape.backward(sum(hadamard(log_softmax(Zf), constant(w))));
        CHECK(Zf.grad()(0, 1) == 0.5f);  // a masked class passes dy on unchanged, exactly
        CHECK(Zf.grad().allFinite());
    }
}

// Along rows the kernels work on transposed views; a masked class must behave there as it
// does down columns: probability exactly 0, and dy passed on unchanged by log_softmax.
TEST_CASE("along rows, a masked class gets probability 0 and log_softmax passes its gradient on unchanged") {
    const double inf = std::numeric_limits<double>::infinity();
    Eigen::MatrixXd logits = random_matrix(5, 7) * 3.0;  // 5 rows of 7 classes
    logits(0, 2) = -inf;
    logits(3, 0) = -inf;
    logits(3, 6) = -inf;
    const Eigen::MatrixXd w = random_matrix(5, 7);
    const Eigen::MatrixXd p = textbook_softmax(logits.transpose()).transpose();

    Param<double, Dynamic, Dynamic> Z(logits);
    const Eigen::MatrixXd probabilities = softmax(Z, Each::Row).value();
    CHECK(probabilities(0, 2) == 0.0);
    CHECK(probabilities(3, 0) == 0.0);
    CHECK(probabilities(3, 6) == 0.0);
    CHECK(probabilities.isApprox(p, 1e-13));
    {
        Tape tape;  // recorded: log_softmax keeps its exponentials for backward
        tape.backward(sum(hadamard(log_softmax(Z, Each::Row), constant(w))));
        // d/dx sum(w log_softmax(x)) = w - softmax(x) * (the row's sum of w); a masked class gets w
        Eigen::MatrixXd expected = w - (p.array().colwise() * w.rowwise().sum().array()).matrix();
        expected(0, 2) = w(0, 2);
        expected(3, 0) = w(3, 0);
        expected(3, 6) = w(3, 6);
        CHECK(Z.grad().isApprox(expected, 1e-13));
        CHECK(Z.grad()(3, 6) == w(3, 6));
    }
    Z.zero_grad();
    {
        Tape tape;
        tape.backward(sum(hadamard(softmax(Z, Each::Row), constant(w))));
        // d/dx sum(w softmax(x)) = p (w - the row's sum of p w); a masked class gets 0
        const Eigen::VectorXd pw = (p.array() * w.array()).rowwise().sum();
        const Eigen::MatrixXd expected = (p.array() * (w.array().colwise() - pw.array())).matrix();
        CHECK(Z.grad().isApprox(expected, 1e-13));
        CHECK(Z.grad()(0, 2) == 0.0);
    }
}

TEST_CASE("a column whose every class is masked gives NaN, as in PyTorch") {
    const double inf = std::numeric_limits<double>::infinity();
    Param<double, 2, 1> Z(Eigen::Vector2d(-inf, -inf));
    CHECK(softmax(Z).value().array().isNaN().all());
}

TEST_CASE("softmax_cross_entropy gives a masked class (-inf) no gradient, exactly, and an all-masked column NaN") {
    const double inf = std::numeric_limits<double>::infinity();
    Eigen::Matrix<double, 3, 2> logits;
    logits << 1.0, -inf, -inf, 2.0, 0.5, -inf;
    Param<double, 3, 2> Z(logits);
    const std::vector<int> labels{0, 1};
    Tape tape;
    Var<double, 1, 1> loss = softmax_cross_entropy(Z, labels, Reduction::Sum);
    tape.backward(loss);
    // Column 0 is log(e + e^0.5) - 1; column 1 has one class left, its label: a loss of 0.
    CHECK(loss.item() == Approx(std::log(std::exp(1.0) + std::exp(0.5)) - 1.0).epsilon(1e-14));
    CHECK(Z.grad()(1, 0) == 0.0);
    CHECK(Z.grad()(0, 1) == 0.0);
    CHECK(Z.grad()(2, 1) == 0.0);
    CHECK(Z.grad()(1, 1) == 0.0);

    const float masked = -std::numeric_limits<float>::infinity();
    Param<float, 2, 1> all_masked(Eigen::Vector2f(masked, masked));
    CHECK(std::isnan(softmax_cross_entropy(all_masked, std::vector<int>{0}).item()));
}

// An all-masked column is NaN; Eigen's default minimum may drop that NaN, which hid the
// masked class of another column (found by review: this layout in double with SSE2).
TEST_CASE("a masked class gets exactly 0 beside a column whose every class is masked") {
    const double inf = std::numeric_limits<double>::infinity();
    Eigen::MatrixXd logits = Eigen::MatrixXd::Zero(2, 4);
    logits.col(1).setConstant(-inf);
    logits(0, 3) = -inf;
    const std::vector<int> labels{0, 0, 0, 1};
    const Eigen::RowVector4d weights(1.0, 0.0, 1.0, 1.0);  // the NaN column's loss weighs nothing
    Param<double, Dynamic, Dynamic> Z(logits);
    {
        Tape tape;
        tape.backward(sum(hadamard(softmax_cross_entropy(Z, labels, Reduction::None), constant(weights))));
        CHECK(Z.grad()(0, 3) == 0.0);
        CHECK(Z.grad()(1, 3) == 0.0);
        CHECK(Z.grad().col(1).array().isNaN().all());
    }
    Z.zero_grad();
    {
        Tape tape;
        tape.backward(sum(hadamard(nll_loss(log_softmax(Z), labels, Reduction::None), constant(weights))));
        CHECK(Z.grad()(0, 3) == 0.0);  // dy there is 0, passed on unchanged
        CHECK(Z.grad()(1, 3) == 0.0);
    }
}

// Ten classes, the shape of a classifier's loss: every column is shorter than an AVX-512
// packet of floats, and the exponentials are taken over the whole array at once
// (kernels/column_softmax.hpp); 10 x 37 values end in part of a packet at any width.
TEMPLATE_TEST_CASE("softmax_cross_entropy and log_softmax over 10 classes match long double", "", float, double) {
    using T = TestType;
    using Reference = Eigen::Array<long double, Dynamic, Dynamic>;
    const Index classes = 10, examples = 37;
    const Eigen::MatrixXd x = random_matrix(classes, examples, -30.0, 30.0);
    const auto labels = random_labels(classes, examples);
    const Eigen::Matrix<T, Dynamic, Dynamic> z = x.cast<T>();

    // log softmax and softmax in long double, from the same T values.
    Reference log_p = z.template cast<long double>().array();
    for (Index j = 0; j < examples; ++j) {
        const long double top = log_p.col(j).maxCoeff();
        long double total = 0;
        for (Index i = 0; i < classes; ++i) total += std::exp(log_p(i, j) - top);
        log_p.col(j) -= top + std::log(total);
    }
    const Reference p = log_p.exp();
    long double expected_loss = 0;
    Reference expected_gradient = p;
    for (Index j = 0; j < examples; ++j) {
        expected_loss -= log_p(labels[static_cast<std::size_t>(j)], j);
        expected_gradient(labels[static_cast<std::size_t>(j)], j) -= 1;
    }
    const double tolerance = std::is_same_v<T, float> ? 2e-6 : 1e-14;
    const auto close = [&](const auto& actual, const Reference& expected) {
        return ((actual.template cast<long double>().array() - expected).abs() <= tolerance * (1 + expected.abs()))
            .all();
    };

    Param<T, Dynamic, Dynamic> Z(z);
    Param<T, Dynamic, Dynamic> Z_transposed(z.transpose());
    {
        Tape tape;
        Var<T, 1, 1> loss = softmax_cross_entropy(Z, labels, Reduction::Sum);
        tape.backward(loss);
        CHECK(std::abs(loss.item() - expected_loss) <= tolerance * examples * (1 + std::abs(expected_loss)));
        CHECK(close(Z.grad(), expected_gradient));
    }
    {  // a transposed operand
        Tape tape;
        Var<T, 1, 1> loss = softmax_cross_entropy(Z_transposed.transpose(), labels, Reduction::Sum);
        tape.backward(loss);
        CHECK(std::abs(loss.item() - expected_loss) <= tolerance * examples * (1 + std::abs(expected_loss)));
        CHECK(close(Z_transposed.grad().transpose(), expected_gradient));
    }
    Z.zero_grad();
    {
        Tape tape;
        Var<T, Dynamic, Dynamic> log_probabilities = log_softmax(Z);
        CHECK(close(log_probabilities.value(), log_p));
        tape.backward(nll_loss(log_probabilities, labels, Reduction::Sum));
        CHECK(close(Z.grad(), expected_gradient));
    }
    CHECK(close(log_softmax(Z_transposed, Each::Row).value().transpose(), log_p));
    CHECK(close(softmax(Z).value(), p));
}

TEST_CASE("nll_loss of log_softmax is softmax_cross_entropy, in value and gradient") {
    auto Z = random_param<Dynamic, Dynamic>(5, 7, -3.0, 3.0);
    const auto labels = random_labels(5, 7);
    for (const Reduction reduction : {Reduction::Mean, Reduction::Sum}) {
        Eigen::MatrixXd two_step, one_step;
        {
            Tape tape;
            Var<double, 1, 1> loss = nll_loss(log_softmax(Z), labels, reduction);
            tape.backward(loss);
            two_step = Z.grad();
            Z.zero_grad();
            Var<double, 1, 1> direct = softmax_cross_entropy(Z, labels, reduction);
            CHECK(loss.value()(0, 0) == Approx(direct.value()(0, 0)).epsilon(1e-14));
        }
        {
            Tape tape;
            tape.backward(softmax_cross_entropy(Z, labels, reduction));
            one_step = Z.grad();
            Z.zero_grad();
        }
        CHECK(two_step.isApprox(one_step, 1e-13));
    }
}

TEST_CASE("nll_loss's gradient matches finite differences, its value the definition") {
    for_each_shape([]<int R, int C>(Index rows, Index cols) {
        INFO("shape " << rows << "x" << cols);
        auto P = random_param<R, C>(rows, cols);
        const auto labels = random_labels(rows, cols);
        double expected = 0;
        for (Index j = 0; j < cols; ++j) expected -= P.value()(labels[static_cast<std::size_t>(j)], j);
        CHECK(nll_loss(P, labels, Reduction::Sum).item() == Approx(expected).epsilon(1e-14));
        CHECK(nll_loss(P, labels).item() == Approx(expected / static_cast<double>(cols)).epsilon(1e-14));
        CHECK(gradcheck([&] { return nll_loss(log_softmax(hadamard(P, P) - P), labels); }, P) < gradient_tolerance);
        // Read directly, twice (the second adds where the first wrote over a zeroed
        // gradient), and through a transpose of the transpose (a stored operand).
        const auto other = random_labels(rows, cols);
        CHECK(gradcheck([&] { return nll_loss(P, labels, Reduction::Sum) + 2.0 * nll_loss(P, other); }, P) <
              gradient_tolerance);
        CHECK(gradcheck([&] { return nll_loss(P.transpose().transpose(), labels); }, P) < gradient_tolerance);
    });
}

// nll_loss hands its gradient to the log_softmax step that made its operand, which sends
// it straight to the logits (Node::take_one_entry_per_column). Every way that hand-off
// may go wrong, against finite differences: the log-probabilities read by another
// operation as well, recorded before or after nll_loss (the hand-off then joins the
// adjoint the other wrote), by two nll_losses (the second writes the adjoint), logits that
// are a Param used twice or a Var with its own step, the rows' log_softmax (which
// declines), and operands that log_softmax did not make.
TEST_CASE("nll_loss of log_softmax sends its gradient to the logits, with every other use of either") {
    for_each_shape([]<int R, int C>(Index rows, Index cols) {
        INFO("shape " << rows << "x" << cols);
        auto Z = random_param<R, C>(rows, cols, -3.0, 3.0);
        const auto labels = random_labels(rows, cols);
        const auto other = random_labels(rows, cols);
        const Eigen::MatrixXd weights = random_matrix(rows, cols);
        // Losses summed over up to 35 examples and weighted 3x round at 1e-14 of 100, which
        // the default step of 1e-6 turns into errors of 1e-6 (as in the case above).
        GradcheckOptions wider_step;
        wider_step.step = 1e-5;
        const auto check = [&](auto loss) { CHECK(gradcheck(wider_step, loss, Z) < gradient_tolerance); };
        check([&] {
            auto log_probs = log_softmax(Z);
            auto loss = nll_loss(log_probs, labels);
            return loss + sum(hadamard(log_probs, constant(weights)));  // recorded after nll_loss
        });
        check([&] {
            auto log_probs = log_softmax(Z);
            auto weighted = sum(hadamard(log_probs, constant(weights)));  // recorded before nll_loss
            return weighted + nll_loss(log_probs, labels);
        });
        check([&] {
            auto log_probs = log_softmax(Z);
            auto first = nll_loss(log_probs, labels);
            auto weighted = sum(hadamard(log_probs, constant(weights)));
            return first + weighted + 0.5 * nll_loss(log_probs, other);
        });
        check([&] {
            auto log_probs = log_softmax(Z);
            return 3.0 * nll_loss(log_probs, labels, Reduction::Sum) + nll_loss(log_probs, other);
        });
        check([&] {  // a reader of part of y: it fills the rest of the adjoint with zeros
            auto log_probs = log_softmax(Z);
            auto loss = nll_loss(log_probs, labels);
            return loss + sum(tanh(row(log_probs, 0)));
        });
        check([&] {
            auto log_probs = log_softmax(Z);
            auto part = sum(tanh(row(log_probs, 0)));
            return part + nll_loss(log_probs, labels);
        });
        check([&] { return nll_loss(log_softmax(hadamard(Z, Z) + 2.0 * Z), labels) + sum(tanh(Z)); });
        check([&] {
            Var<double, R, C> logits = tanh(Z) + Z;
            return nll_loss(log_softmax(logits), labels) + sum(hadamard(logits, constant(weights)));
        });
        check([&] { return nll_loss(log_softmax(Z, Each::Row), labels); });
        check([&] { return nll_loss(log(softmax(Z)), labels); });
        check([&] {
            auto log_probs = log_softmax(Z);
            Var<double, R, C> same = log_probs;  // a copy of the handle, not of the values
            return nll_loss(same, labels, Reduction::Sum) + nll_loss(log_probs + 0.5 * Z, other);
        });
        const Eigen::RowVectorXd example_weights = random_matrix(1, cols);
        check([&] {
            return sum(hadamard(nll_loss(log_softmax(Z), labels, Reduction::None), constant(example_weights)));
        });
    });
}

TEST_CASE("nll_loss of log_softmax: a second backward, y seeded, anomaly mode (same gradient; names nll_loss)") {
    auto Z = random_param<Dynamic, Dynamic>(6, 5, -3.0, 3.0);
    const auto labels = random_labels(6, 5);
    Eigen::MatrixXd once;
    {
        Tape tape;
        auto loss = nll_loss(log_softmax(Z), labels);
        tape.backward(loss);
        once = Z.grad();
        tape.backward(loss);  // the hand-off is this sweep's again: kept, sent, added
        CHECK(Z.grad().isApprox(2.0 * once, 1e-15));
    }
    Z.zero_grad();
    {  // y seeded itself after a sweep that handed nll_loss's gradient to its step
        Tape tape;
        auto log_probs = log_softmax(Z);
        auto loss = nll_loss(log_probs, labels);
        tape.backward(loss);
        Z.zero_grad();
        const Eigen::MatrixXd seed = random_matrix(6, 5);
        tape.backward(log_probs, seed);
        Eigen::MatrixXd expected = seed;
        const Eigen::MatrixXd p = textbook_softmax(Z.value());
        for (Index j = 0; j < 5; ++j) expected.col(j) -= p.col(j) * seed.col(j).sum();
        CHECK(Z.grad().isApprox(expected, 1e-14));
    }
    Z.zero_grad();
    {  // anomaly mode computes what a plain sweep does, to the bit
        DetectAnomaly anomalies;
        Tape tape;
        tape.backward(nll_loss(log_softmax(Z), labels));
        CHECK(Z.grad() == once);
    }
    Z.zero_grad();
    // An infinite seed: nll_loss's own check names it, as when it wrote log_softmax's
    // adjoint itself, before anything reaches Z's gradient.
    DetectAnomaly anomalies;
    Tape tape;
    auto losses = nll_loss(log_softmax(Z), labels, Reduction::None);
    Eigen::RowVectorXd seed = Eigen::RowVectorXd::Ones(5);
    seed(2) = std::numeric_limits<double>::infinity();
    CHECK_THROWS_MATCHES(tape.backward(losses, seed), anomaly_error, MessageContains("nll_loss"));
    CHECK(Z.grad().allFinite());
}

TEST_CASE("Reduction::None gives each example's loss as a 1 x B row whose sum is Reduction::Sum") {
    auto Z = random_param<4, Dynamic>(4, 6, -2.0, 2.0);
    const Eigen::MatrixXd target = random_matrix(4, 6, 0.0, 1.0);
    const auto labels = random_labels(4, 6);
    const Eigen::RowVectorXd weights = random_matrix(1, 6);

    const auto check_loss = [&](auto per_example, auto summed) {
        STATIC_REQUIRE(std::is_same_v<decltype(per_example), Var<double, 1, Dynamic>>);
        REQUIRE(per_example.cols() == 6);
        CHECK(per_example.value().sum() == Approx(summed.item()).epsilon(1e-13));
    };
    check_loss(mse(Z, constant(target), Reduction::None), mse(Z, constant(target), Reduction::Sum));
    check_loss(sigmoid_cross_entropy(Z, target, Reduction::None), sigmoid_cross_entropy(Z, target, Reduction::Sum));
    check_loss(softmax_cross_entropy(Z, labels, Reduction::None), softmax_cross_entropy(Z, labels, Reduction::Sum));
    check_loss(nll_loss(log_softmax(Z), labels, Reduction::None), nll_loss(log_softmax(Z), labels, Reduction::Sum));

    // Column 2's loss alone, from the definition.
    const Eigen::VectorXd z = Z.value().col(2);
    CHECK(mse(Z, constant(target), Reduction::None).value()(0, 2) ==
          Approx((z - target.col(2)).squaredNorm()).epsilon(1e-14));
    CHECK(softmax_cross_entropy(Z, labels, Reduction::None).value()(0, 2) ==
          Approx(std::log(z.array().exp().sum()) - z(labels[2])).epsilon(1e-13));

    // Weighted per-example losses, differentiated.
    const auto weighted = [&](auto loss) { return sum(hadamard(loss, constant(weights))); };
    CHECK(gradcheck([&] { return weighted(mse(Z, constant(target), Reduction::None)); }, Z) < gradient_tolerance);
    CHECK(gradcheck([&] { return weighted(sigmoid_cross_entropy(Z, target, Reduction::None)); }, Z) <
          gradient_tolerance);
    CHECK(gradcheck([&] { return weighted(softmax_cross_entropy(hadamard(Z, Z), labels, Reduction::None)); }, Z) <
          gradient_tolerance);
    CHECK(gradcheck([&] { return weighted(nll_loss(log_softmax(Z), labels, Reduction::None)); }, Z) <
          gradient_tolerance);
}

TEST_CASE("nll_loss rejects a label outside the classes (index_error) or a count that differs, recording nothing") {
    Param<double, 3, Dynamic> P(3, 2);
    Tape tape;
    CHECK_THROWS_MATCHES(nll_loss(P, std::vector<int>{0, 3}), index_error,
                         MessageContains("label 3 of column 1 is outside [0, 3)"));
    CHECK_THROWS_MATCHES(nll_loss(P, std::vector<int>{-1, 0}), index_error, MessageContains("label -1 of column 0"));
    CHECK_THROWS_MATCHES(nll_loss(P, std::vector<int>{0}), shape_error, MessageContains("3x2 and 1x1"));
    CHECK_THROWS_AS(softmax_cross_entropy(P, std::vector<int>{0, 5}), index_error);
    CHECK(tape.size() == 0);
}

TEST_CASE("nll_loss takes its labels as an Eigen integer vector too") {
    auto P = random_param<3, 4>(3, 4);
    const Eigen::Vector4i labels(2, 0, 1, 2);
    const std::vector<int> same{2, 0, 1, 2};
    CHECK(nll_loss(P, labels).item() == nll_loss(P, same).item());
    CHECK(nll_loss(P, labels, Reduction::None).value() == nll_loss(P, same, Reduction::None).value());
}

TEST_CASE("softmax and log_softmax work in float, close to double") {
    const Eigen::MatrixXd x = random_matrix(6, 5, -4.0, 4.0);
    Param<float, 6, 5> Xf(x.cast<float>());
    Param<double, 6, 5> Xd(x);
    CHECK(softmax(Xf).value().cast<double>().isApprox(softmax(Xd).value(), 1e-6));
    CHECK(log_softmax(Xf, Each::Row).value().cast<double>().isApprox(log_softmax(Xd, Each::Row).value(), 1e-6));
}

TEST_CASE("in float, softmax's and log_softmax's gradients over short columns agree with double's") {
    // 3 classes are shorter than a packet of floats at any vector width, 10 with AVX and
    // AVX-512: each such column is reduced and written in one visit
    // (kernels/column_softmax.hpp), in forward and in backward.
    for (const Index classes : {Index(3), Index(10)}) {
        const Eigen::MatrixXd x = random_matrix(classes, 7, -4.0, 4.0), w = random_matrix(classes, 7);
        Param<float, Dynamic, Dynamic> Xf(x.cast<float>());
        Param<double, Dynamic, Dynamic> Xd(x);
        for (const Each each : {Each::Column, Each::Row}) {
            for (const bool log : {false, true}) {
                INFO(classes << " classes, " << (each == Each::Column ? "columns" : "rows") << ", "
                             << (log ? "log_softmax" : "softmax"));
                Xf.zero_grad();
                Xd.zero_grad();
                {
                    Tape tape;
                    auto y = log ? log_softmax(Xf, each) : softmax(Xf, each);
                    tape.backward(sum(hadamard(y, constant(Eigen::MatrixXf(w.cast<float>())))));
                }
                {
                    Tape tape;
                    auto y = log ? log_softmax(Xd, each) : softmax(Xd, each);
                    tape.backward(sum(hadamard(y, constant(w))));
                }
                CHECK(Xf.grad().cast<double>().isApprox(Xd.grad(), 1e-5));
                CHECK(Xd.grad().norm() > 0.1);  // a gradient of zeros would agree too
            }
        }
    }
}

TEST_CASE("anomaly mode names softmax as the operation whose value is not finite") {
    Param<double, 2, 1> z(Eigen::Vector2d(1.0, std::numeric_limits<double>::infinity()));
    DetectAnomaly detect;
    CHECK_THROWS_MATCHES(softmax(z), anomaly_error, MessageContains("softmax(Param 2x1)"));
}

TEST_CASE("softmax, log_softmax and layer_norm of empty operands are empty, forward and backward") {
    Param<double, Dynamic, Dynamic> no_rows(0, 3), no_cols(3, 0);
    Tape tape;
    CHECK(softmax(no_rows).rows() == 0);
    CHECK(log_softmax(no_cols, Each::Row).cols() == 0);
    CHECK(layer_norm(no_rows).cols() == 3);
    Var<double, 1, 1> total = sum(softmax(no_rows)) + sum(log_softmax(no_cols)) + sum(layer_norm(no_rows));
    tape.backward(total);
    CHECK(total.item() == 0.0);
}

TEST_CASE("the losses check their labels before evaluating an expression, so nothing is recorded") {
    auto Z = random_param<3, Dynamic>(3, 2);
    Tape tape;
    const std::vector<int> bad{0, 3};
    CHECK_THROWS_AS(nll_loss(Z * 2.0, bad), index_error);
    CHECK_THROWS_AS(softmax_cross_entropy(tanh(Z), bad), index_error);
    CHECK_THROWS_AS(softmax_cross_entropy(tanh(Z), bad, Reduction::None), index_error);
    CHECK(tape.size() == 0);
}
