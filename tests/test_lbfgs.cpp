// L-BFGS: its path against torch.optim.LBFGS's on two problems (tests/lbfgs_reference.inc,
// from tests/torch/make_lbfgs_reference.py), convergence on Rosenbrock's function in
// double and float, and what it does with bad options, a loss that is not finite and a
// closure that throws.

#include <cmath>
#include <limits>
#include <stdexcept>
#include <vector>

#include <catch2/catch.hpp>

#include <tapestry/nn/optim/lbfgs.hpp>
#include <tapestry/tapestry.hpp>

#include "helpers.hpp"
#include "lbfgs_reference.inc"

using namespace tapestry;
using namespace tapestry::nn;
using test::MessageContains;

namespace {

template <int R, int C>
Eigen::Matrix<double, R, C> matrix_from(const std::vector<double>& v) {
    REQUIRE(v.size() == std::size_t(R * C));
    return Eigen::Map<const Eigen::Matrix<double, R, C>>(v.data());
}

// L2-regularised logistic regression on the reference's 50 examples of 6 features.
struct Logistic {
    Param<double, 1, 6> w{matrix_from<1, 6>(lbfgs_reference::logistic_w0)};
    Param<double, 1, 1> b;
    Eigen::Matrix<double, 6, 50> x = matrix_from<6, 50>(lbfgs_reference::logistic_x);
    Eigen::Matrix<double, 1, 50> y = matrix_from<1, 50>(lbfgs_reference::logistic_y);

    auto loss() { return sigmoid_cross_entropy(w * constant(x) + b, y) + 0.01 * sum(hadamard(w, w)); }
    double closure() {
        Tape tape;
        auto l = evaluate(loss());
        tape.backward(l);
        return l.item();
    }
    double value() {
        InferenceMode no_recording;
        return evaluate(loss()).item();
    }
};

// Rosenbrock's function of N variables: the sum of 100 (v[i+1] - v[i]^2)^2 + (1 - v[i])^2.
// The Param is read twice, through two overlapping blocks.
template <class T, int N>
auto rosenbrock(const Param<T, N, 1>& v) {
    auto head = middle_rows(v, 0, v.rows() - 1);
    auto tail = middle_rows(v, 1, v.rows() - 1);
    return sum(T(100) * square(tail - square(head)) + square(T(1) - head));
}

template <class T, int N>
double rosenbrock_closure(const Param<T, N, 1>& v) {
    Tape tape;
    auto loss = evaluate(rosenbrock(v));
    tape.backward(loss);
    return static_cast<double>(loss.item());
}

template <class T>
Eigen::Matrix<T, 6, 1> rosenbrock_start() {
    Eigen::Matrix<T, 6, 1> start;
    start << T(-1.2), T(1), T(-1.2), T(1), T(-1.2), T(1);
    return start;
}

void check_close(double got, double expected, double tolerance = 1e-10) {
    CHECK(std::abs(got - expected) <= tolerance * std::max(1.0, std::abs(expected)));
}

}  // namespace

TEST_CASE("L-BFGS with the strong-Wolfe line search follows torch.optim.LBFGS's path on a logistic regression") {
    Logistic model;
    Lbfgs<double> lbfgs(ParamSet<double>{{"w", model.w}, {"b", model.b}},
                        {.lr = 1, .max_iter = 4, .history_size = 3, .line_search = LineSearch::StrongWolfe});
    for (std::size_t s = 0; s < 3; ++s) {
        const LbfgsReport report = lbfgs.step([&] { return model.closure(); });
        check_close(report.initial_loss, lbfgs_reference::wolfe_returned[s]);
        REQUIRE(report.loss.has_value());
        check_close(*report.loss, lbfgs_reference::wolfe_after[s]);
        check_close(model.value(), lbfgs_reference::wolfe_after[s]);
        // The third step's last direction no longer descends by tolerance_change: PyTorch stops there too.
        CHECK(report.stopped_by == (s < 2 ? LbfgsStop::Iterations : LbfgsStop::NoDescent));
    }
    for (int i = 0; i < 6; ++i) check_close(model.w.value()(i), lbfgs_reference::wolfe_w[std::size_t(i)]);
    check_close(model.b.value()(0), lbfgs_reference::wolfe_b[0]);
    CHECK(lbfgs.evaluations() == lbfgs_reference::wolfe_evaluations);
    CHECK(lbfgs.iterations() == lbfgs_reference::wolfe_iterations);
    CHECK(lbfgs.remembered() == 3);
}

TEST_CASE("L-BFGS with fixed steps follows torch.optim.LBFGS's path on a logistic regression") {
    Logistic model;
    Lbfgs<double> lbfgs(ParamSet<double>{{"w", model.w}, {"b", model.b}},
                        {.lr = 0.5, .max_iter = 5, .history_size = 4});
    for (std::size_t s = 0; s < 3; ++s) {
        const LbfgsReport report = lbfgs.step([&] { return model.closure(); });
        check_close(report.initial_loss, lbfgs_reference::fixed_returned[s]);
        CHECK_FALSE(report.loss.has_value());  // the last of max_iter fixed steps is not evaluated
        check_close(model.value(), lbfgs_reference::fixed_after[s]);
        CHECK(report.evaluations == 5);
    }
    for (int i = 0; i < 6; ++i) check_close(model.w.value()(i), lbfgs_reference::fixed_w[std::size_t(i)]);
    check_close(model.b.value()(0), lbfgs_reference::fixed_b[0]);
    CHECK(lbfgs.evaluations() == lbfgs_reference::fixed_evaluations);
    CHECK(lbfgs.iterations() == lbfgs_reference::fixed_iterations);
}

TEST_CASE("L-BFGS follows torch.optim.LBFGS's path on Rosenbrock's function of six variables") {
    Param<double, 6, 1> v(rosenbrock_start<double>());
    Lbfgs<double> lbfgs(ParamSet<double>{{"v", v}},
                        {.lr = 1, .max_iter = 12, .history_size = 10, .line_search = LineSearch::StrongWolfe});
    // Rosenbrock's valley magnifies rounding (the sums are added in another order than
    // PyTorch's): after 36 iterations the paths are 2e-10 to 8e-10 apart, so 1e-8 here.
    for (std::size_t s = 0; s < 3; ++s)
        check_close(lbfgs.step([&] { return rosenbrock_closure(v); }).initial_loss,
                    lbfgs_reference::rosenbrock_returned[s], 1e-8);
    for (int i = 0; i < 6; ++i) check_close(v.value()(i), lbfgs_reference::rosenbrock_v[std::size_t(i)], 1e-8);
    CHECK(lbfgs.evaluations() == lbfgs_reference::rosenbrock_evaluations);
}

namespace {

// Runs `steps` step() calls from `start` on the loss `loss_of(v)` and compares each step's
// returned loss and the iteration and evaluation counts so far, then v, with PyTorch's.
template <class LossOf>
void check_path(LossOf loss_of, const Eigen::VectorXd& start, const LbfgsOptions& options, std::size_t steps,
                const std::vector<double>& returned, const std::vector<double>& iterations,
                const std::vector<double>& evaluations, const std::vector<double>& end, double tolerance) {
    Param<double, Dynamic, 1> v(start);
    Lbfgs<double> lbfgs(ParamSet<double>{{"v", v}}, options);
    auto closure = [&] {
        Tape tape;
        auto loss = evaluate(loss_of(v));
        tape.backward(loss);
        return loss.item();
    };
    for (std::size_t s = 0; s < steps; ++s) {
        CAPTURE(s);
        check_close(lbfgs.step(closure).initial_loss, returned[s], tolerance);
        CHECK(lbfgs.iterations() == long(iterations[s]));
        CHECK(lbfgs.evaluations() == long(evaluations[s]));
    }
    REQUIRE(v.rows() == Index(end.size()));
    for (Index i = 0; i < v.rows(); ++i) check_close(v.value()(i), end[std::size_t(i)], tolerance);
}

}  // namespace

TEST_CASE("L-BFGS's line search follows PyTorch's when it zooms, extrapolates without bound, and brackets") {
    using namespace lbfgs_reference;
    SECTION("Rosenbrock from a long first step: most searches zoom; tolerance_change does not reach the zoom") {
        Eigen::VectorXd start(6);
        start << -1.2, 1, -1.2, 1, -1.2, 1;
        check_path([](const auto& v) { return rosenbrock<double, Dynamic>(v); }, start,
                   {.lr = 10,
                    .max_iter = 15,
                    .tolerance_change = 1e-3,
                    .history_size = 10,
                    .line_search = LineSearch::StrongWolfe},
                   3, rosenbrock_zoom_returned, rosenbrock_zoom_iterations, rosenbrock_zoom_evaluations,
                   rosenbrock_zoom_v, 1e-8);
    }
    SECTION("a line where the loss only falls: the bracketing phase extrapolates until its 25 tries run out") {
        // Along a line the interpolating cubic is degenerate: whether each extrapolation
        // is 10 t (an infinite minimum, clamped) or 5.5 t (d2² rounded below zero, the
        // bounds' midpoint) is decided by rounding, and PyTorch's add_ rounds x + t d with
        // a fused multiply-add. So the count of evaluations is compared, and the end only
        // for having gone far along the line.
        Param<double, 1, 1> v(Eigen::Matrix<double, 1, 1>(0.5));
        Lbfgs<double> lbfgs(ParamSet<double>{{"v", v}},
                            {.lr = 1e-3, .max_iter = 1, .line_search = LineSearch::StrongWolfe});
        const LbfgsReport report = lbfgs.step([&] {
            Tape tape;
            auto loss = evaluate(sum(v * -3.0));
            tape.backward(loss);
            return loss.item();
        });
        CHECK(report.evaluations == long(linear_evaluations[0]));
        CHECK(v.value()(0) > 1e18);
        CHECK(std::isfinite(v.value()(0)));
    }
    SECTION("Rosenbrock from a short first step: a bracketing try rises above the one before it") {
        Eigen::VectorXd start(6);
        start << -1.2, 1, -1.2, 1, -1.2, 1;
        check_path([](const auto& v) { return rosenbrock<double, Dynamic>(v); }, start,
                   {.lr = 0.1, .max_iter = 20, .history_size = 10, .line_search = LineSearch::StrongWolfe}, 2,
                   rosenbrock_short_returned, rosenbrock_short_iterations, rosenbrock_short_evaluations,
                   rosenbrock_short_v, 1e-8);
    }
    SECTION("two-variable Rosenbrock: a second bracketing try above the first is no bracket's end") {
        check_path([](const auto& v) { return rosenbrock<double, Dynamic>(v); }, Eigen::Vector2d(-1.2, 1.0),
                   {.lr = 3, .max_iter = 20, .history_size = 2, .line_search = LineSearch::StrongWolfe}, 2,
                   rosenbrock2_returned, rosenbrock2_iterations, rosenbrock2_evaluations, rosenbrock2_v, 1e-8);
    }
    SECTION("log cosh from a very long first step: zoom tries near the bracket's end are moved inside") {
        const Eigen::Vector3d scales(1.0, 10.0, 100.0);
        check_path(
            [&](const auto& v) {
                auto z = hadamard(constant(scales), v - 1.0);
                return sum(log((exp(z) + exp(-z)) * 0.5));
            },
            Eigen::Vector3d(3.0, -2.0, 1.5),
            {.lr = 100, .max_iter = 20, .history_size = 2, .line_search = LineSearch::StrongWolfe}, 2,
            log_cosh_returned, log_cosh_iterations, log_cosh_evaluations, log_cosh_v, 1e-8);
    }
    SECTION("a badly scaled quadratic from a short first step") {
        const Eigen::Vector3d scales(1.0, 10.0, 100.0);
        check_path([&](const auto& v) { return sum(hadamard(constant(scales), square(v - 0.25))); },
                   Eigen::Vector3d(1.0, -2.0, 0.5),
                   {.lr = 0.05, .max_iter = 6, .history_size = 2, .line_search = LineSearch::StrongWolfe}, 2,
                   quadratic_returned, quadratic_iterations, quadratic_evaluations, quadratic_v, 1e-10);
    }
}

// From this start, six-variable Rosenbrock also has a local minimum near (-1, 1, ..., 1);
// the line search's long first steps pass it.
TEMPLATE_TEST_CASE("L-BFGS with the line search finds Rosenbrock's minimum at (1, ..., 1)", "", float, double) {
    using T = TestType;
    Param<T, 6, 1> v(rosenbrock_start<T>());
    Lbfgs<T> lbfgs(ParamSet<T>{{"v", v}}, {.max_iter = 200,
                                           .tolerance_grad = std::is_same_v<T, float> ? 1e-4 : 1e-9,
                                           .tolerance_change = 0,
                                           .history_size = 10,
                                           .line_search = LineSearch::StrongWolfe});
    const LbfgsReport report = lbfgs.step([&] { return rosenbrock_closure(v); });
    CAPTURE(report.iterations, report.evaluations, v.value().transpose());
    CHECK(report.stopped_by == LbfgsStop::SmallGradient);
    const double tolerance = std::is_same_v<T, float> ? 1e-3 : 1e-8;
    for (int i = 0; i < 6; ++i) CHECK(std::abs(double(v.value()(i)) - 1.0) < tolerance);
    CHECK(report.iterations < 100);
}

// The regularised logistic loss is strongly convex (its Hessian is at least 0.02 on w):
// a point whose gradient is below 1e-9 everywhere lies within sqrt(7) 1e-9 / 0.02 =
// 1.3e-7 of the one minimum, so both forms must end within 2.6e-7 of each other.
TEST_CASE("L-BFGS with and without the line search reach the same minimum of a convex loss") {
    Logistic searched, fixed;
    Lbfgs<double> a(
        ParamSet<double>{{"w", searched.w}, {"b", searched.b}},
        {.max_iter = 100, .tolerance_grad = 1e-9, .tolerance_change = 0, .line_search = LineSearch::StrongWolfe});
    Lbfgs<double> b(ParamSet<double>{{"w", fixed.w}, {"b", fixed.b}},
                    {.lr = 0.5, .max_iter = 300, .tolerance_grad = 1e-9, .tolerance_change = 0});
    CHECK(a.step([&] { return searched.closure(); }).stopped_by == LbfgsStop::SmallGradient);
    CHECK(b.step([&] { return fixed.closure(); }).stopped_by == LbfgsStop::SmallGradient);
    for (int i = 0; i < 6; ++i) CHECK(std::abs(searched.w.value()(i) - fixed.w.value()(i)) < 2.6e-7);
    CHECK(std::abs(searched.b.value()(0) - fixed.b.value()(0)) < 2.6e-7);
}

TEST_CASE("L-BFGS refuses options and Params it cannot use") {
    Param<double, 2, 1> p;
    Param<double, 2, 1> q;
    const ParamSet<double> params{{"p", p}};
    CHECK_THROWS_MATCHES(Lbfgs<double>(params, {.lr = 0}), value_error, MessageContains("lr must be positive"));
    CHECK_THROWS_MATCHES(Lbfgs<double>(params, {.lr = std::nan("")}), value_error,
                         MessageContains("lr must be positive"));
    CHECK_THROWS_MATCHES(Lbfgs<double>(params, {.max_iter = 0}), value_error, MessageContains("max_iter"));
    CHECK_THROWS_MATCHES(Lbfgs<double>(params, {.max_eval = -1}), value_error, MessageContains("max_eval"));
    CHECK_THROWS_MATCHES(Lbfgs<double>(params, {.history_size = 0}), value_error, MessageContains("history_size"));
    CHECK_THROWS_MATCHES(Lbfgs<double>(params, {.tolerance_grad = -1}), value_error, MessageContains("tolerances"));
    CHECK_THROWS_MATCHES(Lbfgs<double>(ParamSet<double>{{"p", p}, {"q", q, {.lr_mult = 0}}}), value_error,
                         MessageContains("\"q\" has lr_mult 0"));
}

TEST_CASE("L-BFGS stops at once, and says so, when the gradient is already small") {
    Param<double, 6, 1> v(Eigen::Matrix<double, 6, 1>::Ones());
    Lbfgs<double> lbfgs(ParamSet<double>{{"v", v}});
    const LbfgsReport report = lbfgs.step([&] { return rosenbrock_closure(v); });
    CHECK(report.stopped_by == LbfgsStop::SmallGradient);
    CHECK(report.iterations == 0);
    CHECK(report.evaluations == 1);
    CHECK(v.value().isOnes());
}

TEST_CASE("L-BFGS zeroes the gradients before every evaluation, so that they do not add up") {
    Logistic once, twice;
    Lbfgs<double> a(ParamSet<double>{{"w", once.w}, {"b", once.b}}, {.max_iter = 3});
    Lbfgs<double> b(ParamSet<double>{{"w", twice.w}, {"b", twice.b}}, {.max_iter = 3});
    twice.w.grad().setConstant(5.0);  // stale gradients from before
    a.step([&] { return once.closure(); });
    b.step([&] { return twice.closure(); });
    CHECK(once.w.value() == twice.w.value());
}

TEST_CASE("L-BFGS refuses a starting point whose loss is not finite, and changes nothing") {
    Param<double, 2, 1> x(Eigen::Vector2d(-1.0, 2.0));
    Lbfgs<double> lbfgs(ParamSet<double>{{"x", x}});
    auto closure = [&] {
        Tape tape;
        auto loss = evaluate(sum(log(x)));
        tape.backward(loss);
        return loss.item();
    };
    CHECK_THROWS_MATCHES(lbfgs.step(closure), value_error, MessageContains("not finite where step() began"));
    CHECK(x.value() == Eigen::Vector2d(-1.0, 2.0));
}

TEST_CASE("L-BFGS steps back from a fixed step into a point where the loss is not finite") {
    // x - log x has its minimum at 1; from 3 (gradient 2/3) the first step, min(1, 1.5) * 40
    // along -2/3, lands at -23.7.
    Param<double, 1, 1> x(Eigen::Matrix<double, 1, 1>(3.0));
    Lbfgs<double> lbfgs(ParamSet<double>{{"x", x}}, {.lr = 40});
    auto closure = [&] {
        Tape tape;
        auto loss = evaluate(sum(x - log(x)));
        tape.backward(loss);
        return loss.item();
    };
    CHECK_THROWS_MATCHES(
        lbfgs.step(closure), value_error,
        MessageContains("not finite after a step") && MessageContains("back where the iteration began"));
    CHECK(x.value()(0) == 3.0);
}

TEST_CASE("L-BFGS's line search treats a point where the loss is not finite as too far, and converges") {
    Param<double, 1, 1> x(Eigen::Matrix<double, 1, 1>(3.0));
    Lbfgs<double> lbfgs(ParamSet<double>{{"x", x}},
                        {.lr = 40, .max_iter = 50, .tolerance_grad = 1e-12, .line_search = LineSearch::StrongWolfe});
    auto closure = [&] {
        Tape tape;
        auto loss = evaluate(sum(x - log(x)));
        tape.backward(loss);
        return loss.item();
    };
    const LbfgsReport report = lbfgs.step(closure);
    CAPTURE(report.iterations, report.evaluations);
    CHECK(std::abs(x.value()(0) - 1.0) < 1e-8);
    REQUIRE(report.loss.has_value());
    CHECK(std::isfinite(*report.loss));
}

TEST_CASE("A closure that throws leaves the Params where its iteration began, and L-BFGS can go on") {
    const bool strong_wolfe = GENERATE(true, false);
    const int failing_call = GENERATE(2, 5, 7);
    CAPTURE(strong_wolfe, failing_call);
    const LbfgsOptions options{.lr = strong_wolfe ? 1.0 : 0.5,
                               .max_iter = 300,
                               .tolerance_grad = 1e-9,
                               .tolerance_change = 0,
                               .line_search = strong_wolfe ? LineSearch::StrongWolfe : LineSearch::None};
    Logistic undisturbed, model;
    Lbfgs<double>(ParamSet<double>{{"w", undisturbed.w}, {"b", undisturbed.b}}, options).step([&] {
        return undisturbed.closure();
    });

    Lbfgs<double> lbfgs(ParamSet<double>{{"w", model.w}, {"b", model.b}}, options);
    int calls = 0;
    std::vector<Eigen::Matrix<double, 1, 7>> points;
    auto failing_closure = [&] {
        if (++calls == failing_call) throw std::runtime_error("data source failed");
        points.push_back((Eigen::Matrix<double, 1, 7>() << model.w.value(), model.b.value()).finished());
        return model.closure();
    };
    CHECK_THROWS_AS(lbfgs.step(failing_closure), std::runtime_error);
    // Where an iteration began is a point the closure was called at.
    const Eigen::Matrix<double, 1, 7> now =
        (Eigen::Matrix<double, 1, 7>() << model.w.value(), model.b.value()).finished();
    bool at_an_evaluated_point = false;
    for (const auto& p : points) at_an_evaluated_point = at_an_evaluated_point || p == now;
    CHECK(at_an_evaluated_point);

    CHECK(lbfgs.step([&] { return model.closure(); }).stopped_by == LbfgsStop::SmallGradient);
    for (int i = 0; i < 6; ++i) CHECK(std::abs(model.w.value()(i) - undisturbed.w.value()(i)) < 2.6e-7);  // as above
}

TEST_CASE("After a closure throws in the first iteration, the retry takes the same short first step as a fresh start") {
    auto make_closure = [](Param<double, 1, 1>& x, int fail_at, int& calls) {
        return [&x, fail_at, &calls] {
            if (++calls == fail_at) throw std::runtime_error("interrupted");
            Tape tape;
            auto loss = evaluate(sum(square(x) * 50.0));
            tape.backward(loss);
            return loss.item();
        };
    };
    const LbfgsOptions options{.max_iter = 2};
    Param<double, 1, 1> fresh(Eigen::Matrix<double, 1, 1>(1.0)), retried(Eigen::Matrix<double, 1, 1>(1.0));
    int fresh_calls = 0, retried_calls = 0;
    Lbfgs<double>(ParamSet<double>{{"x", fresh}}, options).step(make_closure(fresh, 0, fresh_calls));
    Lbfgs<double> lbfgs(ParamSet<double>{{"x", retried}}, options);
    CHECK_THROWS_AS(lbfgs.step(make_closure(retried, 2, retried_calls)), std::runtime_error);
    CHECK(retried.value()(0) == 1.0);
    CHECK(lbfgs.iterations() == 0);
    retried_calls = 0;
    lbfgs.step(make_closure(retried, 0, retried_calls));
    CHECK(retried.value()(0) == fresh.value()(0));
}

TEST_CASE("A fixed step that step() did not evaluate, and whose loss is not finite, is undone by the next step()") {
    Param<double, 1, 1> x(Eigen::Matrix<double, 1, 1>(3.0));
    Lbfgs<double> lbfgs(ParamSet<double>{{"x", x}}, {.lr = 40, .max_iter = 1});
    auto closure = [&] {
        Tape tape;
        auto loss = evaluate(sum(x - log(x)));
        tape.backward(loss);
        return loss.item();
    };
    CHECK_FALSE(lbfgs.step(closure).loss.has_value());  // moved to -23.7 without evaluating there
    CHECK(x.value()(0) < 0);
    CHECK_THROWS_MATCHES(
        lbfgs.step(closure), value_error,
        MessageContains("that it did not evaluate") && MessageContains("back where that iteration began"));
    CHECK(x.value()(0) == 3.0);
    CHECK_THROWS_AS(lbfgs.set_lr(-1.0), value_error);
    lbfgs.set_lr(0.1);
    for (int s = 0; s < 5; ++s) {
        const double before = std::abs(x.value()(0) - 1.0);
        lbfgs.step(closure);
        CHECK(std::abs(x.value()(0) - 1.0) < before);
    }
}

TEST_CASE("L-BFGS refuses an empty ParamSet, and takes a max_iter as large as an int holds") {
    Param<double, Dynamic, Dynamic> empty(0, 0);
    CHECK_THROWS_MATCHES(Lbfgs<double>(ParamSet<double>{{"empty", empty}}), value_error,
                         MessageContains("no elements"));
    // max_eval's default, max_iter * 5 / 4, must not overflow.
    Param<double, 1, 1> x(Eigen::Matrix<double, 1, 1>(3.0));
    Lbfgs<double> lbfgs(ParamSet<double>{{"x", x}}, {.max_iter = std::numeric_limits<int>::max()});
    const LbfgsReport report = lbfgs.step([&] {
        Tape tape;
        auto loss = evaluate(sum(square(x - 1.0)));
        tape.backward(loss);
        return loss.item();
    });
    CHECK(report.stopped_by == LbfgsStop::SmallGradient);
    CHECK(std::abs(x.value()(0) - 1.0) < 1e-7);
}
