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
};

// Adds the flags every example takes; CLI11 checks their ranges when it parses.
inline void add_common_flags(CLI::App& app, RunOptions& o) {
    app.add_option("--data", o.data, "folder with Fashion-MNIST's IDX files (.gz or plain)")->capture_default_str();
    app.add_option("--out", o.out, "folder for loss.csv, PNGs and checkpoint.safetensors")->capture_default_str();
    app.add_option("--resume", o.resume, "checkpoint to continue from")->check(CLI::ExistingFile);
    app.add_option("--epochs", o.epochs, "epochs to train (in all, counting resumed ones)")
        ->check(CLI::Range(1, 100000))
        ->capture_default_str();
    app.add_option("--batch", o.batch, "examples per batch")->check(CLI::Range(1L, 60000L))->capture_default_str();
    app.add_option("--lr", o.lr, "base learning rate")->check(CLI::PositiveNumber)->capture_default_str();
    app.add_option("--momentum", o.momentum, "SGD momentum")->check(CLI::Range(0.0, 0.999))->capture_default_str();
    app.add_option("--weight-decay", o.weight_decay, "L2 weight decay (biases: decay_mult 0)")
        ->check(CLI::NonNegativeNumber)
        ->capture_default_str();
    app.add_option("--seed", o.seed, "seed of the initialisation and the shuffles")->capture_default_str();
    app.add_option("--limit", o.limit, "use only the first N train and test examples (quick runs)")
        ->check(CLI::NonNegativeNumber);
    app.add_option_function<int>(
           "--threads", [](int n) { tapestry::set_num_threads(n); },
           "threads for products and large loops (default: TAPESTRY_NUM_THREADS, else one per core)")
        ->check(CLI::Range(1, 4096));
}

// Fashion-MNIST from o.data, or nothing after saying why on stderr. Says how many
// threads the run uses, since its times depend on it.
inline std::optional<FashionMnist> load_data(const RunOptions& o) {
    try {
        std::printf("threads: %d\n", tapestry::num_threads());
        return load_fashion_mnist(o.data, o.limit);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "error: %s\n", e.what());
        return std::nullopt;
    }
}

// The epoch to start from: 0, or where the --resume checkpoint left off (checkpoints
// are written at the end of an epoch). Nothing after saying why on stderr.
inline std::optional<int> first_epoch(const RunOptions& o, tapestry::nn::Optimizer<float>& optimizer,
                                      tapestry::Index batches_per_epoch) {
    if (o.resume.empty()) return 0;
    try {
        tapestry::io::load_checkpoint(o.resume, optimizer);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "error: cannot resume: %s\n", e.what());
        return std::nullopt;
    }
    const int epoch = static_cast<int>(optimizer.iteration() / batches_per_epoch);
    std::printf("resumed from %s at epoch %d (iteration %ld)\n", o.resume.c_str(), epoch, optimizer.iteration());
    return epoch;
}

// Milliseconds per step of `steps` steps that started at `began`.
inline double ms_per_step(std::chrono::steady_clock::time_point began, long steps) {
    return 1e3 * std::chrono::duration<double>(std::chrono::steady_clock::now() - began).count() /
           static_cast<double>(steps);
}

// One epoch of training over `batches` (shuffled for `epoch`) with a progress bar:
// for each batch, the 1x1 loss that loss_of(batch) builds, backward, one optimizer
// step. Returns the mean batch loss.
template <class LossOf>
double train_epoch(tapestry::Tape& tape, tapestry::nn::Optimizer<float>& optimizer,
                   tapestry::data::Batches<float>& batches, int epoch, int epochs, LossOf loss_of) {
    using namespace tapestry;
    batches.start_epoch(epoch);
    Progress progress(epoch + 1, epochs, batches.size());
    data::Batch<float> batch;
    double loss_sum = 0;
    long seen = 0;
    for (Index i = 0; i < batches.size(); ++i) {
        batches.get(i, batch);
        tape.clear();
        Var<float, 1, 1> loss = loss_of(batch);
        tape.backward(loss);
        optimizer.step();
        loss_sum += static_cast<double>(loss.value()(0, 0));
        seen += batch.x.cols();
        progress.update(i + 1, loss_sum / static_cast<double>(i + 1), seen);
    }
    tape.clear();
    return loss_sum / static_cast<double>(batches.size());
}

}  // namespace examples
