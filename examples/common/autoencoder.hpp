#pragma once
// The training run both autoencoder examples share: flags, Fashion-MNIST, SGD with
// Caffe's solver settings, a progress bar, per-epoch train and test loss (as Caffe
// reports it: summed over the 784 pixels, averaged over images), checkpoints that
// resume exactly, and the pictures.

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include <tapestry/data/batches.hpp>
#include <tapestry/nn/init.hpp>
#include <tapestry/nn/optim/sgd.hpp>
#include <tapestry/tapestry.hpp>

#include "images.hpp"
#include "job.hpp"
#include "run.hpp"

namespace examples {

// The sigmoid cross-entropy of `logits_of`'s reconstructions of images [first, first +
// count), summed over their pixels and over them: without a tape, in chunks of 1000.
template <class LogitsOf>
double summed_reconstruction_loss(const Eigen::MatrixXf& images, tapestry::Index first, tapestry::Index count,
                                  LogitsOf logits_of) {
    using namespace tapestry;
    InferenceMode no_recording;
    double total = 0;
    for (Index begin = first; begin < first + count; begin += 1000) {
        auto x = constant(images.middleCols(begin, std::min<Index>(1000, first + count - begin)));
        total += static_cast<double>(sigmoid_cross_entropy(logits_of(x), x, Reduction::Sum).value()(0, 0));
    }
    return total;
}

// Trains `logits_of(x)` (an autoencoder's output logits for the 784 x B batch x) with
// sigmoid cross-entropy against x, in `job` (this process, or every rank of an MPI job,
// job.hpp). `filters` gives the matrix whose rows are drawn in filters.png, each as a
// filter_side x filter_side square. Returns the process exit code.
template <class Job, class LogitsOf, class Filters>
int train_autoencoder(const RunOptions& o, Job& job, const tapestry::nn::ParamSet<float>& params, LogitsOf logits_of,
                      Filters filters, int filter_side = 28) {
    using namespace tapestry;
    const std::optional<FashionMnist> loaded = load_data(o, !job.is_root());
    if (!loaded) return 2;
    const FashionMnist& data = *loaded;
    if (job.is_root()) std::filesystem::create_directories(o.out);

    nn::OptimizerOptions solver;
    solver.lr = nn::lr::fixed(o.lr);
    solver.weight_decay = o.weight_decay;
    nn::Sgd<float> sgd(params, solver, {.momentum = o.momentum});

    data::Batches<float> batches(data.train_images, o.batch, o.seed);
    const std::optional<int> start = first_epoch(o, sgd, batches.size(), job);
    if (!start) return 2;

    // Caffe's SigmoidCrossEntropyLoss: summed over pixels, averaged over the images of
    // the whole batch (of which x may be this process's share).
    auto batch_loss = [&](const auto& x, Index images) {
        return sigmoid_cross_entropy(logits_of(x), x, Reduction::Sum) * (1.0f / static_cast<float>(images));
    };
    // Over this process's share of the test set, summed over the job.
    auto test_loss = [&] {
        const Share share = job.share(data.test_images.cols());
        const double total = summed_reconstruction_loss(data.test_images, share.first, share.count, logits_of);
        return job.sum(total) / static_cast<double>(data.test_images.cols());
    };

    const std::string csv_path = o.out + "/loss.csv";
    std::ofstream csv;
    if (job.is_root()) {
        csv.open(csv_path, *start == 0 ? std::ios::trunc : std::ios::app);
        csv.precision(9);  // a float's digits: runs compared from their files lose nothing
        if (*start == 0) csv << "epoch,train_loss,test_loss\n";
    }

    Tape tape;
    for (int epoch = *start; epoch < o.epochs; ++epoch) {
        const auto began = std::chrono::steady_clock::now();
        const double train = train_epoch(
            job, tape, sgd, batches, epoch, o.epochs,
            [&](const data::Batch<float>& batch, Index images) { return batch_loss(constant(batch.x), images); });
        const double step_ms = examples::ms_per_step(began, batches.size());
        const double test = test_loss();
        job.check_in_sync(sgd);  // every rank took the same steps
        if (job.is_root()) {
            std::printf("epoch %d: train loss %.4f, test loss %.4f, %.2f ms per step\n", epoch + 1, train, test,
                        step_ms);
            std::fflush(stdout);
            csv << epoch + 1 << ',' << train << ',' << test << '\n' << std::flush;
        }
        job.save(o.out + "/checkpoint.safetensors", sgd);
    }
    if (!job.is_root()) return 0;

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
    write_tile_grid(o.out + "/filters.png", rows.leftCols(std::min<Index>(rows.cols(), 256)), filter_side, 16, true,
                    std::max(2, 56 / filter_side));  // small kernels drawn large enough to see
    std::printf("wrote %s/{loss.csv,checkpoint.safetensors,reconstructions.png,filters.png}\n", o.out.c_str());
    return 0;
}

}  // namespace examples
