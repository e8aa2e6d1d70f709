// Convolution benchmarks: one layer's forward and backward pass (bench/conv_cases.hpp)
// with tapestry against the same layer written by hand (im2col + Eigen GEMM), alternated
// in one benchmark, f32, one thread. Counters: ms of each (`ms`, `hand_ms`), `ratio` =
// tapestry / hand-written, and tapestry's `GFLOP/s` (2 flops per multiply-add of the
// forward product, the kernel's gradient and the images' gradient where there is one).
// conv2d's twin keeps its im2col matrices from forward; `hand_recompute_ms` is the twin
// building them again in backward, as tapestry does.
//
//   build/native/bench/bench_conv --benchmark_min_time=0.3

#include <chrono>

#include <benchmark/benchmark.h>

#include "conv_cases.hpp"

namespace {

using namespace bench::conv;
using clock_type = std::chrono::steady_clock;

template <class F>
double seconds(F&& f) {
    const auto t0 = clock_type::now();
    benchmark::DoNotOptimize(f());
    return std::chrono::duration<double>(clock_type::now() - t0).count();
}

template <class Case>
void versus(benchmark::State& state) {
    Case c(state.range(0));
    c.ours();
    c.hand();
    double ours = 0, hand = 0, recompute = 0;
    for (auto _ : state) {
        const double t = seconds([&] { return c.ours(); });
        hand += seconds([&] { return c.hand(); });
        if constexpr (requires { c.hand_recompute(); }) recompute += seconds([&] { return c.hand_recompute(); });
        ours += t;
        state.SetIterationTime(t);
    }
    const auto n = static_cast<double>(state.iterations());
    state.counters["ms"] = 1e3 * ours / n;
    state.counters["hand_ms"] = 1e3 * hand / n;
    state.counters["ratio"] = ours / hand;
    state.counters["GFLOP/s"] = c.flops() / (ours / n) / 1e9;
    if constexpr (requires { c.hand_recompute(); }) state.counters["hand_recompute_ms"] = 1e3 * recompute / n;
}

void batches(benchmark::internal::Benchmark* b) { b->Arg(1)->Arg(64)->UseManualTime()->Unit(benchmark::kMillisecond); }

}  // namespace

BENCHMARK_TEMPLATE(versus, LeNetConv1)->Name("conv/lenet_conv1/1x28x28_to_20x24x24/B")->Apply(batches);
BENCHMARK_TEMPLATE(versus, LeNetConv2)->Name("conv/lenet_conv2/20x12x12_to_50x8x8/B")->Apply(batches);
BENCHMARK_TEMPLATE(versus, AutoencoderConv1)->Name("conv/autoencoder_conv1/1x28x28_to_32x14x14/B")->Apply(batches);
BENCHMARK_TEMPLATE(versus, AutoencoderConv2)->Name("conv/autoencoder_conv2/32x14x14_to_64x7x7/B")->Apply(batches);
BENCHMARK_TEMPLATE(versus, AutoencoderDeconv2)->Name("conv/autoencoder_deconv2/64x7x7_to_32x14x14/B")->Apply(batches);
BENCHMARK_TEMPLATE(versus, AutoencoderDeconv1)->Name("conv/autoencoder_deconv1/32x14x14_to_1x28x28/B")->Apply(batches);

BENCHMARK_MAIN();
