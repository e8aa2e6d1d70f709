// The cost of derivatives beyond the gradient (issue 22), in double on one thread, for
// Model A (bench/model_a.hpp: the tied autoencoder 784-128-784) and Model B
// (bench/model_b.hpp: the tied 784-1000-500-250-30 autoencoder), sigmoid cross-entropy
// summed over pixels and averaged over the batch. Each iteration times in turn
//   gradient   a tape's forward and backward (the Params' gradients): the reference
//   jvp        the loss and its derivative along a fixed random direction of all Params
//   hvp        the loss, its gradient and H v (forward over reverse)
//   gnvp       the loss and Jᵀ H J v, J the logits' Jacobian, H the loss's Hessian in them
// and reports the second's time; the counter over_gradient is its ratio to the
// gradient's, from the same iterations (the bounds: 2 for jvp, 4 for hvp, gnvp).
//
// Build and run: cmake --build build/native --target bench_derivatives &&
//   OMP_NUM_THREADS=1 TAPESTRY_NUM_THREADS=1 build/native/bench/bench_derivatives

#include <chrono>
#include <random>

#include <benchmark/benchmark.h>

#include <tapestry/functional/gnvp.hpp>
#include <tapestry/functional/hvp.hpp>
#include <tapestry/functional/jvp.hpp>
#include <tapestry/tapestry.hpp>

#include "model_a.hpp"
#include "model_b.hpp"

namespace {

using namespace tapestry;
using T = double;
using Matrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>;

struct ModelA {
    Param<T, bench::hidden, bench::visible> W;
    Param<T, bench::hidden, 1> b1;
    Param<T, bench::visible, 1> b2;
    Matrix x;
    nn::ParamSet<T> params{{"W", W}, {"b1", b1}, {"b2", b2}};

    explicit ModelA(Index batch) : ModelA(bench::ModelAData<T>(batch)) {}
    explicit ModelA(const bench::ModelAData<T>& d) : W(d.W0), x(d.x) {}

    auto logits() {
        auto h = sigmoid(W * constant(x) + b1);
        return evaluate(W.transpose() * h + b2);
    }
    auto loss_of(const auto& z) {
        return sigmoid_cross_entropy(z, constant(x), Reduction::Sum) * (T(1) / static_cast<T>(x.cols()));
    }
    auto loss() { return loss_of(logits()); }
};

struct ModelB {
    bench::ModelBData<T> data;
    bench::ModelBNet<T> net{data};
    nn::ParamSet<T> params = net.params();

    explicit ModelB(Index batch) : data(batch) {}

    auto logits() { return evaluate(net.logits(constant(data.x))); }
    auto loss_of(const auto& z) {
        return sigmoid_cross_entropy(z, constant(data.x), Reduction::Sum) * (T(1) / static_cast<T>(data.x.cols()));
    }
    auto loss() { return net.loss(data.x, 0, data.x.cols()); }
};

double seconds_since(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

enum class Derivative { jvp, hvp, gnvp };

// With a workspace, each call reuses the tape and buffers of the one before (as a
// solver's loop would); without, each call makes its own.
template <class Model, Derivative Kind, bool WithWorkspace = false>
void derivative_cost(benchmark::State& state) {
    Model model(state.range(0));
    std::mt19937 rng(7);
    std::normal_distribution<double> normal(0.0, 1.0);
    const Eigen::VectorXd direction =
        Eigen::VectorXd::NullaryExpr(detail::flat_size(model.params), [&] { return normal(rng); });
    Tape tape;
    DerivativeWorkspace<T> workspace;
    const auto call = [&](auto&& function, auto&&... arguments) -> decltype(auto) {
        if constexpr (WithWorkspace)
            return function(arguments..., model.params, direction, workspace);
        else
            return function(arguments..., model.params, direction);
    };
    double gradient_seconds = 0, derivative_seconds = 0;
    for (auto _ : state) {
        auto start = std::chrono::steady_clock::now();
        tape.clear();
        model.params.zero_grad();
        tape.backward(model.loss());
        benchmark::DoNotOptimize(model.params[0].grad().data());
        const double gradient = seconds_since(start);

        start = std::chrono::steady_clock::now();
        const auto loss = [&] { return model.loss(); };
        if constexpr (Kind == Derivative::jvp) {
            const JvpResult<T>& result = call([](auto&&... a) -> decltype(auto) { return jvp(a...); }, loss);
            benchmark::DoNotOptimize(result.tangent.data());
        } else if constexpr (Kind == Derivative::hvp) {
            const HvpResult<T>& result = call([](auto&&... a) -> decltype(auto) { return hvp(a...); }, loss);
            benchmark::DoNotOptimize(result.product.data());
        } else {
            const auto logits = [&] { return model.logits(); };
            const auto loss_of = [&](const auto& z) { return model.loss_of(z); };
            const GnvpResult<T>& result =
                call([](auto&&... a) -> decltype(auto) { return gnvp(a...); }, logits, loss_of);
            benchmark::DoNotOptimize(result.product.data());
        }
        const double derivative = seconds_since(start);
        gradient_seconds += gradient;
        derivative_seconds += derivative;
        state.SetIterationTime(derivative);
    }
    state.counters["over_gradient"] = derivative_seconds / gradient_seconds;
    state.counters["gradient_ms"] = 1e3 * gradient_seconds / static_cast<double>(state.iterations());
}

void model_a_jvp(benchmark::State& state) { derivative_cost<ModelA, Derivative::jvp>(state); }
void model_a_hvp(benchmark::State& state) { derivative_cost<ModelA, Derivative::hvp>(state); }
void model_a_gnvp(benchmark::State& state) { derivative_cost<ModelA, Derivative::gnvp>(state); }
void model_b_jvp(benchmark::State& state) { derivative_cost<ModelB, Derivative::jvp>(state); }
void model_b_hvp(benchmark::State& state) { derivative_cost<ModelB, Derivative::hvp>(state); }
void model_b_gnvp(benchmark::State& state) { derivative_cost<ModelB, Derivative::gnvp>(state); }
void model_a_jvp_workspace(benchmark::State& state) { derivative_cost<ModelA, Derivative::jvp, true>(state); }
void model_a_hvp_workspace(benchmark::State& state) { derivative_cost<ModelA, Derivative::hvp, true>(state); }
void model_a_gnvp_workspace(benchmark::State& state) { derivative_cost<ModelA, Derivative::gnvp, true>(state); }

BENCHMARK(model_a_jvp)->Arg(1)->Arg(64)->Arg(256)->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK(model_a_hvp)->Arg(1)->Arg(64)->Arg(256)->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK(model_a_gnvp)->Arg(1)->Arg(64)->Arg(256)->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK(model_b_jvp)->Arg(64)->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK(model_b_hvp)->Arg(64)->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK(model_b_gnvp)->Arg(64)->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK(model_a_jvp_workspace)->Arg(1)->Arg(64)->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK(model_a_hvp_workspace)->Arg(1)->Arg(64)->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK(model_a_gnvp_workspace)->Arg(1)->Arg(64)->UseManualTime()->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
