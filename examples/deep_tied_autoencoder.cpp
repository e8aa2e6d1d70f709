// Caffe's deep MNIST autoencoder, tied, on Fashion-MNIST: 784-1000-500-250-30 with
// sigmoid on every hidden layer except the linear 30-unit code, and a decoder that
// reuses the four encoder matrices transposed. Sigmoid cross-entropy on the 784 logits.
// Same flags (--distributed too) and outputs as tied_autoencoder.

#include "common/autoencoder.hpp"

int main(int argc, char** argv) {
    using namespace tapestry;
    examples::RunOptions options;
    options.out = "deep_tied_autoencoder_out";
    CLI::App app{"Train Caffe's deep MNIST autoencoder (784-1000-500-250-30), tied, on Fashion-MNIST"};
    examples::add_common_flags(app, options);
    examples::add_distributed_flag(app, options);
    CLI11_PARSE(app, argc, argv);

    return examples::run_job(options.distributed, argc, argv, [&](auto make_job) {
        Param<float, 1000, 784> W1;
        Param<float, 500, 1000> W2;
        Param<float, 250, 500> W3;
        Param<float, 30, 250> W4;
        Param<float, 1000, 1> e1, d1;
        Param<float, 500, 1> e2, d2;
        Param<float, 250, 1> e3, d3;
        Param<float, 30, 1> e4;
        Param<float, 784, 1> d0;
        nn::Rng rng(options.seed);
        // Caffe's mnist_autoencoder fills every matrix with gaussian std 1, sparse 15.
        nn::gaussian_init(W1, 0.0, 1.0, rng, 15);
        nn::gaussian_init(W2, 0.0, 1.0, rng, 15);
        nn::gaussian_init(W3, 0.0, 1.0, rng, 15);
        nn::gaussian_init(W4, 0.0, 1.0, rng, 15);

        const nn::ParamOptions bias{.lr_mult = 1, .decay_mult = 0};
        nn::ParamSet<float> params{{"encode1_matrix", W1},     {"encode2_matrix", W2},     {"encode3_matrix", W3},
                                   {"encode4_matrix", W4},     {"encode1_bias", e1, bias}, {"encode2_bias", e2, bias},
                                   {"encode3_bias", e3, bias}, {"encode4_bias", e4, bias}, {"decode4_bias", d3, bias},
                                   {"decode3_bias", d2, bias}, {"decode2_bias", d1, bias}, {"decode1_bias", d0, bias}};
        auto logits_of = [&](const auto& x) {
            Var<float, 1000, Dynamic> h1 = sigmoid(W1 * x + e1);
            Var<float, 500, Dynamic> h2 = sigmoid(W2 * h1 + e2);
            Var<float, 250, Dynamic> h3 = sigmoid(W3 * h2 + e3);
            Var<float, 30, Dynamic> code = W4 * h3 + e4;  // linear code
            Var<float, 250, Dynamic> g3 = sigmoid(W4.transpose() * code + d3);
            Var<float, 500, Dynamic> g2 = sigmoid(W3.transpose() * g3 + d2);
            Var<float, 1000, Dynamic> g1 = sigmoid(W2.transpose() * g2 + d1);
            return W1.transpose() * g1 + d0;
        };
        auto job = make_job(params);
        return examples::train_autoencoder(options, job, params, logits_of,
                                           [&] { return Eigen::MatrixXf(W1.value()); });
    });
}
