// The training steps of Model A (bench/model_a.hpp) and Model B (bench/model_b.hpp):
// tapestry against the hand-written Eigen floor, in the same binary, with the same data. Each benchmark reports
// its time per step (ms) and GEMM GFLOP/s; the Ratio benchmarks alternate the two versions step by
// step and report tapestry / hand-written as the counter `ratio`, and the bytes the
// tape occupies for one step as `tape_bytes`; the inference_ratio benchmarks compare
// the forward passes alone, with no tape.

#include <array>
#include <chrono>
#include <functional>
#include <string>
#include <thread>

#include <benchmark/benchmark.h>

#include "model_a.hpp"
#include "model_b.hpp"

namespace {

template <class Model, class Data>
void training_step(benchmark::State& state) {
    const Data data(state.range(0));
    Model model(data);
    model.step();  // the first step sizes the tape
    for (auto _ : state) benchmark::DoNotOptimize(model.step());
    state.counters["GFLOP/s"] = benchmark::Counter(data.gemm_flops() * static_cast<double>(state.iterations()) / 1e9,
                                                   benchmark::Counter::kIsRate);
}

// Alternates both versions so that they see the same machine state; the manual
// time is tapestry's, and `ratio` = tapestry time / hand-written time.
// With Inference, both run their forward pass only, with no tape.
template <class Ours, class Floor, class Data, bool Inference = false>
void ratio(benchmark::State& state) {
    const Data data(state.range(0));
    Ours ours(data);
    Floor floor(data);
    const auto run = [](auto& model) { return Inference ? model.infer() : model.step(); };
    run(ours);
    run(floor);
    double ours_seconds = 0, floor_seconds = 0;
    using clock = std::chrono::steady_clock;
    const auto timed = [&run](auto& model) {
        const auto start = clock::now();
        benchmark::DoNotOptimize(run(model));
        return std::chrono::duration<double>(clock::now() - start).count();
    };
    bool ours_first = true;
    for (auto _ : state) {
        // Which goes first alternates: in a fixed order one version would always find
        // the shared batch warm from the other's step, or its own weights evicted by it.
        double ours_step, floor_step;
        if (ours_first) {
            ours_step = timed(ours);
            floor_step = timed(floor);
        } else {
            floor_step = timed(floor);
            ours_step = timed(ours);
        }
        ours_first = !ours_first;
        ours_seconds += ours_step;
        floor_seconds += floor_step;
        state.SetIterationTime(ours_step);
    }
    state.counters["ratio"] = ours_seconds / floor_seconds;
    state.counters["hand_ms/step"] = 1e3 * floor_seconds / static_cast<double>(state.iterations());
    state.counters["ms/step"] = 1e3 * ours_seconds / static_cast<double>(state.iterations());
    if (!Inference) {  // the tape's memory for one step (test_allocations checks it against what backward reads)
        const auto used = ours.tape().bytes_used();
        state.counters["tape_bytes"] = static_cast<double>(used.values_and_steps + used.adjoints);
    }
}

void batches(benchmark::internal::Benchmark* b) { b->Arg(1)->Arg(64)->Arg(256)->Unit(benchmark::kMillisecond); }

// Seconds of one step of `model` on `thread_count` threads.
template <class Model>
double timed_on(Model& model, int thread_count) {
    tapestry::set_num_threads(thread_count);
    const auto start = std::chrono::steady_clock::now();
    benchmark::DoNotOptimize(model.step());
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// Runs the steps in turn, once to warm up, then once each per iteration, always in the
// given order; the step at `manual` gives the iteration's manual time. Returns the
// seconds each step took in all.
template <std::size_t N>
std::array<double, N> alternate(benchmark::State& state, std::size_t manual,
                                const std::array<std::function<double()>, N>& steps) {
    for (const auto& step : steps) step();
    std::array<double, N> total{};
    for (auto _ : state) {
        std::array<double, N> seconds;
        for (std::size_t i = 0; i < N; ++i) total[i] += seconds[i] = steps[i]();
        state.SetIterationTime(seconds[manual]);
    }
    tapestry::set_num_threads(1);
    return total;
}

// Threads: a step on N threads against a step on one, alternated, both tapestry's;
// `speedup` = one-thread time / N-thread time. The hand-written floor runs on N threads
// too (Eigen's own parallel GEMM, Eigen::setNbThreads), and `ratio` is tapestry / floor
// at N threads. The manual time is tapestry's at N threads.
template <class Ours, class Floor, class Data>
void threads(benchmark::State& state) {
    const Data data(state.range(0));
    const int n = static_cast<int>(state.range(1));
    Ours ours(data);
    Floor floor(data);
    const auto [one, many, floor_many] = alternate<3>(
        state, 1,
        {[&] { return timed_on(ours, 1); }, [&] { return timed_on(ours, n); }, [&] { return timed_on(floor, n); }});
    state.counters["speedup"] = one / many;
    state.counters["ratio"] = many / floor_many;
    state.counters["ms/step"] = 1e3 * many / static_cast<double>(state.iterations());
    state.counters["one_thread_ms/step"] = 1e3 * one / static_cast<double>(state.iterations());
}

// Model B on nn::DataParallel with N replicas (each on its own thread, its kernels on
// it) against the same step with N-thread kernels and against one thread, alternated.
// `speedup` = one-thread time / data-parallel time; `vs_threaded_kernels` = kernel-
// threaded time / data-parallel time. The manual time is the data-parallel step's.
template <class T>
void data_parallel(benchmark::State& state) {
    const bench::ModelBData<T> data(state.range(0));
    const int n = static_cast<int>(state.range(1));
    bench::ModelBDataParallel<T> replicas(data, n);
    bench::ModelBTapestry<T> kernels(data);  // its tape is this thread's, for its steps
    const auto [parallel, threaded, one] =
        alternate<3>(state, 0,
                     {[&] { return timed_on(replicas, n); }, [&] { return timed_on(kernels, n); },
                      [&] { return timed_on(kernels, 1); }});
    state.counters["speedup"] = one / parallel;
    state.counters["vs_threaded_kernels"] = threaded / parallel;
    state.counters["ms/step"] = 1e3 * parallel / static_cast<double>(state.iterations());
}

void batches_and_threads(benchmark::internal::Benchmark* b) {
    for (const int batch : {1, 64, 256}) b->Args({batch, 2});
    b->ArgNames({"batch", "threads"})->Unit(benchmark::kMillisecond)->UseManualTime();
}

}  // namespace

using namespace bench;

BENCHMARK_TEMPLATE(training_step, ModelATapestry<float>, ModelAData<float>)
    ->Name("ModelA/f32/tapestry")
    ->Apply(batches);
BENCHMARK_TEMPLATE(training_step, ModelAEigen<float>, ModelAData<float>)
    ->Name("ModelA/f32/hand_written")
    ->Apply(batches);
BENCHMARK_TEMPLATE(training_step, ModelATapestry<double>, ModelAData<double>)
    ->Name("ModelA/f64/tapestry")
    ->Apply(batches);
BENCHMARK_TEMPLATE(training_step, ModelAEigen<double>, ModelAData<double>)
    ->Name("ModelA/f64/hand_written")
    ->Apply(batches);
BENCHMARK_TEMPLATE(ratio, ModelATapestry<float>, ModelAEigen<float>, ModelAData<float>)
    ->Name("ModelA/f32/ratio")
    ->Apply(batches)
    ->UseManualTime();
BENCHMARK_TEMPLATE(ratio, ModelATapestry<double>, ModelAEigen<double>, ModelAData<double>)
    ->Name("ModelA/f64/ratio")
    ->Apply(batches)
    ->UseManualTime();

BENCHMARK_TEMPLATE(training_step, ModelBTapestry<float>, ModelBData<float>)
    ->Name("ModelB/f32/tapestry")
    ->Apply(batches);
BENCHMARK_TEMPLATE(training_step, ModelBEigen<float>, ModelBData<float>)
    ->Name("ModelB/f32/hand_written")
    ->Apply(batches);
BENCHMARK_TEMPLATE(training_step, ModelBTapestry<double>, ModelBData<double>)
    ->Name("ModelB/f64/tapestry")
    ->Apply(batches);
BENCHMARK_TEMPLATE(training_step, ModelBEigen<double>, ModelBData<double>)
    ->Name("ModelB/f64/hand_written")
    ->Apply(batches);
BENCHMARK_TEMPLATE(ratio, ModelBTapestry<float>, ModelBEigen<float>, ModelBData<float>)
    ->Name("ModelB/f32/ratio")
    ->Apply(batches)
    ->UseManualTime();
BENCHMARK_TEMPLATE(ratio, ModelBTapestry<double>, ModelBEigen<double>, ModelBData<double>)
    ->Name("ModelB/f64/ratio")
    ->Apply(batches)
    ->UseManualTime();

BENCHMARK_TEMPLATE(ratio, ModelATapestry<float>, ModelAEigen<float>, ModelAData<float>, true)
    ->Name("ModelA/f32/inference_ratio")
    ->Apply(batches)
    ->UseManualTime();
BENCHMARK_TEMPLATE(ratio, ModelATapestry<double>, ModelAEigen<double>, ModelAData<double>, true)
    ->Name("ModelA/f64/inference_ratio")
    ->Apply(batches)
    ->UseManualTime();
BENCHMARK_TEMPLATE(ratio, ModelBTapestry<float>, ModelBEigen<float>, ModelBData<float>, true)
    ->Name("ModelB/f32/inference_ratio")
    ->Apply(batches)
    ->UseManualTime();
BENCHMARK_TEMPLATE(ratio, ModelBTapestry<double>, ModelBEigen<double>, ModelBData<double>, true)
    ->Name("ModelB/f64/inference_ratio")
    ->Apply(batches)
    ->UseManualTime();

BENCHMARK_TEMPLATE(threads, ModelATapestry<float>, ModelAEigen<float>, ModelAData<float>)
    ->Name("ModelA/f32/threads")
    ->Apply(batches_and_threads);
BENCHMARK_TEMPLATE(threads, ModelATapestry<double>, ModelAEigen<double>, ModelAData<double>)
    ->Name("ModelA/f64/threads")
    ->Apply(batches_and_threads);
BENCHMARK_TEMPLATE(threads, ModelBTapestry<float>, ModelBEigen<float>, ModelBData<float>)
    ->Name("ModelB/f32/threads")
    ->Apply(batches_and_threads);
BENCHMARK_TEMPLATE(threads, ModelBTapestry<double>, ModelBEigen<double>, ModelBData<double>)
    ->Name("ModelB/f64/threads")
    ->Apply(batches_and_threads);

BENCHMARK_TEMPLATE(data_parallel, float)->Name("ModelB/f32/data_parallel")->Apply(batches_and_threads);
BENCHMARK_TEMPLATE(data_parallel, double)->Name("ModelB/f64/data_parallel")->Apply(batches_and_threads);

#ifdef TAPESTRY_BENCH_OPENBLAS
// OpenBLAS's own API: which kernel set it chose (OPENBLAS_CORETYPE pins it), and its thread count.
extern "C" char* openblas_get_corename();
extern "C" void openblas_set_num_threads(int);
#endif
#ifdef TAPESTRY_BENCH_BLIS
// BLIS's own API (blis.h, whose arch_t is an enum): the sub-configuration it chose for
// this CPU ("generic" for one it does not know), and its thread count.
extern "C" int bli_arch_query_id();
extern "C" const char* bli_arch_string(int);
extern "C" void bli_thread_set_num_threads(long);
#endif

int main(int argc, char** argv) {
    tapestry::set_num_threads(1);  // all but the threads benchmarks: one thread, as the floors and peers
    benchmark::AddCustomContext("cores", std::to_string(std::thread::hardware_concurrency()));
#ifdef TAPESTRY_BENCH_OPENBLAS
    openblas_set_num_threads(1);  // every benchmark here runs on one thread
    benchmark::AddCustomContext("products", std::string("OpenBLAS, core ") + openblas_get_corename());
#elif defined(TAPESTRY_BENCH_BLIS)
    bli_thread_set_num_threads(1);
    benchmark::AddCustomContext("products", std::string("BLIS, core ") + bli_arch_string(bli_arch_query_id()));
#elif defined(EIGEN_USE_BLAS)
    benchmark::AddCustomContext("products", "a BLAS");
#else
    benchmark::AddCustomContext("products", "Eigen");
#endif
    benchmark::AddCustomContext("simd", Eigen::SimdInstructionSetsInUse());
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
}
