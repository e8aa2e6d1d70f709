// Forward mode's cost (issue 22): Model A (bench/model_a.hpp: the tied autoencoder
// 784-128-784, sigmoid cross-entropy summed over pixels, averaged over the batch), in
// double, one thread, at B = 1, 64 and 256, each iteration timing in turn
//   gradient   a tape's forward and backward (the Params' gradients), the reference
//   jvp        the loss and its derivative along a fixed random direction of all Params
// and reporting jvp's time (the counter jvp_over_gradient gives the ratio, from the
// same iterations). jvp records the forward (a tape, as gradient does) and then sweeps
// it forward once: the two products' tangents are two GEMMs each.
//
// Build and run: cmake --build build/native --target bench_jvp &&
//   OMP_NUM_THREADS=1 TAPESTRY_NUM_THREADS=1 build/native/bench/bench_jvp

#include <chrono>
#include <random>

#include <benchmark/benchmark.h>

#include <tapestry/functional/jvp.hpp>
#include <tapestry/tapestry.hpp>

#include "model_a.hpp"

namespace {

using namespace tapestry;
using bench::hidden;
using bench::visible;
using T = double;

struct ModelA {
    Param<T, hidden, visible> W;
    Param<T, hidden, 1> b1;
    Param<T, visible, 1> b2;
    Eigen::MatrixXd x;
    nn::ParamSet<T> params{{"W", W}, {"b1", b1}, {"b2", b2}};

    explicit ModelA(const bench::ModelAData<T>& d) : W(d.W0), x(d.x) {}

    auto loss() {
        auto input = constant(x);
        auto h = sigmoid(W * input + b1);
        auto logits = W.transpose() * h + b2;
        return sigmoid_cross_entropy(logits, input, Reduction::Sum) * (T(1) / static_cast<T>(x.cols()));
    }
};

double seconds_since(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

void model_a_jvp(benchmark::State& state) {
    const bench::ModelAData<T> data(state.range(0));
    ModelA model(data);
    std::mt19937 rng(7);
    std::normal_distribution<double> normal(0.0, 1.0);
    const Eigen::VectorXd direction =
        Eigen::VectorXd::NullaryExpr(hidden * visible + hidden + visible, [&] { return normal(rng); });
    Tape tape;
    double gradient_seconds = 0, jvp_seconds = 0;
    for (auto _ : state) {
        auto start = std::chrono::steady_clock::now();
        tape.clear();
        model.params.zero_grad();
        tape.backward(model.loss());
        benchmark::DoNotOptimize(model.W.grad().data());
        const double gradient = seconds_since(start);

        start = std::chrono::steady_clock::now();
        const JvpResult<T> result = jvp([&] { return model.loss(); }, model.params, direction);
        benchmark::DoNotOptimize(result.tangent.data());
        const double forward_mode = seconds_since(start);
        gradient_seconds += gradient;
        jvp_seconds += forward_mode;
        state.SetIterationTime(forward_mode);
    }
    state.counters["jvp_over_gradient"] = jvp_seconds / gradient_seconds;
    state.counters["gradient_ms"] = 1e3 * gradient_seconds / static_cast<double>(state.iterations());
}
BENCHMARK(model_a_jvp)->Arg(1)->Arg(64)->Arg(256)->UseManualTime()->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
