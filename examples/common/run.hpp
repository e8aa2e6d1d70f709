#pragma once
// What every example's run shares: the flags, loading Fashion-MNIST, resuming from a
// checkpoint. Errors are reported on stderr and turn into exit code 2.

#include <chrono>
#include <cstdio>
#include <optional>
#include <string>

#include <CLI/CLI.hpp>

#include <tapestry/data/batches.hpp>
#include <tapestry/io/checkpoint.hpp>
#include <tapestry/tapestry.hpp>

#include "fashion_mnist.hpp"
#include "job.hpp"
#include "progress.hpp"

namespace examples {

struct RunOptions {
    std::string data = default_fashion_mnist_dir;
    std::string out;
    std::string resume;
    int epochs = 5;
    long batch = 100;
    double lr = 0.01;
    double momentum = 0.9;
    double weight_decay = 5e-4;
    unsigned seed = 1;
    long limit = 0;
    bool distributed = false;
};

// Adds the flags of what data a run reads, where it writes, its seed and its threads;
// CLI11 checks their ranges when it parses.
inline void add_run_flags(CLI::App& app, RunOptions& o) {
    app.add_option("--data", o.data, "folder with Fashion-MNIST's IDX files (.gz or plain)")->capture_default_str();
    app.add_option("--out", o.out, "folder for the run's outputs (CSV files, PNGs, checkpoints)")
        ->capture_default_str();
    app.add_option("--seed", o.seed, "seed of the initialisation and the shuffles")->capture_default_str();
    app.add_option("--limit", o.limit, "use only the first N train and test examples (quick runs)")
        ->check(CLI::NonNegativeNumber);
    app.add_option_function<int>(
           "--threads", [](int n) { tapestry::set_num_threads(n); },
           "threads for products and large loops (default: TAPESTRY_NUM_THREADS, else one per core)")
        ->check(CLI::Range(1, 4096));
}

// Adds the flags of SGD with momentum and weight decay on batches.
inline void add_sgd_flags(CLI::App& app, RunOptions& o) {
    app.add_option("--batch", o.batch, "examples per batch")->check(CLI::Range(1L, 60000L))->capture_default_str();
    app.add_option("--lr", o.lr, "base learning rate")->check(CLI::PositiveNumber)->capture_default_str();
    app.add_option("--momentum", o.momentum, "SGD momentum")->check(CLI::Range(0.0, 0.999))->capture_default_str();
    app.add_option("--weight-decay", o.weight_decay, "L2 weight decay (biases: decay_mult 0)")
        ->check(CLI::NonNegativeNumber)
        ->capture_default_str();
}

// Adds the flags every example that trains by epochs takes: the two above, --epochs
// and --resume.
inline void add_common_flags(CLI::App& app, RunOptions& o) {
    add_run_flags(app, o);
    add_sgd_flags(app, o);
    app.add_option("--resume", o.resume, "checkpoint to continue from")->check(CLI::ExistingFile);
    app.add_option("--epochs", o.epochs, "epochs to train (in all, counting resumed ones)")
        ->check(CLI::Range(1, 100000))
        ->capture_default_str();
}

// Adds --distributed, for the examples that can train on the ranks of an MPI job.
inline void add_distributed_flag(CLI::App& app, RunOptions& o) {
    app.add_flag("--distributed", o.distributed,
                 "train on every rank of an MPI job, each on its share of every batch (start with mpirun -np N)");
}

// Fashion-MNIST from o.data, or nothing after saying why on stderr. Says how many
// threads the run uses (unless `quiet`), since its times depend on it.
inline std::optional<FashionMnist> load_data(const RunOptions& o, bool quiet = false) {
    try {
        if (!quiet) std::printf("threads: %d\n", tapestry::num_threads());
        return load_fashion_mnist(o.data, o.limit);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "error: %s\n", e.what());
        return std::nullopt;
    }
}

// The epoch to start from: 0, or where the --resume checkpoint left off (checkpoints
// are written at the end of an epoch). Nothing after saying why on stderr.
template <class Job = LocalJob>
std::optional<int> first_epoch(const RunOptions& o, tapestry::nn::Optimizer<float>& optimizer,
                               tapestry::Index batches_per_epoch, const Job& job = {}) {
    if (o.resume.empty()) return 0;
    try {
        job.load(o.resume, optimizer);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "error: cannot resume: %s\n", e.what());
        return std::nullopt;
    }
    const int epoch = static_cast<int>(optimizer.iteration() / batches_per_epoch);
    if (job.is_root())
        std::printf("resumed from %s at epoch %d (iteration %ld)\n", o.resume.c_str(), epoch, optimizer.iteration());
    return epoch;
}

// Milliseconds per step of `steps` steps that started at `began`.
inline double ms_per_step(std::chrono::steady_clock::time_point began, long steps) {
    return 1e3 * std::chrono::duration<double>(std::chrono::steady_clock::now() - began).count() /
           static_cast<double>(steps);
}

// One epoch of training over `batches` (shuffled for `epoch`), with a progress bar on
// the root: for each batch, this process's share of it, the 1x1 loss that
// loss_of(share, examples in the whole batch) builds, backward, one optimizer step.
// Returns the mean batch loss.
template <class Job, class LossOf>
double train_epoch(Job& job, tapestry::Tape& tape, tapestry::nn::Optimizer<float>& optimizer,
                   tapestry::data::Batches<float>& batches, int epoch, int epochs, LossOf loss_of) {
    using namespace tapestry;
    batches.start_epoch(epoch);
    Progress progress(epoch + 1, epochs, batches.size());
    data::Batch<float> batch;
    double loss_sum = 0;
    long seen = 0;
    for (Index i = 0; i < batches.size(); ++i) {
        const Index examples = batches.count(i);
        const Share share = job.share(examples);
        batches.get(i, batch, share.first, share.count);
        tape.clear();
        loss_sum += job.backward(tape, share, [&] { return loss_of(batch, examples); });
        optimizer.step();
        seen += examples;
        if (job.is_root()) progress.update(i + 1, loss_sum / static_cast<double>(i + 1), seen);
    }
    tape.clear();
    return loss_sum / static_cast<double>(batches.size());
}

// The same in this process alone, with loss_of(batch).
template <class LossOf>
double train_epoch(tapestry::Tape& tape, tapestry::nn::Optimizer<float>& optimizer,
                   tapestry::data::Batches<float>& batches, int epoch, int epochs, LossOf loss_of) {
    LocalJob job;
    return train_epoch(job, tape, optimizer, batches, epoch, epochs,
                       [&](const tapestry::data::Batch<float>& batch, tapestry::Index) { return loss_of(batch); });
}

}  // namespace examples
