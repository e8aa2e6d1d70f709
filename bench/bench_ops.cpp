// Op-level benchmarks: one operation's forward and backward pass with tapestry against
// the same computation written by hand in Eigen (backward derived by hand, buffers
// preallocated), alternated in one benchmark. Counters: ms of each (`ms`, `hand_ms`)
// and `ratio` = tapestry / hand-written. The elementwise chain is also timed unfused
// (every intermediate stored in a Var, as an eager autodiff library would) to show
// what fusion saves (`unfused_ms`, `unfused/fused`).

#include <chrono>

#include <benchmark/benchmark.h>

#include "op_cases.hpp"

namespace {

using namespace bench::ops;

// Times case.ours() and case.hand() alternately; the manual time is tapestry's.
template <class Case>
void versus(benchmark::State& state) {
    Case c(state.range(0));
    c.ours();
    c.hand();
    using clock = std::chrono::steady_clock;
    double ours = 0, hand = 0;
    for (auto _ : state) {
        const auto t0 = clock::now();
        benchmark::DoNotOptimize(c.ours());
        const auto t1 = clock::now();
        benchmark::DoNotOptimize(c.hand());
        const auto t2 = clock::now();
        ours += std::chrono::duration<double>(t1 - t0).count();
        hand += std::chrono::duration<double>(t2 - t1).count();
        state.SetIterationTime(std::chrono::duration<double>(t1 - t0).count());
    }
    const auto n = static_cast<double>(state.iterations());
    state.counters["ms"] = 1e3 * ours / n;
    state.counters["hand_ms"] = 1e3 * hand / n;
    state.counters["ratio"] = ours / hand;
    if constexpr (requires { c.unfused(); }) {
        double unfused = 0;
        for (int i = 0; i < 20; ++i) {
            const auto t0 = clock::now();
            benchmark::DoNotOptimize(c.unfused());
            unfused += std::chrono::duration<double>(clock::now() - t0).count();
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
BENCHMARK_TEMPLATE(versus, LeakyRelu<float>)->Name("ops/leaky_relu/f32/256xB")->Apply(batches);
BENCHMARK_TEMPLATE(versus, LeakyRelu<double>)->Name("ops/leaky_relu/f64/256xB")->Apply(batches);

BENCHMARK_MAIN();
