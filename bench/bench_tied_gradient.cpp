// The tied weight's gradient, two ways. A W used as W (encoder) and as W^T
// (decoder) receives
//     dW += dH x^T        and        dW += h dY^T
// tapestry runs these as two GEMMs that each add into dW (W.grad()). The same sum is
// one GEMM over a concatenated inner dimension:
//     dW += [dH h] [x dY]^T
// which reads and writes dW once instead of twice, at the price of copying the four
// thin operands side by side (or of a tape that places them so). Measured here with
// the GEMM path tapestry uses (detail::gemm_accumulate), float, one thread; each
// iteration times all three, in turn, on the same operands:
//   two_gemms           what tapestry does (the reported time)
//   one_gemm_copied     concatenate, then one GEMM         counter copied_ratio
//   one_gemm_adjacent   one GEMM on operands already side by side (the bound)
//                                                           counter adjacent_ratio
// A ratio below 1 means the single GEMM is faster than tapestry's two.
//
// Build and run: cmake --build build/bench --target bench_tied_gradient &&
//                build/bench/bench/bench_tied_gradient

#include <chrono>

#include <benchmark/benchmark.h>

#include <tapestry/tapestry.hpp>

namespace {

using Matrix = Eigen::MatrixXf;
using tapestry::Index;
using tapestry::detail::gemm_accumulate;

struct Operands {
    Matrix dW, dH, x, h, dY, left, right;  // left = [dH h], right = [x dY]
    Operands(Index m, Index n, Index batch)
        : dW(Matrix::Zero(m, n)),
          dH(Matrix::Random(m, batch)),
          x(Matrix::Random(n, batch)),
          h(Matrix::Random(m, batch)),
          dY(Matrix::Random(n, batch)),
          left(m, 2 * batch),
          right(n, 2 * batch) {
        left << dH, h;
        right << x, dY;
    }
};

template <class F>
double seconds_of(F&& f) {
    const auto start = std::chrono::steady_clock::now();
    f();
    benchmark::ClobberMemory();
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

void tied_gradient(benchmark::State& state) {
    const Index m = state.range(0), n = state.range(1), batch = state.range(2);
    Operands o(m, n, batch);
    const auto two_gemms = [&] {
        gemm_accumulate<false, true>(1.0f, o.dH.data(), m, batch, o.x.data(), n, batch, o.dW.data());
        gemm_accumulate<false, true>(1.0f, o.h.data(), m, batch, o.dY.data(), n, batch, o.dW.data());
    };
    const auto one_gemm = [&] {
        gemm_accumulate<false, true>(1.0f, o.left.data(), m, 2 * batch, o.right.data(), n, 2 * batch, o.dW.data());
    };
    const auto concatenate = [&] {
        o.left.leftCols(batch) = o.dH;
        o.left.rightCols(batch) = o.h;
        o.right.leftCols(batch) = o.x;
        o.right.rightCols(batch) = o.dY;
    };
    double two = 0, copied = 0, adjacent = 0;
    for (auto _ : state) {
        const double t = seconds_of(two_gemms);
        copied += seconds_of([&] { concatenate(), one_gemm(); });
        adjacent += seconds_of(one_gemm);
        two += t;
        state.SetIterationTime(t);
        benchmark::DoNotOptimize(o.dW.data());
    }
    state.counters["copied_ratio"] = copied / two;
    state.counters["adjacent_ratio"] = adjacent / two;
    state.counters["GFLOP/s"] =
        benchmark::Counter(4.0 * static_cast<double>(m * n * batch), benchmark::Counter::kIsIterationInvariantRate);
}

}  // namespace

// Model A's W (128 x 784) and Model B's two largest (1000 x 784, 500 x 1000).
#define TIED_SHAPES              \
    ->Args({128, 784, 1})        \
        ->Args({128, 784, 64})   \
        ->Args({128, 784, 256})  \
        ->Args({1000, 784, 1})   \
        ->Args({1000, 784, 64})  \
        ->Args({1000, 784, 256}) \
        ->Args({500, 1000, 64})
BENCHMARK(tied_gradient)->UseManualTime() TIED_SHAPES;

BENCHMARK_MAIN();
