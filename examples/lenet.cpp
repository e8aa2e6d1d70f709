// Caffe's LeNet on Fashion-MNIST, with Caffe's recipe (examples/mnist/lenet_*.prototxt):
// conv 20 5x5, max pool 2, conv 50 5x5, max pool 2, dense 500 ReLU, dense 10, softmax
// cross-entropy; Xavier weights, zero biases (learning rate x2, as Caffe's lr_mult 2);
// SGD lr 0.01 momentum 0.9 weight decay 5e-4, Caffe's "inv" policy (gamma 1e-4, power
// 0.75); inputs scaled by 1/256; batch 64. Reports test accuracy per epoch.

#include <chrono>
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
    o.out = "lenet_out";
    o.batch = 64;
    CLI::App app{"Train Caffe's LeNet on Fashion-MNIST"};
    examples::add_common_flags(app, o);
    CLI11_PARSE(app, argc, argv);

    std::optional<examples::FashionMnist> loaded = examples::load_data(o);
    if (!loaded) return 2;
    examples::FashionMnist& data = *loaded;
    data.train_images *= 255.0f / 256.0f;  // Caffe's scale 0.00390625 (the loader divides by 255)
    data.test_images *= 255.0f / 256.0f;
    std::filesystem::create_directories(o.out);

    Kernel<float, 20, 1, 5> K1;
    Param<float, 20, 1> b1;
    Kernel<float, 50, 20, 5> K2;
    Param<float, 50, 1> b2;
    Param<float, 500, 50 * 4 * 4> W3;
    Param<float, 500, 1> b3;
    Param<float, 10, 500> W4;
    Param<float, 10, 1> b4;
    nn::Rng rng(o.seed);
    nn::xavier_init(K1, rng);
    nn::xavier_init(K2, rng);
    nn::xavier_init(W3, rng);
    nn::xavier_init(W4, rng);
    const nn::ParamOptions bias{.lr_mult = 2, .decay_mult = 1};
    nn::ParamSet<float> params{{"conv1_kernel", K1},     {"conv1_bias", b1, bias}, {"conv2_kernel", K2},
                               {"conv2_bias", b2, bias}, {"ip1_weight", W3},       {"ip1_bias", b3, bias},
                               {"ip2_weight", W4},       {"ip2_bias", b4, bias}};

    nn::OptimizerOptions solver;
    solver.lr = nn::lr::inv(o.lr, 1e-4, 0.75);
    solver.weight_decay = o.weight_decay;
    nn::Sgd<float> sgd(params, solver, {.momentum = o.momentum});

    auto logits_of = [&](const auto& x) {
        const auto image = as_images<1, 28, 28>(x);
        const auto pool1 = max_pool2d<2>(add_channel_bias(conv2d(image, K1), b1));  // 20 x 12 x 12
        const auto pool2 = max_pool2d<2>(add_channel_bias(conv2d(pool1, K2), b2));  // 50 x 4 x 4
        return W4 * relu(W3 * pool2.flat() + b3) + b4;
    };

    data::Batches<float> batches(data.train_images, data.train_labels, o.batch, o.seed);
    const std::optional<int> start = examples::first_epoch(o, sgd, batches.size());
    if (!start) return 2;
    std::ofstream csv(o.out + "/loss.csv", *start == 0 ? std::ios::trunc : std::ios::app);
    if (*start == 0) csv << "epoch,train_loss,test_loss,test_accuracy\n";

    Tape tape;
    for (int epoch = *start; epoch < o.epochs; ++epoch) {
        const auto began = std::chrono::steady_clock::now();
        const double train =
            examples::train_epoch(tape, sgd, batches, epoch, o.epochs, [&](const data::Batch<float>& batch) {
                return softmax_cross_entropy(logits_of(constant(batch.x)), batch.labels);
            });
        const double step_ms = examples::ms_per_step(began, batches.size());

        // The test set in slices of 1000 images: a convolution's output for all 10000 at
        // once would take half a gigabyte.
        InferenceMode no_recording;
        double test_loss = 0;
        long correct = 0;
        for (Index begin = 0; begin < data.test_images.cols(); begin += 1000) {
            const Index n = std::min<Index>(1000, data.test_images.cols() - begin);
            const std::span<const int> labels(data.test_labels.data() + begin, static_cast<std::size_t>(n));
            auto logits = evaluate(logits_of(constant(data.test_images.middleCols(begin, n))));
            test_loss += static_cast<double>(n) * softmax_cross_entropy(logits, labels).item();
            for (Index j = 0; j < n; ++j) {
                Index predicted = 0;
                logits.value().col(j).maxCoeff(&predicted);
                correct += predicted == labels[static_cast<std::size_t>(j)] ? 1 : 0;
            }
        }
        const auto tested = static_cast<double>(data.test_images.cols());
        const double accuracy = static_cast<double>(correct) / tested;
        std::printf("epoch %d: train loss %.4f, test loss %.4f, test accuracy %.2f%%, %.2f ms per step\n", epoch + 1,
                    train, test_loss / tested, 100.0 * accuracy, step_ms);
        std::fflush(stdout);
        csv << epoch + 1 << ',' << train << ',' << test_loss / tested << ',' << accuracy << '\n' << std::flush;
        io::save_checkpoint(o.out + "/checkpoint.safetensors", sgd);
    }
    const Eigen::MatrixXf filters = K1.value();  // one 5x5 filter per column
    examples::write_tile_grid(o.out + "/filters.png", filters, 5, 10, true, 4);
    std::printf("wrote %s/{loss.csv,checkpoint.safetensors,filters.png}\n", o.out.c_str());
    return 0;
}
