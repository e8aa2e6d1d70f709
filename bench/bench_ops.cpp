// Op-level benchmarks: one operation's forward and backward pass with tapestry against
// the same computation written by hand in Eigen (backward derived by hand, buffers
// preallocated), in alternating batches in one benchmark. Counters: ms of each (`ms`, `hand_ms`)
// and `ratio` = tapestry / hand-written. The elementwise chain is also timed unfused
// (every intermediate stored in a Var, as an eager autodiff library would) to show
// what fusion saves (`unfused_ms`, `unfused/fused`).

#include <algorithm>
#include <chrono>
#include <map>

#include <benchmark/benchmark.h>

#include "op_cases.hpp"

namespace {

using namespace bench::ops;

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

// Calls per timed batch: enough for the faster side's batch to take about 5 us. Reading
// the clock costs 20-40 ns here, which timing each call of a small case (B = 1: 20-250
// ns) would add to both sides and so pull their ratio towards 1.
template <class Case>
int calls_per_batch(Case& c) {
    for (int i = 0; i < 16; ++i) benchmark::DoNotOptimize(c.ours());  // the tape's memory, grown
    auto start = Clock::now();
    for (int i = 0; i < 16; ++i) benchmark::DoNotOptimize(c.ours());
    const double ours = seconds_since(start) / 16;
    start = Clock::now();
    for (int i = 0; i < 16; ++i) benchmark::DoNotOptimize(c.hand());
    const double hand = seconds_since(start) / 16;
    return static_cast<int>(std::clamp(5e-6 / std::min(ours, hand), 1.0, 1024.0));
}

// Times batches of case.ours() and of case.hand() alternately, the same number of calls
// each; the manual time is tapestry's, per call.
template <class Case>
void versus(benchmark::State& state) {
    Case c(state.range(0));
    c.hand();
    // Once per case and size: repetitions must run the same number of iterations.
    static std::map<Index, int> calls_for_size;
    if (!calls_for_size.contains(state.range(0))) calls_for_size[state.range(0)] = calls_per_batch(c);
    const int calls = calls_for_size[state.range(0)];
    double ours = 0, hand = 0;
    // A batch counts as `calls` iterations, so that the benchmark's time is per call and
    // its iteration count (to reach --benchmark_min_time) counts calls.
    while (state.KeepRunningBatch(calls)) {
        const auto t0 = Clock::now();
        for (int i = 0; i < calls; ++i) benchmark::DoNotOptimize(c.ours());
        const auto t1 = Clock::now();
        for (int i = 0; i < calls; ++i) benchmark::DoNotOptimize(c.hand());
        const auto t2 = Clock::now();
        const double ours_batch = std::chrono::duration<double>(t1 - t0).count();
        ours += ours_batch;
        hand += std::chrono::duration<double>(t2 - t1).count();
        state.SetIterationTime(ours_batch);
    }
    state.counters["calls_per_batch"] = calls;
    const auto n = static_cast<double>(state.iterations());  // calls
    state.counters["ms"] = 1e3 * ours / n;
    state.counters["hand_ms"] = 1e3 * hand / n;
    state.counters["ratio"] = ours / hand;
    if constexpr (requires { c.unfused(); }) {
        double unfused = 0;
        for (int i = 0; i < 20; ++i) {
            const auto t0 = Clock::now();
            benchmark::DoNotOptimize(c.unfused());
            unfused += seconds_since(t0);
        }
        state.counters["unfused_ms"] = 1e3 * unfused / 20;
        state.counters["unfused/fused"] = (unfused / 20) / (ours / n);
    }
}

void square_sizes(benchmark::internal::Benchmark* b) {
    b->Arg(64)->Arg(256)->Arg(1024)->UseManualTime()->Unit(benchmark::kMicrosecond);
}
void batches(benchmark::internal::Benchmark* b) {
    b->Arg(1)->Arg(64)->Arg(256)->UseManualTime()->Unit(benchmark::kMicrosecond);
}

}  // namespace

BENCHMARK_TEMPLATE(versus, ElementwiseChain)->Name("ops/elementwise_chain")->Apply(square_sizes);
BENCHMARK_TEMPLATE(versus, Product<false, false>)->Name("ops/product/A*B")->Apply(square_sizes);
BENCHMARK_TEMPLATE(versus, Product<true, false>)->Name("ops/product/At*B")->Apply(square_sizes);
BENCHMARK_TEMPLATE(versus, Product<false, true>)->Name("ops/product/A*Bt")->Apply(square_sizes);
BENCHMARK_TEMPLATE(versus, Product<true, true>)->Name("ops/product/At*Bt")->Apply(square_sizes);
BENCHMARK_TEMPLATE(versus, Reductions)->Name("ops/row_and_col_sums")->Apply(square_sizes);
BENCHMARK_TEMPLATE(versus, Mse)->Name("ops/mse/784xB")->Apply(batches);
BENCHMARK_TEMPLATE(versus, SigmoidCrossEntropy)->Name("ops/sigmoid_cross_entropy/784xB")->Apply(batches);
BENCHMARK_TEMPLATE(versus, SoftmaxCrossEntropy)->Name("ops/softmax_cross_entropy/10xB")->Apply(batches);
BENCHMARK_TEMPLATE(versus, LogSoftmaxNll)->Name("ops/log_softmax_nll/10xB")->Apply(batches);
BENCHMARK_TEMPLATE(versus, Softmax)->Name("ops/softmax/10xB")->Apply(batches);
BENCHMARK_TEMPLATE(versus, LogSoftmaxRows)->Name("ops/log_softmax_rows/Bx10")->Apply(batches);
BENCHMARK_TEMPLATE(versus, LayerNorm)->Name("ops/layer_norm/256xB")->Apply(batches);
BENCHMARK_TEMPLATE(versus, Gather)->Name("ops/gather_columns/64x10000")->Apply(batches);
BENCHMARK_TEMPLATE(versus, Concat)->Name("ops/concat_rows/2x256xB")->Apply(batches);
BENCHMARK_TEMPLATE(versus, Gelu<float>)->Name("ops/gelu/f32/256xB")->Apply(batches);
BENCHMARK_TEMPLATE(versus, Gelu<double>)->Name("ops/gelu/f64/256xB")->Apply(batches);
BENCHMARK_TEMPLATE(versus, GeluLayer<float>)->Name("ops/gelu_layer/f32/256xB")->Apply(batches);
BENCHMARK_TEMPLATE(versus, GeluLayer<double>)->Name("ops/gelu_layer/f64/256xB")->Apply(batches);
BENCHMARK_TEMPLATE(versus, LeakyRelu<float>)->Name("ops/leaky_relu/f32/256xB")->Apply(batches);
BENCHMARK_TEMPLATE(versus, LeakyRelu<double>)->Name("ops/leaky_relu/f64/256xB")->Apply(batches);

BENCHMARK_MAIN();
