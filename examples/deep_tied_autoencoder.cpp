// Caffe's deep MNIST autoencoder, tied, on Fashion-MNIST: 784-1000-500-250-30 with
// sigmoid on every hidden layer except the linear 30-unit code, and a decoder that
// reuses the four encoder matrices transposed (common/deep_tied_model.hpp). Sigmoid
// cross-entropy on the 784 logits, SGD with Caffe's solver settings.
// Same flags (--distributed too) and outputs as tied_autoencoder.

#include "common/autoencoder.hpp"
#include "common/deep_tied_model.hpp"

int main(int argc, char** argv) {
    using namespace tapestry;
    examples::RunOptions options;
    options.out = "deep_tied_autoencoder_out";
    CLI::App app{"Train Caffe's deep MNIST autoencoder (784-1000-500-250-30), tied, on Fashion-MNIST"};
    examples::add_common_flags(app, options);
    examples::add_distributed_flag(app, options);
    CLI11_PARSE(app, argc, argv);

    return examples::run_job(options.distributed, argc, argv, [&](auto make_job) {
        examples::DeepTiedAutoencoder model(options.seed);
        const nn::ParamSet<float> params = model.params();
        auto logits_of = [&](const auto& x) { return model.logits(x); };
        auto job = make_job(params);
        return examples::train_autoencoder(options, job, params, logits_of,
                                           [&] { return Eigen::MatrixXf(model.W1.value()); });
    });
}
