#pragma once
// Caffe's deep MNIST autoencoder, tied: 784-1000-500-250-30 with sigmoid on every hidden
// layer but the linear 30-unit code, and a decoder that reuses the four encoder matrices
// transposed. Its logits go to a sigmoid cross-entropy against the input. The matrices
// start as Caffe's mnist_autoencoder fills them (gaussian std 1, 15 non-zero inputs per
// unit), the biases at zero.

#include <tapestry/nn/init.hpp>
#include <tapestry/nn/param_set.hpp>
#include <tapestry/tapestry.hpp>

namespace examples {

struct DeepTiedAutoencoder {
    tapestry::Param<float, 1000, 784> W1;
    tapestry::Param<float, 500, 1000> W2;
    tapestry::Param<float, 250, 500> W3;
    tapestry::Param<float, 30, 250> W4;
    tapestry::Param<float, 1000, 1> e1, d1;
    tapestry::Param<float, 500, 1> e2, d2;
    tapestry::Param<float, 250, 1> e3, d3;
    tapestry::Param<float, 30, 1> e4;
    tapestry::Param<float, 784, 1> d0;

    explicit DeepTiedAutoencoder(unsigned seed) {
        tapestry::nn::Rng rng(seed);
        tapestry::nn::gaussian_init(W1, 0.0, 1.0, rng, 15);
        tapestry::nn::gaussian_init(W2, 0.0, 1.0, rng, 15);
        tapestry::nn::gaussian_init(W3, 0.0, 1.0, rng, 15);
        tapestry::nn::gaussian_init(W4, 0.0, 1.0, rng, 15);
    }

    // Named as Caffe's layers name their blobs (checkpoints use the names); biases
    // without weight decay.
    tapestry::nn::ParamSet<float> params() {
        const tapestry::nn::ParamOptions bias{.lr_mult = 1, .decay_mult = 0};
        return {{"encode1_matrix", W1},     {"encode2_matrix", W2},     {"encode3_matrix", W3},
                {"encode4_matrix", W4},     {"encode1_bias", e1, bias}, {"encode2_bias", e2, bias},
                {"encode3_bias", e3, bias}, {"encode4_bias", e4, bias}, {"decode4_bias", d3, bias},
                {"decode3_bias", d2, bias}, {"decode2_bias", d1, bias}, {"decode1_bias", d0, bias}};
    }

    // The 784 x B logits of the reconstruction of the 784 x B batch x.
    template <class X>
    auto logits(const X& x) const {
        using namespace tapestry;
        Var<float, 1000, Dynamic> h1 = sigmoid(W1 * x + e1);
        Var<float, 500, Dynamic> h2 = sigmoid(W2 * h1 + e2);
        Var<float, 250, Dynamic> h3 = sigmoid(W3 * h2 + e3);
        Var<float, 30, Dynamic> code = W4 * h3 + e4;  // linear code
        Var<float, 250, Dynamic> g3 = sigmoid(W4.transpose() * code + d3);
        Var<float, 500, Dynamic> g2 = sigmoid(W3.transpose() * g3 + d2);
        Var<float, 1000, Dynamic> g1 = sigmoid(W2.transpose() * g2 + d1);
        return W1.transpose() * g1 + d0;
    }
};

}  // namespace examples
