#pragma once
// The training run both autoencoder examples share: flags, Fashion-MNIST, SGD with
// Caffe's solver settings, a progress bar, per-epoch train and test loss (as Caffe
// reports it: summed over the 784 pixels, averaged over images), checkpoints that
// resume exactly, and the pictures.

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include <CLI/CLI.hpp>

#include <tapestry/io/checkpoint.hpp>
#include <tapestry/data/batches.hpp>
#include <tapestry/nn/init.hpp>
#include <tapestry/nn/optim/sgd.hpp>
#include <tapestry/tapestry.hpp>

#include "fashion_mnist.hpp"
#include "images.hpp"
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

// Adds the flags every example takes. Returns after CLI11 has parsed, or exits
// with its message on a bad flag.
inline void add_common_flags(CLI::App& app, RunOptions& o) {
    app.add_option("--data", o.data, "folder with Fashion-MNIST's IDX files (.gz or plain)")->capture_default_str();
    app.add_option("--out", o.out, "folder for loss.csv, PNGs and checkpoint.safetensors")->capture_default_str();
    app.add_option("--resume", o.resume, "checkpoint to continue from")->check(CLI::ExistingFile);
    app.add_option("--epochs", o.epochs, "epochs to train (in all, counting resumed ones)")
        ->check(CLI::Range(1, 100000))->capture_default_str();
    app.add_option("--batch", o.batch, "examples per batch")->check(CLI::Range(1L, 60000L))->capture_default_str();
    app.add_option("--lr", o.lr, "base learning rate")->check(CLI::PositiveNumber)->capture_default_str();
    app.add_option("--momentum", o.momentum, "SGD momentum")->check(CLI::Range(0.0, 0.999))->capture_default_str();
    app.add_option("--weight-decay", o.weight_decay, "L2 weight decay (biases: decay_mult 0)")
        ->check(CLI::NonNegativeNumber)->capture_default_str();
    app.add_option("--seed", o.seed, "seed of the initialisation and the shuffles")->capture_default_str();
    app.add_option("--limit", o.limit, "use only the first N train and test examples (quick runs)")
        ->check(CLI::NonNegativeNumber);
}

// Trains `logits_of(x)` (an autoencoder's output logits for the 784 x B batch x) with
// sigmoid cross-entropy against x. `filters` gives the matrix whose rows are drawn in
// filters.png. Returns the process exit code.
template <class LogitsOf, class Filters>
int train_autoencoder(const RunOptions& o, const tapestry::nn::ParamSet<float>& params, LogitsOf logits_of,
                      Filters filters) {
    using namespace tapestry;
    FashionMnist data;
    try {
        data = load_fashion_mnist(o.data, o.limit);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "error: %s\n", e.what());
        return 2;
    }
    std::filesystem::create_directories(o.out);

    nn::OptimizerOptions solver;
    solver.lr = nn::lr::fixed(o.lr);
    solver.weight_decay = o.weight_decay;
    nn::Sgd<float> sgd(params, solver, {.momentum = o.momentum});

    data::Batches<float> batches(data.train_images, o.batch, o.seed);
    int first_epoch = 0;
    if (!o.resume.empty()) {
        try {
            io::load_checkpoint(o.resume, sgd);
        } catch (const std::exception& e) {
            std::fprintf(stderr, "error: cannot resume: %s\n", e.what());
            return 2;
        }
        first_epoch = static_cast<int>(sgd.iteration() / batches.size());
        std::printf("resumed from %s at epoch %d (iteration %ld)\n", o.resume.c_str(), first_epoch, sgd.iteration());
    }

    // Caffe's SigmoidCrossEntropyLoss: summed over pixels, averaged over the images.
    auto batch_loss = [&](const auto& x, Index images) {
        return sigmoid_cross_entropy(logits_of(x), x, Reduction::Sum) * (1.0f / static_cast<float>(images));
    };
    auto test_loss = [&] {
        InferenceMode no_recording;
        double total = 0;
        for (Index begin = 0; begin < data.test_images.cols(); begin += 1000) {
            const Index n = std::min<Index>(1000, data.test_images.cols() - begin);
            auto x = constant(data.test_images.middleCols(begin, n));
            total += static_cast<double>(sigmoid_cross_entropy(logits_of(x), x, Reduction::Sum).value()(0, 0));
        }
        return total / static_cast<double>(data.test_images.cols());
    };

    const std::string csv_path = o.out + "/loss.csv";
    std::ofstream csv(csv_path, first_epoch == 0 ? std::ios::trunc : std::ios::app);
    if (first_epoch == 0) csv << "epoch,train_loss,test_loss\n";

    Tape tape;
    data::Batch<float> batch;
    for (int epoch = first_epoch; epoch < o.epochs; ++epoch) {
        batches.start_epoch(epoch);
        Progress progress(epoch + 1, o.epochs, batches.size());
        double loss_sum = 0;
        long seen = 0;
        for (Index i = 0; i < batches.size(); ++i) {
            batches.get(i, batch);
            tape.clear();
            auto x = constant(batch.x);
            Var<float, 1, 1> loss = batch_loss(x, batch.x.cols());
            tape.backward(loss);
            sgd.step();
            loss_sum += static_cast<double>(loss.value()(0, 0));
            seen += batch.x.cols();
            progress.update(i + 1, loss_sum / static_cast<double>(i + 1), seen);
        }
        tape.clear();
        const double train = loss_sum / static_cast<double>(batches.size()), test = test_loss();
        std::printf("epoch %d: train loss %.4f, test loss %.4f\n", epoch + 1, train, test);
        std::fflush(stdout);
        csv << epoch + 1 << ',' << train << ',' << test << '\n' << std::flush;
        io::save_checkpoint(o.out + "/checkpoint.safetensors", sgd);
    }

    // Ten test images above their reconstructions, and the first layer's filters.
    {
        InferenceMode no_recording;
        const Index shown = std::min<Index>(10, data.test_images.cols());
        auto x = constant(data.test_images.leftCols(shown));
        Var<float, Dynamic, Dynamic> reconstructed = sigmoid(logits_of(x));
        Eigen::MatrixXf pictures(784, 2 * shown);
        pictures << data.test_images.leftCols(shown), reconstructed.value();
        write_tile_grid(o.out + "/reconstructions.png", pictures, 28, static_cast<int>(shown), false);
    }
    const Eigen::MatrixXf rows = filters().transpose();
    write_tile_grid(o.out + "/filters.png", rows.leftCols(std::min<Index>(rows.cols(), 256)), 28, 16, true);
    std::printf("wrote %s/{loss.csv,checkpoint.safetensors,reconstructions.png,filters.png}\n", o.out.c_str());
    return 0;
}

}  // namespace examples
