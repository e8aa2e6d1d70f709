#pragma once
// The convolution benchmarks' cases (bench/bench_conv.cpp): one layer's forward and
// backward pass, conv2d or conv_transpose2d, with tapestry (ours()) and written by hand
// in Eigen (hand()), both adding their gradients into the Params' grad(), so that
// bench/conv_agree.cpp can check that the two compute the same thing. The loss is
// sum(y .* G) for a fixed random G: the layer's backward starts from the gradient G,
// which the hand-written loss writes into a buffer of its own (dY), as the layer above a
// convolution writes the gradient the convolution's backward reads in any network.
//
// The hand-written layer is Caffe's scheme at its fastest that we know: im2col with the
// in-bounds run of each row found once (a copy at stride 1, no test per pixel), one
// Eigen GEMM per image on Maps, and for conv2d the im2col matrices of the forward pass
// kept for the kernel's gradient instead of built again (hand_recompute() builds them
// again, as tapestry does, to show what keeping them would save).

#include <algorithm>
#include <random>
#include <vector>

#include <tapestry/tapestry.hpp>

namespace bench::conv {

using tapestry::Dynamic;
using tapestry::Index;
using Matrix = Eigen::MatrixXf;
using Map = Eigen::Map<Matrix>;
using ConstMap = Eigen::Map<const Matrix>;

inline Matrix random(Index rows, Index cols, unsigned seed, float lo = -1, float hi = 1) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> uniform(lo, hi);
    return Matrix::NullaryExpr(rows, cols, [&] { return uniform(rng); });
}

// One square image size, square kernel, stride and padding, by hand, every extent a
// constant: the row loops (8 to 28 pixels) unroll and vectorise with their bounds known.
template <int Channels, int Size, int Kernel, int Stride, int Padding>
struct Window {
    static constexpr int out = (Size + 2 * Padding - Kernel) / Stride + 1;
    static constexpr int pixels = out * out;
    static constexpr int patch = Channels * Kernel * Kernel;
    static constexpr int image = Channels * Size * Size;

    // The output columns [first, last) whose input column j * Stride + offset is inside.
    static constexpr std::pair<int, int> inside(int offset) {
        int first = 0;
        while (first < out && first * Stride + offset < 0) ++first;
        int last = out;
        while (last > first && (last - 1) * Stride + offset >= Size) --last;
        return {first, last};
    }

    // fields (pixels x patch, column-major) = the receptive fields of one image.
    static void im2col(const float* __restrict x, float* __restrict fields) {
        for (Index c = 0; c < Channels; ++c)
            for (Index u = 0; u < Kernel; ++u)
                for (Index v = 0; v < Kernel; ++v) {
                    float* column = fields + ((c * Kernel + u) * Kernel + v) * pixels;
                    const auto [first, last] = inside(static_cast<int>(v) - Padding);
                    for (Index i = 0; i < out; ++i) {
                        float* row = column + i * out;
                        const Index r = i * Stride - Padding + u;
                        if (r < 0 || r >= Size) {
                            std::fill_n(row, out, 0.0f);
                            continue;
                        }
                        const float* in = x + (c * Size + r) * Size;
                        const Index offset = v - Padding;
                        for (Index j = 0; j < first; ++j) row[j] = 0;
                        for (Index j = first; j < last; ++j) row[j] = in[j * Stride + offset];
                        for (Index j = last; j < out; ++j) row[j] = 0;
                    }
                }
    }

    // x += each entry of fields, into the pixel im2col read it from.
    static void col2im_add(const float* __restrict fields, float* __restrict x) {
        for (Index c = 0; c < Channels; ++c)
            for (Index u = 0; u < Kernel; ++u)
                for (Index v = 0; v < Kernel; ++v) {
                    const float* column = fields + ((c * Kernel + u) * Kernel + v) * pixels;
                    const auto [first, last] = inside(static_cast<int>(v) - Padding);
                    for (Index i = 0; i < out; ++i) {
                        const Index r = i * Stride - Padding + u;
                        if (r < 0 || r >= Size) continue;
                        float* in = x + (c * Size + r) * Size;
                        const float* row = column + i * out;
                        const Index offset = v - Padding;
                        for (Index j = first; j < last; ++j) in[j * Stride + offset] += row[j];
                    }
                }
    }
};

// conv2d of In x H x H images with Out filters of KS x KS, stride S, padding P, batch B.
// InputGrad: the layer sits inside a network, its images the sigmoid of a Param (the
// activation of the layer below, which both versions compute and differentiate), rather
// than data.
template <int In, int H, int Out, int KS, int S, int P, bool InputGrad>
struct Conv2dLayer {
    using window = Window<In, H, KS, S, P>;
    static constexpr int OH = (H + 2 * P - KS) / S + 1;
    Index batch;
    tapestry::Param<float, In * H * H, Dynamic> x;
    tapestry::Kernel<float, Out, In, KS> K;
    Matrix G, dY;  // the gradient the layer's output receives
    tapestry::Var<float, In * H * H, Dynamic> data;
    tapestry::Var<float, Out * OH * OH, Dynamic> upstream;
    std::vector<float> fields, d_fields;
    Matrix y, activation, d_activation;
    tapestry::Tape tape;

    explicit Conv2dLayer(Index b)
        : batch(b),
          x(random(In * H * H, b, 1, 0, 1)),
          K(random(In * KS * KS, Out, 2, -0.2f, 0.2f)),
          G(random(Out * OH * OH, b, 3)),
          dY(Out * OH * OH, b),
          data(tapestry::shared_constant(x.value())),
          upstream(tapestry::shared_constant(G)),
          fields(static_cast<std::size_t>(window::pixels * window::patch * b)),
          d_fields(static_cast<std::size_t>(window::pixels * window::patch)),
          y(Out * OH * OH, b),
          activation(In * H * H, b),
          d_activation(In * H * H, b) {}

    std::vector<Matrix> gradients() { return {K.grad(), x.grad()}; }
    void zero_gradients() {
        K.zero_grad();
        x.zero_grad();
    }
    double flops() const {  // forward, the kernel's gradient, and the images' if they take one
        return 2.0 * double(batch) * Out * window::pixels * window::patch * (InputGrad ? 3 : 2);
    }

    float ours() {
        using namespace tapestry;
        tape.clear();
        const auto images = [&] {
            if constexpr (InputGrad)
                return as_images<In, H, H>(sigmoid(x));
            else
                return as_images<In, H, H>(data);
        }();
        auto loss = sum(hadamard(conv2d(images, K, stride<S>, padding<P>).flat(), upstream));
        tape.backward(loss);
        return loss.item();
    }

    template <bool KeepFields = true>
    float hand() {
        const int pixels = window::pixels, patch = window::patch, out_size = Out * pixels;
        const ConstMap kernel(K.value().data(), patch, Out);
        const float* images = x.value().data();
        if constexpr (InputGrad) {
            activation = x.value().array().logistic();
            images = activation.data();
        }
        for (Index b = 0; b < batch; ++b) {
            float* f = fields.data() + (KeepFields ? b * pixels * patch : 0);
            window::im2col(images + b * window::image, f);
            Map(y.data() + b * out_size, pixels, Out).noalias() = ConstMap(f, pixels, patch) * kernel;
        }
        const float loss = (y.array() * G.array()).sum();
        dY = G;
        Map dK(K.grad().data(), patch, Out);
        if constexpr (InputGrad) d_activation.setZero();
        for (Index b = 0; b < batch; ++b) {
            const ConstMap g(dY.data() + b * out_size, pixels, Out);
            float* f = fields.data() + (KeepFields ? b * pixels * patch : 0);
            if (!KeepFields) window::im2col(images + b * window::image, f);
            dK.noalias() += ConstMap(f, pixels, patch).transpose() * g;
            if constexpr (InputGrad) {
                Map(d_fields.data(), pixels, patch).noalias() = g * kernel.transpose();
                window::col2im_add(d_fields.data(), d_activation.data() + b * window::image);
            }
        }
        if constexpr (InputGrad)
            x.grad().array() += d_activation.array() * activation.array() * (1 - activation.array());
        return loss;
    }
    float hand_recompute() { return hand<false>(); }
};

// conv_transpose2d of Out x OH x OH images back to In x H x H, with the kernel of the
// conv2d above (same window); output padding makes the sizes meet. Its images are the
// sigmoid of a Param, as a decoder's are the encoder's activations.
template <int In, int H, int Out, int KS, int S, int P, int OutputPadding>
struct ConvTranspose2dLayer {
    using window = Window<In, H, KS, S, P>;
    static constexpr int OH = (H + 2 * P - KS) / S + 1;
    Index batch;
    tapestry::Param<float, Out * OH * OH, Dynamic> h;
    tapestry::Kernel<float, Out, In, KS> K;
    Matrix G, dY;
    tapestry::Var<float, In * H * H, Dynamic> upstream;
    std::vector<float> fields;
    Matrix y, activation, d_activation;
    tapestry::Tape tape;

    explicit ConvTranspose2dLayer(Index b)
        : batch(b),
          h(random(Out * OH * OH, b, 4, 0, 1)),
          K(random(In * KS * KS, Out, 5, -0.2f, 0.2f)),
          G(random(In * H * H, b, 6)),
          dY(In * H * H, b),
          upstream(tapestry::shared_constant(G)),
          fields(static_cast<std::size_t>(window::pixels * window::patch)),
          y(In * H * H, b),
          activation(Out * OH * OH, b),
          d_activation(Out * OH * OH, b) {}

    std::vector<Matrix> gradients() { return {K.grad(), h.grad()}; }
    void zero_gradients() {
        K.zero_grad();
        h.zero_grad();
    }
    double flops() const { return 2.0 * double(batch) * Out * window::pixels * window::patch * 3; }

    float ours() {
        using namespace tapestry;
        tape.clear();
        const auto out = conv_transpose2d(as_images<Out, OH, OH>(sigmoid(h)), K, stride<S>, padding<P>,
                                          output_padding<OutputPadding>);
        auto loss = sum(hadamard(out.flat(), upstream));
        tape.backward(loss);
        return loss.item();
    }

    float hand() {
        const int pixels = window::pixels, patch = window::patch, h_size = Out * pixels;
        const ConstMap kernel(K.value().data(), patch, Out);
        Map f(fields.data(), pixels, patch);
        activation = h.value().array().logistic();
        y.setZero();
        for (Index b = 0; b < batch; ++b) {
            f.noalias() = ConstMap(activation.data() + b * h_size, pixels, Out) * kernel.transpose();
            window::col2im_add(fields.data(), y.data() + b * window::image);
        }
        const float loss = (y.array() * G.array()).sum();
        dY = G;
        Map dK(K.grad().data(), patch, Out);
        for (Index b = 0; b < batch; ++b) {
            window::im2col(dY.data() + b * window::image, fields.data());
            const ConstMap h_b(activation.data() + b * h_size, pixels, Out);
            dK.noalias() += f.transpose() * h_b;
            Map(d_activation.data() + b * h_size, pixels, Out).noalias() = f * kernel;
        }
        h.grad().array() += d_activation.array() * activation.array() * (1 - activation.array());
        return loss;
    }
};

// The layers of issue 19's two examples, at a batch of B.
using LeNetConv1 = Conv2dLayer<1, 28, 20, 5, 1, 0, false>;                // 1x28x28 -> 20x24x24
using LeNetConv2 = Conv2dLayer<20, 12, 50, 5, 1, 0, true>;                // 20x12x12 -> 50x8x8
using AutoencoderConv1 = Conv2dLayer<1, 28, 32, 5, 2, 2, false>;          // 1x28x28 -> 32x14x14
using AutoencoderConv2 = Conv2dLayer<32, 14, 64, 5, 2, 2, true>;          // 32x14x14 -> 64x7x7
using AutoencoderDeconv2 = ConvTranspose2dLayer<32, 14, 64, 5, 2, 2, 1>;  // 64x7x7 -> 32x14x14
using AutoencoderDeconv1 = ConvTranspose2dLayer<1, 28, 32, 5, 2, 2, 1>;   // 32x14x14 -> 1x28x28

}  // namespace bench::conv
