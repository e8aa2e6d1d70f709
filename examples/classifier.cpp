// An MLP classifier on Fashion-MNIST (784-256-10, ReLU, softmax cross-entropy), to
// show the library is not only for autoencoders. Reports test accuracy per epoch.

#include <cstdio>
#include <filesystem>
#include <fstream>

#include <tapestry/data/batches.hpp>
#include <tapestry/nn/init.hpp>
#include <tapestry/nn/optim/sgd.hpp>
#include <tapestry/tapestry.hpp>

#include "common/images.hpp"
#include "common/run.hpp"

int main(int argc, char** argv) {
    using namespace tapestry;
    examples::RunOptions o;
    o.out = "classifier_out";
    o.lr = 0.05;
    o.weight_decay = 1e-4;
    CLI::App app{"Train an MLP classifier (784-256-10) on Fashion-MNIST"};
    examples::add_common_flags(app, o);
    CLI11_PARSE(app, argc, argv);

    const std::optional<examples::FashionMnist> loaded = examples::load_data(o);
    if (!loaded) return 2;
    const examples::FashionMnist& data = *loaded;
    std::filesystem::create_directories(o.out);

    Param<float, 256, 784> W1;
    Param<float, 256, 1> b1;
    Param<float, 10, 256> W2;
    Param<float, 10, 1> b2;
    nn::Rng rng(o.seed);
    nn::msra_init(W1, rng);  // He initialisation suits ReLU
    nn::xavier_init(W2, rng);
    const nn::ParamOptions bias{.lr_mult = 1, .decay_mult = 0};
    nn::ParamSet<float> params{{"fc1_weight", W1}, {"fc1_bias", b1, bias}, {"fc2_weight", W2}, {"fc2_bias", b2, bias}};

    nn::OptimizerOptions solver;
    // Halved every two epochs; a schedule that does not depend on --epochs, so that a
    // resumed run follows the same rates as an uninterrupted one.
    const long batches_per_epoch = (static_cast<long>(data.train_images.cols()) + o.batch - 1) / o.batch;
    solver.lr = nn::lr::step(o.lr, 0.5, 2 * batches_per_epoch);
    solver.weight_decay = o.weight_decay;
    nn::Sgd<float> sgd(params, solver, {.momentum = o.momentum});

    auto logits_of = [&](const auto& x) { return W2 * relu(W1 * x + b1) + b2; };

    data::Batches<float> batches(data.train_images, data.train_labels, o.batch, o.seed);
    const std::optional<int> start = examples::first_epoch(o, sgd, batches.size());
    if (!start) return 2;
    std::ofstream csv(o.out + "/loss.csv", *start == 0 ? std::ios::trunc : std::ios::app);
    if (*start == 0) csv << "epoch,train_loss,test_loss,test_accuracy\n";

    Tape tape;
    for (int epoch = *start; epoch < o.epochs; ++epoch) {
        const double train =
            examples::train_epoch(tape, sgd, batches, epoch, o.epochs, [&](const data::Batch<float>& batch) {
                return softmax_cross_entropy(logits_of(constant(batch.x)), batch.labels);
            });

        InferenceMode no_recording;
        auto test_logits = evaluate(logits_of(constant(data.test_images)));
        const double test_loss =
            static_cast<double>(softmax_cross_entropy(test_logits, data.test_labels).value()(0, 0));
        long correct = 0;
        for (Index j = 0; j < test_logits.cols(); ++j) {
            Index predicted = 0;
            test_logits.value().col(j).maxCoeff(&predicted);
            correct += predicted == data.test_labels[static_cast<std::size_t>(j)] ? 1 : 0;
        }
        const double accuracy = static_cast<double>(correct) / static_cast<double>(test_logits.cols());
        std::printf("epoch %d: train loss %.4f, test loss %.4f, test accuracy %.2f%%\n", epoch + 1, train, test_loss,
                    100.0 * accuracy);
        std::fflush(stdout);
        csv << epoch + 1 << ',' << train << ',' << test_loss << ',' << accuracy << '\n' << std::flush;
        io::save_checkpoint(o.out + "/checkpoint.safetensors", sgd);
    }
    const Eigen::MatrixXf filters = W1.value().transpose();
    examples::write_tile_grid(o.out + "/filters.png", filters, 28, 16, true);
    std::printf("wrote %s/{loss.csv,checkpoint.safetensors,filters.png}\n", o.out.c_str());
    return 0;
}
