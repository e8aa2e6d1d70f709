// A tied convolutional autoencoder on Fashion-MNIST. The encoder is two strided
// convolutions, 1 -> 32 and 32 -> 64 channels (5x5, stride 2, padding 2: 28x28 -> 14x14
// -> 7x7), with sigmoid; the decoder is the two transposed convolutions with the same
// kernels, back to 28x28, sigmoid between them. Loss: sigmoid cross-entropy summed over
// the pixels, averaged over images (Caffe's). Xavier kernels, zero biases, SGD lr 0.001
// momentum 0.9 weight decay 5e-4 (biases: none), batch 64.
//
// Caffe ties a Deconvolution layer to a Convolution layer by giving their `param` the
// same name; here K1 and K2 are simply used twice, and their gradients receive both uses.

#include "common/autoencoder.hpp"

int main(int argc, char** argv) {
    using namespace tapestry;
    examples::RunOptions options;
    options.out = "tied_conv_autoencoder_out";
    options.batch = 64;
    options.lr = 0.001;  // the loss sums 784 pixels, and each kernel weight serves every position
    CLI::App app{"Train a tied convolutional autoencoder (1-32-64 channels, 5x5 stride 2) on Fashion-MNIST"};
    examples::add_common_flags(app, options);
    CLI11_PARSE(app, argc, argv);

    Kernel<float, 32, 1, 5> K1;
    Kernel<float, 64, 32, 5> K2;
    Param<float, 32, 1> encode1_bias;
    Param<float, 64, 1> encode2_bias;
    Param<float, 32, 1> decode2_bias;
    Param<float, 1, 1> decode1_bias;
    nn::Rng rng(options.seed);
    nn::xavier_init(K1, rng);
    nn::xavier_init(K2, rng);

    const nn::ParamOptions bias{.lr_mult = 1, .decay_mult = 0};
    nn::ParamSet<float> params{{"conv1_kernel", K1},
                               {"conv2_kernel", K2},
                               {"encode1_bias", encode1_bias, bias},
                               {"encode2_bias", encode2_bias, bias},
                               {"decode2_bias", decode2_bias, bias},
                               {"decode1_bias", decode1_bias, bias}};
    auto logits_of = [&](const auto& x) {
        const auto image = as_images<1, 28, 28>(x);
        const auto h1 = sigmoid(add_channel_bias(conv2d(image, K1, stride<2>, padding<2>), encode1_bias));
        const auto h2 = sigmoid(add_channel_bias(conv2d(h1, K2, stride<2>, padding<2>), encode2_bias));
        const auto g1 = sigmoid(add_channel_bias(conv_transpose2d(h2, K2, stride<2>, padding<2>, output_padding<1>),
                                                 decode2_bias));                                     // the same K2
        return add_channel_bias(conv_transpose2d(g1, K1, stride<2>, padding<2>, output_padding<1>),  // the same K1
                                decode1_bias)
            .flat();
    };
    // filters.png: the first layer's 32 kernels, 5x5 each.
    examples::LocalJob job;
    return examples::train_autoencoder(
        options, job, params, logits_of, [&] { return Eigen::MatrixXf(K1.value().transpose()); }, 5);
}
