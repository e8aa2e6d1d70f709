// Model B's training step (bench/model_b.hpp, f32) on the ranks of an MPI job, each on
// its share of the batch: the gradients summed with mpi::DataParallel, then one SGD
// step on every rank. Run it on one process and on two ranks and compare:
//
//   TAPESTRY_NUM_THREADS=1 mpirun --allow-run-as-root -np 1 build/native/bench/bench_mpi_step
//   TAPESTRY_NUM_THREADS=2 mpirun --allow-run-as-root --bind-to none -np 1 build/native/bench/bench_mpi_step
//   TAPESTRY_NUM_THREADS=1 mpirun --allow-run-as-root -np 2 build/native/bench/bench_mpi_step
//
// bench/mpi_scaling.py runs the three and tabulates them. mpi_sum_gradients times the
// gradients' sum alone: all that starting it during the backward pass could hide.
//
// Every rank must run every benchmark the same number of times (each iteration is a
// collective call), so the iteration counts are fixed here rather than left to Google
// Benchmark, which would choose them on each rank from its own timings. Only rank 0
// reports.

#include <string_view>
#include <vector>

#include <benchmark/benchmark.h>

#include <tapestry/mpi/data_parallel.hpp>

#include "model_b.hpp"

namespace {

tapestry::mpi::Session* session = nullptr;

// Iterations of about a second at one thread on this machine (Model B f32: ~0.1 ms per example).
int iterations_for(tapestry::Index batch) { return static_cast<int>(std::max<tapestry::Index>(5, 8000 / batch)); }

void mpi_step(benchmark::State& state) {
    const tapestry::Index batch = state.range(0);
    const bench::ModelBData<float> data(batch);
    bench::ModelBNet<float> net(data);
    tapestry::mpi::DataParallel<float> parallel(*session, net.params());
    tapestry::nn::Sgd<float> sgd(net.params(), bench::ModelBNet<float>::solver(), {.momentum = 0.9});
    const tapestry::mpi::Share share = parallel.share(batch);
    tapestry::Tape tape;
    for (auto _ : state) {
        tape.clear();
        benchmark::DoNotOptimize(
            parallel.backward(tape, share, [&] { return net.loss(data.x, share.first, share.count); }));
        sgd.step();
    }
    state.counters["ranks"] = parallel.ranks();
    state.counters["threads"] = tapestry::num_threads();
    state.counters["examples/s"] = benchmark::Counter(double(batch), benchmark::Counter::kIsIterationInvariantRate);
}

void mpi_sum_gradients(benchmark::State& state) {
    const bench::ModelBData<float> data(1);
    bench::ModelBNet<float> net(data);
    tapestry::mpi::DataParallel<float> parallel(*session, net.params());
    for (const auto& p : net.params()) p.grad().setZero();  // the values do not change the time
    double bytes = 0;
    for (const auto& p : net.params()) bytes += double(p.rows * p.cols) * sizeof(float);
    for (auto _ : state) parallel.sum_gradients();
    state.counters["ranks"] = parallel.ranks();
    state.counters["MB"] = bytes / 1e6;
}

class SilentReporter : public benchmark::BenchmarkReporter {
public:
    bool ReportContext(const Context&) override { return true; }
    void ReportRuns(const std::vector<Run>&) override {}
};

}  // namespace

int main(int argc, char** argv) {
    return tapestry::mpi::run(argc, argv, [&](tapestry::mpi::Session& s) {
        session = &s;
        for (const tapestry::Index batch : {64, 256, 1024})
            benchmark::RegisterBenchmark("mpi_step/model_b/f32", mpi_step)
                ->Arg(batch)
                ->Iterations(iterations_for(batch))
                ->Unit(benchmark::kMillisecond)
                ->UseRealTime();
        benchmark::RegisterBenchmark("mpi_sum_gradients/model_b/f32", mpi_sum_gradients)
            ->Iterations(200)
            ->Unit(benchmark::kMillisecond)
            ->UseRealTime();
        // Only rank 0 writes --benchmark_out's file: the others must not even open it.
        std::vector<char*> args(argv, argv + argc);
        if (!s.is_root())
            std::erase_if(args, [](const char* a) { return std::string_view(a).starts_with("--benchmark_out"); });
        int count = static_cast<int>(args.size());
        benchmark::Initialize(&count, args.data());
        if (s.is_root()) {
            benchmark::RunSpecifiedBenchmarks();
        } else {
            SilentReporter silent;
            benchmark::RunSpecifiedBenchmarks(&silent);
        }
        benchmark::Shutdown();
        return 0;
    });
}
