// A deeper MLP classifier on Fashion-MNIST (784-512-256-10) built from the everyday
// operations: ReLU, dropout, layer norm, log_softmax and nll_loss, trained with Adam.
// The same recipe in PyTorch is bench/torch/mlp_classifier_recipe.py. Writes loss.csv
// (with test accuracy), confusion.csv and confusion.png, and a checkpoint per epoch.

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>

#include <tapestry/data/batches.hpp>
#include <tapestry/nn/init.hpp>
#include <tapestry/nn/optim/adam.hpp>
#include <tapestry/tapestry.hpp>

#include "common/images.hpp"
#include "common/run.hpp"

int main(int argc, char** argv) {
    using namespace tapestry;
    examples::RunOptions o;
    o.out = "mlp_classifier_out";
    o.lr = 1e-3;
    o.weight_decay = 0;
    o.batch = 128;
    o.epochs = 10;
    double drop = 0.2;
    std::string norm = "layer";
    CLI::App app{"Train a 784-512-256-10 MLP with dropout and layer norm on Fashion-MNIST (Adam)"};
    examples::add_common_flags(app, o);
    app.add_option("--dropout", drop, "probability of dropping a hidden unit")
        ->check(CLI::Range(0.0, 0.95))
        ->capture_default_str();
    app.add_option("--norm", norm, "normalisation after each hidden layer")
        ->check(CLI::IsMember({"layer", "none"}))
        ->capture_default_str();
    CLI11_PARSE(app, argc, argv);

    const std::optional<examples::FashionMnist> loaded = examples::load_data(o);
    if (!loaded) return 2;
    const examples::FashionMnist& data = *loaded;
    std::filesystem::create_directories(o.out);

    Param<float, 512, 784> W1;
    Param<float, 512, 1> b1, g1(Eigen::VectorXf::Ones(512)), s1;
    Param<float, 256, 512> W2;
    Param<float, 256, 1> b2, g2(Eigen::VectorXf::Ones(256)), s2;
    Param<float, 10, 256> W3;
    Param<float, 10, 1> b3;
    nn::Rng rng(o.seed);
    nn::msra_init(W1, rng);  // He initialisation suits ReLU
    nn::msra_init(W2, rng);
    nn::xavier_init(W3, rng);
    const nn::ParamOptions no_decay{.lr_mult = 1, .decay_mult = 0};
    nn::ParamSet<float> params{
        {"fc1_weight", W1}, {"fc1_bias", b1, no_decay}, {"norm1_scale", g1, no_decay}, {"norm1_shift", s1, no_decay},
        {"fc2_weight", W2}, {"fc2_bias", b2, no_decay}, {"norm2_scale", g2, no_decay}, {"norm2_shift", s2, no_decay},
        {"fc3_weight", W3}, {"fc3_bias", b3, no_decay}};
    nn::OptimizerOptions solver;
    solver.lr = nn::lr::fixed(o.lr);
    solver.weight_decay = o.weight_decay;
    nn::Adam<float> adam(params, solver);

    // Each step draws its dropout masks from a generator seeded by the step's number,
    // so that a resumed run draws what an uninterrupted one would have.
    std::mt19937_64 masks;
    const bool layer_norm_on = norm == "layer";
    auto hidden = [&](const auto& pre, const auto& gamma, const auto& beta) {
        Var<float, Dynamic, Dynamic> h = layer_norm_on
                                             ? Var<float, Dynamic, Dynamic>(relu(layer_norm(pre, gamma, beta)))
                                             : Var<float, Dynamic, Dynamic>(relu(pre));
        return dropout(h, drop, masks);
    };
    auto log_probs_of = [&](const auto& x) {
        Var<float, 512, Dynamic> h1 = hidden(W1 * x + b1, g1, s1);
        Var<float, 256, Dynamic> h2 = hidden(W2 * h1 + b2, g2, s2);
        return log_softmax(W3 * h2 + b3);
    };

    data::Batches<float> batches(data.train_images, data.train_labels, o.batch, o.seed);
    const std::optional<int> start = examples::first_epoch(o, adam, batches.size());
    if (!start) return 2;
    std::ofstream csv(o.out + "/loss.csv", *start == 0 ? std::ios::trunc : std::ios::app);
    if (*start == 0) csv << "epoch,train_loss,test_loss,test_accuracy\n";

    Tape tape;
    Eigen::MatrixXi confusion = Eigen::MatrixXi::Zero(10, 10);
    for (int epoch = *start; epoch < o.epochs; ++epoch) {
        const auto started = std::chrono::steady_clock::now();
        const double train =
            examples::train_epoch(tape, adam, batches, epoch, o.epochs, [&](const data::Batch<float>& batch) {
                masks.seed(o.seed * 1'000'003ULL + static_cast<unsigned long long>(adam.iteration()));
                return nll_loss(log_probs_of(constant(batch.x)), batch.labels);
            });
        const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();

        InferenceMode predicting;  // dropout is the identity here
        const auto log_probs = log_probs_of(constant(data.test_images));
        const double test_loss = nll_loss(log_probs, data.test_labels).item();
        const Eigen::RowVectorXi predicted = col_argmax(log_probs);
        confusion.setZero();
        for (Index j = 0; j < predicted.cols(); ++j)
            ++confusion(data.test_labels[static_cast<std::size_t>(j)], predicted(j));
        const double accuracy = static_cast<double>(confusion.trace()) / static_cast<double>(predicted.cols());
        std::printf("epoch %d: train loss %.4f, test loss %.4f, test accuracy %.2f%%, %.1f s\n", epoch + 1, train,
                    test_loss, 100.0 * accuracy, seconds);
        std::fflush(stdout);
        csv << epoch + 1 << ',' << train << ',' << test_loss << ',' << accuracy << '\n' << std::flush;
        io::save_checkpoint(o.out + "/checkpoint.safetensors", adam);
    }

    // Rows: the true class; columns: the predicted one. The PNG shows each row as a share
    // of its class (white: all of it), one 24-pixel square per cell.
    std::ofstream(o.out + "/confusion.csv") << confusion.format(Eigen::IOFormat(0, 0, ",", "\n")) << '\n';
    Eigen::MatrixXf shares(100, 1);
    for (int t = 0; t < 10; ++t)
        for (int p = 0; p < 10; ++p)
            shares(t * 10 + p, 0) = static_cast<float>(confusion(t, p)) / std::max(1.0f, float(confusion.row(t).sum()));
    examples::write_tile_grid(o.out + "/confusion.png", shares, 10, 1, false, 24);
    const Eigen::MatrixXf filters = W1.value().transpose();
    examples::write_tile_grid(o.out + "/filters.png", filters.leftCols(256), 28, 16, true);
    std::printf("wrote %s/{loss.csv,confusion.csv,confusion.png,filters.png,checkpoint.safetensors}\n", o.out.c_str());
    return 0;
}
