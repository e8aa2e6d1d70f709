// nn::HessianFree: on linear least squares, where the Gauss-Newton matrix is the Hessian,
// a step lands on the closed-form minimum, and a damped step is -(G + λ I)⁻¹ g with G
// formed from jacobian(); on a small network, every step decreases the loss and λ follows
// Martens' Levenberg-Marquardt rule, its first ρ checked against G from jacobian(); a
// huge λ gives a short gradient step; a stationary point gives no step; a closure that
// throws leaves the Params where they were; Params outside the set stay; bad options are
// refused.

#include <cmath>
#include <stdexcept>
#include <vector>

#include <Eigen/Cholesky>
#include <catch2/catch.hpp>

#include <tapestry/functional/jacobian.hpp>
#include <tapestry/nn/optim/hessian_free.hpp>
#include <tapestry/tapestry.hpp>

#include "derivative_checks.hpp"
#include "helpers.hpp"

using namespace tapestry;
using test::relative_difference;

namespace {

// z = W X + b against Y: 2 outputs, 4 inputs, 20 examples.
struct LeastSquares {
    Param<double, 2, 4> W{test::random_matrix(2, 4)};
    Param<double, 2, 1> b{test::random_matrix(2, 1)};
    Eigen::MatrixXd X = test::random_matrix(4, 20);
    Eigen::MatrixXd Y = test::random_matrix(2, 20);
    nn::ParamSet<double> params{{"W", W}, {"b", b}};

    auto model() {
        return [this] { return W * constant(X) + b; };
    }
    auto loss() {
        return [this](const auto& z) { return mse(z, Y); };
    }
    // The minimum in closed form: [W b] = Y Aᵀ (A Aᵀ)⁻¹, A = [X; 1].
    Eigen::MatrixXd minimum() const {
        Eigen::MatrixXd A(5, 20);
        A << X, Eigen::RowVectorXd::Ones(20);
        return (A * A.transpose()).ldlt().solve(A * Y.transpose()).transpose();
    }
};

Eigen::VectorXd flat_values(const nn::ParamSet<double>& params) {
    Eigen::VectorXd v;
    detail::gather_values(params, v);
    return v;
}

}  // namespace

TEST_CASE("on least squares, an undamped step lands on the closed-form minimum") {
    LeastSquares problem;
    nn::HessianFree<double> hf(problem.params, {.damping = 0.0, .max_cg_iterations = 50});
    const nn::HessianFreeReport report = hf.step(problem.model(), problem.loss());
    Eigen::MatrixXd found(2, 5);
    found << problem.W.value(), problem.b.value();
    CHECK(relative_difference(found, problem.minimum()) < 1e-10);
    CHECK(report.step_length == 1.0);
    CHECK(report.reduction_ratio == Approx(1.0).epsilon(1e-9));  // the model is the function
    CHECK(report.new_loss < report.loss);
    CHECK(report.cg_iterations <= 12);  // 10 unknowns: CG is exact by the tenth
    CHECK(hf.damping() == 0.0);
}

TEST_CASE("a damped step is -(G + λ I)⁻¹ g, G = Jᵀ (2/n) J formed from jacobian()") {
    LeastSquares problem;
    const double lambda = 0.5;
    const Eigen::MatrixXd J = jacobian(problem.model(), problem.params);  // 40 x 10
    const Eigen::MatrixXd G = J.transpose() * J * (2.0 / 40.0);
    const Eigen::VectorXd g = test::gradient_at([&] { return problem.loss()(problem.model()()); }, problem.params);
    const Eigen::MatrixXd damped = G + lambda * Eigen::MatrixXd::Identity(10, 10);
    const Eigen::VectorXd expected = -damped.ldlt().solve(g);

    const Eigen::VectorXd before = flat_values(problem.params);
    nn::HessianFree<double> hf(problem.params, {.damping = lambda, .max_cg_iterations = 50});
    const nn::HessianFreeReport report = hf.step(problem.model(), problem.loss());
    REQUIRE(report.step_length == 1.0);
    CHECK(relative_difference(flat_values(problem.params) - before, expected) < 1e-10);
    // On a quadratic the undamped model predicts exactly: ρ = 1, and λ shrinks by 2/3.
    CHECK(report.reduction_ratio == Approx(1.0).epsilon(1e-9));
    CHECK(hf.damping() == Approx(lambda * 2.0 / 3.0));
}

TEST_CASE("a huge damping gives a short step along -g / λ") {
    LeastSquares problem;
    const Eigen::VectorXd g = test::gradient_at([&] { return problem.loss()(problem.model()()); }, problem.params);
    const Eigen::VectorXd before = flat_values(problem.params);
    nn::HessianFree<double> hf(problem.params, {.damping = 1e6});
    hf.step(problem.model(), problem.loss());
    CHECK(relative_difference((flat_values(problem.params) - before) * 1e6, -g) < 1e-4);
}

TEST_CASE("on a small tanh network every step decreases the loss, and λ follows ρ") {
    Param<double, 6, 3> W1(test::random_matrix(6, 3));
    Param<double, 6, 1> b1(test::random_matrix(6, 1));
    Param<double, 2, 6> W2(test::random_matrix(2, 6));
    Param<double, 2, 1> kept_out(test::random_matrix(2, 1));  // read by the model, not in the set
    const Eigen::MatrixXd x = test::random_matrix(3, 30);
    const Eigen::MatrixXd y = (test::random_matrix(2, 3) * x).array().sin().matrix();
    const nn::ParamSet<double> params{{"W1", W1}, {"b1", b1}, {"W2", W2}};
    const Eigen::MatrixXd fixed = kept_out.value();
    auto model = [&] { return W2 * tanh(W1 * constant(x) + b1) + kept_out; };
    auto loss = [&](const auto& z) { return mse(z, y); };

    // The first step's ρ, from G = Jᵀ (2/n) J formed with jacobian() and the step taken.
    const Eigen::MatrixXd J = jacobian(model, params);  // 60 x 36
    const Eigen::MatrixXd G = J.transpose() * J * (2.0 / 60.0);
    const Eigen::VectorXd g = test::gradient_at([&] { return loss(model()); }, params);
    const Eigen::VectorXd before = flat_values(params);

    nn::HessianFree<double> hf(params, {.damping = 10.0, .max_cg_iterations = 30});
    double first_loss = 0, last_loss = 0;
    for (int step = 0; step < 25; ++step) {
        const nn::HessianFreeReport report = hf.step(model, loss);
        INFO("step " << step << ": loss " << report.loss << " -> " << report.new_loss << ", rho "
                     << report.reduction_ratio << ", lambda " << report.damping);
        if (step == 0) {
            first_loss = report.loss;
            REQUIRE(report.step_length == 1.0);
            const Eigen::VectorXd p = flat_values(params) - before;
            const double predicted = g.dot(p) + 0.5 * p.dot(G * p);
            CHECK(report.reduction_ratio == Approx((report.new_loss - report.loss) / predicted).epsilon(1e-8));
        }
        last_loss = report.new_loss;
        CHECK(report.new_loss <= report.loss);
        // Martens' rule: λ 3/2 times for ρ < 1/4, 2/3 times for ρ > 3/4, else kept.
        const double factor = report.reduction_ratio < 0.25 ? 1.5 : report.reduction_ratio > 0.75 ? 2.0 / 3.0 : 1.0;
        CHECK(hf.damping() == Approx(report.damping * factor));
    }
    CHECK(last_loss < 0.2 * first_loss);
    CHECK(kept_out.value() == fixed);
}

TEST_CASE("at a stationary point a step moves nothing and keeps λ") {
    LeastSquares problem;
    problem.W.value().setZero();
    problem.b.value().setZero();
    problem.Y.setZero();  // z = 0 = Y: the gradient is exactly zero
    nn::HessianFree<double> hf(problem.params, {.damping = 2.0});
    const nn::HessianFreeReport report = hf.step(problem.model(), problem.loss());
    CHECK(report.step_length == 0.0);
    CHECK(report.cg_iterations == 0);
    CHECK(report.new_loss == report.loss);
    CHECK(hf.damping() == 2.0);
    CHECK(problem.W.value().isZero(0));
}

TEST_CASE("when a closure throws during the trial steps, the Params go back where the step began") {
    LeastSquares problem;
    const Eigen::VectorXd before = flat_values(problem.params);
    int calls = 0;
    auto model = [&] {
        // 1: the gradient; 2: the one G v that max_cg_iterations = 1 allows; 3: the full step.
        if (++calls == 3) throw std::runtime_error("the data went away");
        return problem.W * constant(problem.X) + problem.b;
    };
    nn::HessianFree<double> hf(problem.params, {.max_cg_iterations = 1});
    CHECK_THROWS_AS(hf.step(model, problem.loss()), std::runtime_error);
    CHECK(calls == 3);
    CHECK(flat_values(problem.params) == before);
}

TEST_CASE("HessianFree refuses options it cannot work with") {
    Param<double, 2, 2> W(test::random_matrix(2, 2));
    const nn::ParamSet<double> params{{"W", W}};
    CHECK_THROWS_AS(nn::HessianFree<double>(params, {.damping = -1.0}), value_error);
    CHECK_THROWS_AS(nn::HessianFree<double>(params, {.max_cg_iterations = 0}), value_error);
    CHECK_THROWS_AS(nn::HessianFree<double>(params, {.cg_decay = 1.5}), value_error);
    CHECK_THROWS_AS(nn::HessianFree<double>(params, {.cg_progress = 0.0}), value_error);
    CHECK_THROWS_AS(nn::HessianFree<double>(params, {.armijo = 1.0}), value_error);
    Param<double, 2, 2> frozen(test::random_matrix(2, 2));
    const nn::ParamSet<double> with_frozen{{"W", W}, {"frozen", frozen, {.lr_mult = 0}}};
    CHECK_THROWS_WITH(nn::HessianFree<double>(with_frozen), Catch::Contains("\"frozen\" has lr_mult 0"));
}
