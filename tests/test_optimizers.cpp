// Optimizers: each update rule against its documented formula, written out here
// in scalar arithmetic, over several steps; SGD and Adam also against steps
// computed by hand. Then what all optimizers share: lr_mult and decay_mult, L1 and
// L2 decay, clipping, accumulation, learning-rate policies.

#include <cmath>
#include <memory>
#include <vector>

#include <catch2/catch.hpp>

#include <tapestry/nn/optim/adadelta.hpp>
#include <tapestry/nn/optim/adagrad.hpp>
#include <tapestry/nn/optim/adam.hpp>
#include <tapestry/nn/optim/rmsprop.hpp>
#include <tapestry/nn/optim/sgd.hpp>

#include "helpers.hpp"

using namespace tapestry;
using namespace tapestry::nn;

namespace {

// Three steps on a 1x3 Param with fixed gradients; returns the values after each.
template <class MakeOptimizer>
std::vector<Eigen::RowVector3d> run_steps(MakeOptimizer make, const Eigen::RowVector3d& start,
                                          const std::vector<Eigen::RowVector3d>& grads) {
    Param<double, 1, 3> p(start);
    auto optimizer = make(ParamSet<double>{{"p", p}});
    std::vector<Eigen::RowVector3d> values;
    for (const auto& g : grads) {
        p.grad() = g;
        REQUIRE(optimizer.step());
        CHECK(p.grad().isZero());
        values.push_back(p.value());
    }
    return values;
}

const Eigen::RowVector3d start{1.0, -2.0, 0.5};
const std::vector<Eigen::RowVector3d> grads{{0.5, 1.0, -0.25}, {0.2, -0.4, 0.1}, {-0.3, 0.6, 0.05}};

void check_matches(const std::vector<Eigen::RowVector3d>& got, const std::vector<std::vector<double>>& expected) {
    REQUIRE(got.size() == expected.size());
    for (std::size_t s = 0; s < got.size(); ++s)
        for (int i = 0; i < 3; ++i) CHECK(got[s](i) == Approx(expected[s][static_cast<std::size_t>(i)]).epsilon(1e-12));
}

// The documented formulas, one coordinate at a time.
template <class Rule>
std::vector<std::vector<double>> reference(Rule rule) {
    std::vector<std::vector<double>> out;
    std::vector<double> theta{start(0), start(1), start(2)};
    std::vector<std::vector<double>> state(3, std::vector<double>(2, 0.0));
    for (std::size_t s = 0; s < grads.size(); ++s) {
        for (int i = 0; i < 3; ++i)
            rule(theta[static_cast<std::size_t>(i)], grads[s](i), state[static_cast<std::size_t>(i)],
                 static_cast<int>(s) + 1);
        out.push_back(theta);
    }
    return out;
}

}  // namespace

TEST_CASE("SGD with momentum and Nesterov follows PyTorch's formulas and a hand-computed step") {
    OptimizerOptions o;
    o.lr = lr::fixed(0.1);
    SECTION("plain") {
        auto got = run_steps([&](ParamSet<double> ps) { return Sgd<double>(ps, o); }, start, grads);
        CHECK(got[0](0) == Approx(0.95));  // 1 - 0.1 * 0.5
        check_matches(got, reference([](double& x, double g, auto&, int) { x -= 0.1 * g; }));
    }
    SECTION("momentum 0.9") {
        auto got = run_steps([&](ParamSet<double> ps) { return Sgd<double>(ps, o, {.momentum = 0.9}); }, start, grads);
        CHECK(got[1](0) == Approx(0.885));  // b = 0.5, then 0.9*0.5 + 0.2 = 0.65: 1 - 0.05 - 0.065
        check_matches(got, reference([](double& x, double g, std::vector<double>& b, int t) {
                          b[0] = t == 1 ? g : 0.9 * b[0] + g;
                          x -= 0.1 * b[0];
                      }));
    }
    SECTION("Nesterov") {
        auto got = run_steps(
            [&](ParamSet<double> ps) { return Sgd<double>(ps, o, {.momentum = 0.9, .nesterov = true}); }, start, grads);
        CHECK(got[1](0) == Approx(0.8265));  // 1 - 0.1*(0.5 + 0.45) - 0.1*(0.2 + 0.585)
        check_matches(got, reference([](double& x, double g, std::vector<double>& b, int t) {
                          b[0] = t == 1 ? g : 0.9 * b[0] + g;
                          x -= 0.1 * (g + 0.9 * b[0]);
                      }));
    }
}

TEST_CASE("Adam and AdamW follow PyTorch's formulas and a hand-computed step") {
    OptimizerOptions o;
    o.lr = lr::fixed(0.01);
    auto adam_rule = [](double& x, double g, std::vector<double>& s, int t) {
        s[0] = 0.9 * s[0] + 0.1 * g;
        s[1] = 0.999 * s[1] + 0.001 * g * g;
        const double m_hat = s[0] / (1 - std::pow(0.9, t)), v_hat = s[1] / (1 - std::pow(0.999, t));
        x -= 0.01 * m_hat / (std::sqrt(v_hat) + 1e-8);
    };
    SECTION("Adam") {
        auto got = run_steps([&](ParamSet<double> ps) { return Adam<double>(ps, o); }, start, grads);
        CHECK(got[0](0) == Approx(0.99).epsilon(1e-7));  // the first step is lr * sign(g)
        CHECK(got[0](1) == Approx(-2.01).epsilon(1e-7));
        check_matches(got, reference(adam_rule));
    }
    SECTION("AdamW decays the value, not the gradient") {
        o.weight_decay = 0.1;
        auto got = run_steps([&](ParamSet<double> ps) { return AdamW<double>(ps, o); }, start, grads);
        check_matches(got, reference([&](double& x, double g, std::vector<double>& s, int t) {
                          x *= 1 - 0.01 * 0.1;
                          adam_rule(x, g, s, t);
                      }));
    }
    SECTION("Adam with L2 weight decay adds it to the gradient") {
        o.weight_decay = 0.1;
        auto got = run_steps([&](ParamSet<double> ps) { return Adam<double>(ps, o); }, start, grads);
        check_matches(got, reference([&](double& x, double g, std::vector<double>& s, int t) {
                          adam_rule(x, g + 0.1 * x, s, t);
                      }));
    }
}

TEST_CASE("AdaGrad, RMSProp and AdaDelta follow their documented formulas") {
    OptimizerOptions o;
    o.lr = lr::fixed(0.05);
    SECTION("AdaGrad") {
        auto got = run_steps([&](ParamSet<double> ps) { return AdaGrad<double>(ps, o); }, start, grads);
        check_matches(got, reference([](double& x, double g, std::vector<double>& s, int) {
                          s[0] += g * g;
                          x -= 0.05 * g / (std::sqrt(s[0]) + 1e-10);
                      }));
    }
    SECTION("RMSProp") {
        auto got = run_steps([&](ParamSet<double> ps) { return RmsProp<double>(ps, o, {.alpha = 0.9}); }, start, grads);
        check_matches(got, reference([](double& x, double g, std::vector<double>& s, int) {
                          s[0] = 0.9 * s[0] + 0.1 * g * g;
                          x -= 0.05 * g / (std::sqrt(s[0]) + 1e-8);
                      }));
    }
    SECTION("AdaDelta") {
        o.lr = lr::fixed(1.0);
        auto got = run_steps([&](ParamSet<double> ps) { return AdaDelta<double>(ps, o); }, start, grads);
        check_matches(got, reference([](double& x, double g, std::vector<double>& s, int) {
                          s[0] = 0.9 * s[0] + 0.1 * g * g;
                          const double delta = std::sqrt(s[1] + 1e-6) / std::sqrt(s[0] + 1e-6) * g;
                          s[1] = 0.9 * s[1] + 0.1 * delta * delta;
                          x -= delta;
                      }));
    }
}

TEST_CASE("lr_mult and decay_mult apply per Param, as in Caffe's param { lr_mult decay_mult }") {
    Param<double, 2, 2> W(Eigen::Matrix2d::Constant(2.0));
    Param<double, 2, 1> b(Eigen::Vector2d::Constant(2.0));
    OptimizerOptions o;
    o.lr = lr::fixed(0.1);
    o.weight_decay = 0.5;
    Sgd<double> sgd({{"W", W}, {"b", b, {.lr_mult = 2, .decay_mult = 0}}}, o);
    W.grad().setConstant(1.0);
    b.grad().setConstant(1.0);
    sgd.step();
    CHECK(W.value()(0, 0) == Approx(2.0 - 0.1 * (1.0 + 0.5 * 2.0)));  // decayed, lr 0.1
    CHECK(b.value()(0) == Approx(2.0 - 0.2 * 1.0));                   // not decayed, lr 0.2
}

TEST_CASE("L1 weight decay adds decay * sign(value)") {
    Param<double, 1, 3> p(Eigen::RowVector3d(1.5, -0.5, 0.0));
    OptimizerOptions o;
    o.lr = lr::fixed(1.0);
    o.weight_decay = 0.1;
    o.regularization = Regularization::L1;
    Sgd<double> sgd({{"p", p}}, o);
    sgd.step();  // zero gradient: only the decay moves the values
    CHECK(p.value()(0) == Approx(1.4));
    CHECK(p.value()(1) == Approx(-0.4));
    CHECK(p.value()(2) == 0.0);
}

TEST_CASE("clipping scales all gradients together down to the global norm") {
    Param<double, 1, 2> a(Eigen::RowVector2d::Zero());
    Param<double, 1, 1> c(Eigen::Matrix<double, 1, 1>::Zero());
    OptimizerOptions o;
    o.lr = lr::fixed(1.0);
    o.clip_norm = 1.0;
    Sgd<double> sgd({{"a", a}, {"c", c}}, o);
    a.grad() << 3.0, 0.0;
    c.grad() << 4.0;  // global norm 5
    sgd.step();
    CHECK(a.value()(0) == Approx(-0.6));
    CHECK(c.value()(0) == Approx(-0.8));
    a.grad() << 0.3, 0.0;  // below the threshold: untouched
    sgd.step();
    CHECK(a.value()(0) == Approx(-0.9));
}

TEST_CASE("accumulate = k sums k backward passes and applies their mean (Caffe's iter_size)") {
    Param<double, 1, 1> p(Eigen::Matrix<double, 1, 1>::Constant(1.0));
    OptimizerOptions o;
    o.lr = lr::fixed(0.1);
    o.accumulate = 3;
    Sgd<double> sgd({{"p", p}}, o);
    for (double g : {1.0, 2.0}) {
        p.grad()(0) += g;
        CHECK_FALSE(sgd.step());
        CHECK(p.value()(0) == 1.0);
    }
    p.grad()(0) += 6.0;
    CHECK(sgd.step());
    CHECK(p.value()(0) == Approx(1.0 - 0.1 * 3.0));
    CHECK(sgd.iteration() == 1);
}

TEST_CASE("learning-rate policies give Caffe's formulas") {
    CHECK(lr::fixed(0.01).at(1000) == 0.01);
    CHECK(lr::step(0.01, 0.1, 10).at(9) == Approx(0.01));
    CHECK(lr::step(0.01, 0.1, 10).at(25) == Approx(1e-4));
    CHECK(lr::multistep(1.0, 0.5, {10, 20, 40}).at(25) == Approx(0.25));
    CHECK(lr::multistep(1.0, 0.5, {10, 20, 40}).at(40) == Approx(0.125));
    CHECK(lr::exp(0.1, 0.9).at(3) == Approx(0.1 * 0.729));
    CHECK(lr::inv(0.01, 1e-4, 0.75).at(10000) == Approx(0.01 * std::pow(2.0, -0.75)));
    CHECK(lr::poly(0.1, 2.0, 100).at(50) == Approx(0.025));
    CHECK(lr::poly(0.1, 2.0, 100).at(100) == 0.0);
    CHECK(lr::sigmoid(0.1, 0.5, 10).at(10) == Approx(0.05));
    CHECK(lr::cosine(0.1, 100).at(0) == Approx(0.1));
    CHECK(lr::cosine(0.1, 100).at(50) == Approx(0.05));
    CHECK(lr::cosine(0.1, 100, 0.01).at(100) == Approx(0.01));
    CHECK_THROWS_AS(lr::step(0.1, 0.1, 0), value_error);

    Param<double, 1, 1> p;
    OptimizerOptions o;
    o.lr = lr::step(1.0, 0.5, 2);
    Sgd<double> sgd({{"p", p}}, o);
    std::vector<double> seen;
    for (int i = 0; i < 5; ++i) {
        seen.push_back(sgd.learning_rate());
        p.grad()(0) = 1.0;
        sgd.step();
    }
    CHECK(seen == std::vector<double>{1.0, 1.0, 0.5, 0.5, 0.25});
    CHECK(p.value()(0) == Approx(-(1.0 + 1.0 + 0.5 + 0.5 + 0.25)));
}

TEST_CASE("a ParamSet rejects a name used twice, and one Param under two names") {
    Param<float, 2, 2> a, b;
    CHECK_THROWS_AS((ParamSet<float>{{"w", a}, {"w", b}}), value_error);
    CHECK_THROWS_WITH((ParamSet<float>{{"w", a}, {"v", a}}), Catch::Contains("\"w\" and \"v\" are the same Param"));
    ParamSet<float> set{{"w", a}};
    CHECK_THROWS_AS(set.add("v", a), value_error);
}

TEST_CASE("a Param re-initialised by assignment keeps its place in a ParamSet; one destroyed or resized throws") {
    SECTION("assigned a Param of the same shape: the optimizer updates the new values") {
        Param<double, 4, 3> W;
        Sgd<double> sgd({{"W", W}}, {.lr = lr::fixed(0.5)});
        W = Param<double, 4, 3>(Eigen::Matrix<double, 4, 3>::Constant(2.0));  // the misuse that read freed memory
        W.grad().setOnes();
        sgd.step();
        CHECK(W.value().isApprox(Eigen::Matrix<double, 4, 3>::Constant(1.5)));
    }
    SECTION("a Dynamic Param assigned one of another shape") {
        Param<double, Dynamic, Dynamic> W(4, 3);
        Sgd<double> sgd({{"W", W}}, {.lr = lr::fixed(0.5)});
        W = Param<double, Dynamic, Dynamic>(5, 5);
        CHECK_THROWS_MATCHES(sgd.step(), value_error, test::MessageContains("\"W\" (4x3 when it joined)"));
    }
    SECTION("a Dynamic Param resized in place") {
        Param<double, Dynamic, Dynamic> W(4, 3);
        ParamSet<double> params{{"W", W}};
        W.value().resize(2, 2);
        CHECK_THROWS_MATCHES(params[0].value(), value_error, test::MessageContains("was resized"));
    }
    SECTION("destroyed") {
        auto W = std::make_unique<Param<double, 4, 3>>();
        Sgd<double> sgd({{"W", *W}}, {.lr = lr::fixed(0.5)});
        W.reset();
        Param<double, 4, 3> other;  // may take the destroyed Param's record
        CHECK_THROWS_MATCHES(sgd.step(), value_error, test::MessageContains("destroyed"));
    }
}

TEST_CASE("a step after zero_grad() with no backward in between updates from a zero gradient") {
    Param<double, 2, 2> W(Eigen::Matrix2d::Constant(2.0));
    OptimizerOptions o;
    o.lr = lr::fixed(0.1);
    o.weight_decay = 0.5;
    Sgd<double> sgd({{"W", W}}, o);
    W.grad().setConstant(7.0);
    W.zero_grad();  // the 7s stay in memory, stale
    sgd.step();
    CHECK(W.value()(0, 0) == Approx(2.0 - 0.1 * (0.5 * 2.0)));  // decay only
    CHECK(W.grad().isZero());
}

TEST_CASE("a step leaves each gradient stale, not written: the zeros come when it is next used") {
    Param<double, 2, 2> W(Eigen::Matrix2d::Constant(2.0));
    Sgd<double> sgd({{"W", W}}, {.lr = lr::fixed(0.1)});
    W.grad().setConstant(3.0);
    const double* gradient_memory = W.grad().data();
    sgd.step();
    CHECK(W.value()(0, 0) == Approx(2.0 - 0.1 * 3.0));
    CHECK(gradient_memory[0] == 3.0);  // no pass over the gradient after the update
    CHECK(W.grad().isZero());          // reading it writes the zeros
}
