// The scalar-function suite (bench/scalar_functions.hpp): for each function and size N,
// one benchmark alternates batches of plain evaluations, hand-coded gradients and
// tapestry gradients, and reports per call
//   plain_ns, adbench_f_ns, hand_ns, tapestry_ns   the times;
//   tapestry/hand                       tapestry's gradient against the hand-coded one;
//   tapestry_units, hand_units          a gradient in units of one evaluation of f as
//                                       ADBenchmark writes it (adbench_f()): the unit of
//                                       FastAD's published figures;
//   tapestry_units_own_f                the same in units of plain(), this suite's f.
// and the tape's fixed costs (tape/fixed_costs): per node and per gradient.

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
    double plain_s = 0, adbench_s = 0, hand_s = 0, ours_s = 0;
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
        timed(adbench_s, [&] { return f.adbench_f(); });
        timed(hand_s, [&] { return f.by_hand(); });
        state.SetIterationTime(timed(ours_s, [&] { return f.tapestry(); }));  // a batch of `calls`
    }
    const double per_call = 1e9 / (static_cast<double>(state.iterations()) * calls);
    state.counters["plain_ns"] = plain_s * per_call;
    state.counters["adbench_f_ns"] = adbench_s * per_call;
    state.counters["hand_ns"] = hand_s * per_call;
    state.counters["tapestry_ns"] = ours_s * per_call;
    state.counters["tapestry/hand"] = ours_s / hand_s;
    state.counters["tapestry_units"] = ours_s / adbench_s;
    state.counters["hand_units"] = hand_s / adbench_s;
    state.counters["tapestry_units_own_f"] = ours_s / plain_s;
}

void sizes(benchmark::internal::Benchmark* b) {
    b->Arg(16)->Arg(256)->Arg(4096)->Arg(16384)->UseManualTime()->Unit(benchmark::kMicrosecond);
}

// A gradient of a chain of n nodes on 1 x 1 values, x = x * p + 0.001 (one fused node
// reading a Var and a Param each), where the arithmetic is a few flops: its time is the
// fixed cost of a gradient (clear, seed, sweep) plus n times that of a node (record,
// allocate, forward, backward, release). Chains of 1 and 65 nodes alternate; the
// difference divided by 64 is the cost per node.
double chain_gradient(tapestry::Tape& tape, tapestry::Param<double, 1, 1>& p, int nodes) {
    tape.clear();
    tapestry::Var<double, 1, 1> x = hadamard(p, p);
    for (int i = 1; i < nodes; ++i) x = hadamard(x, p) + 0.001;
    tape.backward(x);
    return p.grad()(0, 0);
}

void tape_fixed_costs(benchmark::State& state) {
    tapestry::Param<double, 1, 1> p;
    p.value()(0, 0) = 0.999;
    tapestry::Tape tape;
    constexpr int short_chain = 1, long_chain = 65, calls = 256;
    chain_gradient(tape, p, long_chain);  // sizes the tape
    using clock = std::chrono::steady_clock;
    double short_s = 0, long_s = 0;
    for (auto _ : state) {
        auto t0 = clock::now();
        for (int i = 0; i < calls; ++i) benchmark::DoNotOptimize(chain_gradient(tape, p, short_chain));
        auto t1 = clock::now();
        for (int i = 0; i < calls; ++i) benchmark::DoNotOptimize(chain_gradient(tape, p, long_chain));
        auto t2 = clock::now();
        short_s += std::chrono::duration<double>(t1 - t0).count();
        long_s += std::chrono::duration<double>(t2 - t1).count();
        state.SetIterationTime(std::chrono::duration<double>(t2 - t0).count());
    }
    const double per_call = 1e9 / (static_cast<double>(state.iterations()) * calls);
    const double per_node = (long_s - short_s) * per_call / (long_chain - short_chain);
    state.counters["per_node_ns"] = per_node;
    state.counters["per_gradient_ns"] = short_s * per_call - short_chain * per_node;
}

}  // namespace

BENCHMARK(tape_fixed_costs)->Name("tape/fixed_costs")->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK_TEMPLATE(scalar_function, Sum)->Name("scalar/sum")->Apply(sizes);
BENCHMARK_TEMPLATE(scalar_function, Product)->Name("scalar/product")->Apply(sizes);
BENCHMARK_TEMPLATE(scalar_function, LogSumExp)->Name("scalar/log_sum_exp")->Apply(sizes);
BENCHMARK_TEMPLATE(scalar_function, NormalLogDensity)->Name("scalar/normal_log_density")->Apply(sizes);
BENCHMARK_TEMPLATE(scalar_function, MatrixProductSum)->Name("scalar/matrix_product_sum")->Apply(sizes);
BENCHMARK_TEMPLATE(scalar_function, LinearRegression)->Name("scalar/linear_regression")->Apply(sizes);
BENCHMARK_TEMPLATE(scalar_function, StochasticVolatility)->Name("scalar/stochastic_volatility")->Apply(sizes);

BENCHMARK_MAIN();
