// The scalar-function suite (bench/scalar_functions.hpp): for each function and size N,
// one benchmark alternates batches of plain evaluations, hand-coded gradients and
// tapestry gradients, and reports per call
//   plain_ns, hand_ns, tapestry_ns     the times;
//   tapestry/hand                       tapestry's gradient against the hand-coded one;
//   tapestry_units, hand_units          a gradient in units of one plain evaluation of f
//                                       (the unit FastAD's and Stan's papers report).

#include <chrono>

#include <benchmark/benchmark.h>

#include "scalar_functions.hpp"

namespace {

using namespace bench::scalar;

template <class F>
void scalar_function(benchmark::State& state) {
    const Index n = state.range(0);
    F f(n);
    // Calls per timed batch: enough that the clock's cost is negligible even at N = 16.
    const int calls = static_cast<int>(std::max<Index>(1, 65536 / n));
    using clock = std::chrono::steady_clock;
    double plain_s = 0, hand_s = 0, ours_s = 0;
    const auto timed = [&](double& total, auto&& call) {
        const auto t0 = clock::now();
        for (int i = 0; i < calls; ++i) benchmark::DoNotOptimize(call());
        const auto seconds = std::chrono::duration<double>(clock::now() - t0).count();
        total += seconds;
        return seconds;
    };
    f.tapestry();  // the first call sizes the tape
    for (auto _ : state) {
        timed(plain_s, [&] { return f.plain(); });
        timed(hand_s, [&] { return f.by_hand(); });
        state.SetIterationTime(timed(ours_s, [&] { return f.tapestry(); }));  // a batch of `calls`
    }
    const double per_call = 1e9 / (static_cast<double>(state.iterations()) * calls);
    state.counters["plain_ns"] = plain_s * per_call;
    state.counters["hand_ns"] = hand_s * per_call;
    state.counters["tapestry_ns"] = ours_s * per_call;
    state.counters["tapestry/hand"] = ours_s / hand_s;
    state.counters["tapestry_units"] = ours_s / plain_s;
    state.counters["hand_units"] = hand_s / plain_s;
}

void sizes(benchmark::internal::Benchmark* b) {
    b->Arg(16)->Arg(256)->Arg(4096)->Arg(16384)->UseManualTime()->Unit(benchmark::kMicrosecond);
}

}  // namespace

BENCHMARK_TEMPLATE(scalar_function, Sum)->Name("scalar/sum")->Apply(sizes);
BENCHMARK_TEMPLATE(scalar_function, Product)->Name("scalar/product")->Apply(sizes);
BENCHMARK_TEMPLATE(scalar_function, LogSumExp)->Name("scalar/log_sum_exp")->Apply(sizes);
BENCHMARK_TEMPLATE(scalar_function, NormalLogDensity)->Name("scalar/normal_log_density")->Apply(sizes);
BENCHMARK_TEMPLATE(scalar_function, MatrixProductSum)->Name("scalar/matrix_product_sum")->Apply(sizes);
BENCHMARK_TEMPLATE(scalar_function, LinearRegression)->Name("scalar/linear_regression")->Apply(sizes);
BENCHMARK_TEMPLATE(scalar_function, StochasticVolatility)->Name("scalar/stochastic_volatility")->Apply(sizes);

BENCHMARK_MAIN();
