// jvp, hvp and gnvp with a DerivativeWorkspace allocate nothing after the first call,
// on Model A's tied autoencoder at B = 1 and 64, in float and double; a Hessian-free
// step's products allocate nothing. Counted by allocation_count.cpp's malloc.

#include <catch2/catch.hpp>

#include <tapestry/functional/gnvp.hpp>
#include <tapestry/functional/hvp.hpp>
#include <tapestry/functional/jvp.hpp>
#include <tapestry/nn/optim/hessian_free.hpp>
#include <tapestry/tapestry.hpp>

#include "allocation_count.hpp"
#include "helpers.hpp"

using namespace tapestry;
using test::allocations_during;

namespace {

// Model A (bench/model_a.hpp) with its output and loss apart, as gnvp takes them:
// 784-128-784, W read twice, sigmoid cross-entropy summed over pixels / B.
template <class T>
struct TiedModel {
    using Matrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>;
    explicit TiedModel(Index batch)
        : W(Matrix(test::random_matrix(128, 784, -0.05, 0.05).cast<T>())),
          x(Matrix(test::random_matrix(784, batch, 0.0, 1.0).cast<T>())) {}

    auto logits() { return evaluate(W.transpose() * sigmoid(W * constant(x) + b1) + b2); }
    auto loss_of(const auto& z) {
        return sigmoid_cross_entropy(z, constant(x), Reduction::Sum) * (T(1) / static_cast<T>(x.cols()));
    }
    auto loss() { return loss_of(logits()); }

    Param<T, 128, 784> W;
    Param<T, 128, 1> b1;
    Param<T, 784, 1> b2;
    Matrix x;
    nn::ParamSet<T> params{{"W", W}, {"b1", b1}, {"b2", b2}};
};

}  // namespace

TEMPLATE_TEST_CASE("jvp, hvp and gnvp with a workspace allocate nothing after the first call", "", float, double) {
    if (!test::counts_allocations()) {
        WARN("not counted under a sanitizer, which owns malloc");
        return;
    }
    using T = TestType;
    for (Index batch : {1, 64}) {
        INFO("batch " << batch);
        TiedModel<T> model(batch);
        const Eigen::Matrix<T, Eigen::Dynamic, 1> v =
            test::random_matrix(detail::flat_size(model.params), 1).template cast<T>();
        const auto loss = [&] { return model.loss(); };
        const auto logits = [&] { return model.logits(); };
        const auto loss_of = [&](const auto& z) { return model.loss_of(z); };
        DerivativeWorkspace<T> workspace;
        const auto all_three = [&] {
            jvp(loss, model.params, v, workspace);
            hvp(loss, model.params, v, workspace);
            gnvp(logits, loss_of, model.params, v, workspace);
        };
        all_three();  // sizes the tapes, the buffers and the GEMM workspace
        CHECK(allocations_during([&] { jvp(loss, model.params, v, workspace); }, 3) == 0);
        CHECK(allocations_during([&] { hvp(loss, model.params, v, workspace); }, 3) == 0);
        CHECK(allocations_during([&] { gnvp(logits, loss_of, model.params, v, workspace); }, 3) == 0);
        CHECK(allocations_during(all_three, 2) == 0);
        // Without a workspace, each call makes its own: the counter sees them.
        CHECK(allocations_during([&] { hvp(loss, model.params, v); }, 1) > 0);
    }
}

TEST_CASE("a Hessian-free step allocates as much with 12 CG iterations as with 2: the products reuse one workspace") {
    if (!test::counts_allocations()) {
        WARN("not counted under a sanitizer, which owns malloc");
        return;
    }
    // Every CG iteration runs (a progress stop too small to meet), and one trial step is
    // taken (no backtracking): what a step allocates besides its products is the same in both.
    const auto allocations_of_a_step = [](int cg_iterations) {
        TiedModel<double> model(16);
        nn::HessianFree<double> hf(model.params,
                                   {.max_cg_iterations = cg_iterations, .cg_progress = 1e-12, .max_backtracks = 0});
        const auto logits = [&] { return model.logits(); };
        const auto loss_of = [&](const auto& z) { return model.loss_of(z); };
        hf.step(logits, loss_of);
        hf.step(logits, loss_of);
        nn::HessianFreeReport report{};
        const long allocations = allocations_during([&] { report = hf.step(logits, loss_of); }, 1);
        CHECK(report.cg_iterations == cg_iterations);  // every product was made
        return allocations;
    };
    const long few = allocations_of_a_step(2), many = allocations_of_a_step(12);
    INFO("allocations of a step: " << few << " with 2 CG iterations, " << many << " with 12");
    CHECK(many == few);
}
