// Convolutions, their transpose, pooling, nearest upsampling and the per-channel bias:
// values and gradients against PyTorch's (tests/conv_reference.inc, float64, to 1e-10),
// conv2d against the convolution written from its definition, conv_transpose2d against
// conv2d as its adjoint, every gradient against central finite differences (also a
// Kernel used twice, as a tied autoencoder uses it), and the run-time checks.

#include <cmath>
#include <limits>
#include <vector>

#include <catch2/catch.hpp>

#include "conv_reference.inc"
#include "helpers.hpp"
#include "tapestry/nn/optim/sgd.hpp"

using namespace tapestry;
using test::gradient_tolerance;
using test::MessageContains;
using test::random_matrix;

namespace {

using Matrix = Eigen::MatrixXd;

Matrix from_torch(const std::vector<double>& values, Index rows, Index cols) {
    REQUIRE(static_cast<Index>(values.size()) == rows * cols);
    return Eigen::Map<const Matrix>(values.data(), rows, cols);
}

double largest_difference(const Matrix& a, const Matrix& b) {
    REQUIRE(a.rows() == b.rows());
    REQUIRE(a.cols() == b.cols());
    return (a - b).cwiseAbs().maxCoeff();
}

// sum(output .* weights): the loss whose gradients the reference holds.
template <class Out>
auto weighted_sum(const Out& out, const Matrix& weights) {
    return sum(hadamard(out.flat(), constant(weights)));
}

// conv2d from its definition (PyTorch's cross-correlation), one output value at a time.
template <int C, int H, int W, int Out, int KH, int KW>
Matrix convolution_by_definition(const Matrix& x, const Matrix& kernel, int sh, int sw, int ph, int pw, int dh,
                                 int dw) {
    const int out_h = (H + 2 * ph - dh * (KH - 1) - 1) / sh + 1, out_w = (W + 2 * pw - dw * (KW - 1) - 1) / sw + 1;
    Matrix y = Matrix::Zero(Out * out_h * out_w, x.cols());
    for (Index b = 0; b < x.cols(); ++b)
        for (int o = 0; o < Out; ++o)
            for (int i = 0; i < out_h; ++i)
                for (int j = 0; j < out_w; ++j) {
                    double total = 0;
                    for (int c = 0; c < C; ++c)
                        for (int u = 0; u < KH; ++u)
                            for (int v = 0; v < KW; ++v) {
                                const int r = i * sh - ph + u * dh, s = j * sw - pw + v * dw;
                                if (r >= 0 && r < H && s >= 0 && s < W)
                                    total += x((c * H + r) * W + s, b) * kernel((c * KH + u) * KW + v, o);
                            }
                    y((o * out_h + i) * out_w + j, b) = total;
                }
    return y;
}

// One PyTorch case: `make(x)` or `make(x, K)` from the reference's input (a batch of two
// images) and kernel, compared in value and in the gradients of sum(output * weights).
// TORCH_CASE and TORCH_KERNEL_CASE name the arrays of one namespace of conv_reference.inc.
struct TorchCase {
    const std::vector<double>& input;
    const std::vector<double>& input_grad;
    const std::vector<double>& output;
    const std::vector<double>& output_weights;
    const std::vector<double>* kernel = nullptr;
    const std::vector<double>* kernel_grad = nullptr;
};

template <class KernelType = void, class Make>
void compare_with_torch(const TorchCase& ref, Make make) {
    constexpr Index batch = 2;
    const auto in_rows = static_cast<Index>(ref.input.size()) / batch;
    const auto out_rows = static_cast<Index>(ref.output.size()) / batch;
    Param<double, Dynamic, Dynamic> x(from_torch(ref.input, in_rows, batch));
    Tape tape;
    const auto check_output = [&](const auto& y) {
        CHECK(largest_difference(y.flat().value(), from_torch(ref.output, out_rows, batch)) < 1e-10);
        tape.backward(weighted_sum(y, from_torch(ref.output_weights, out_rows, batch)));
        CHECK(largest_difference(x.grad(), from_torch(ref.input_grad, in_rows, batch)) < 1e-10);
    };
    if constexpr (std::is_void_v<KernelType>) {
        check_output(make(x));
    } else {
        constexpr Index rows = KernelType::rows_at_compile_time, cols = KernelType::cols_at_compile_time;
        KernelType K(from_torch(*ref.kernel, rows, cols));
        check_output(make(x, K));
        CHECK(largest_difference(K.grad(), from_torch(*ref.kernel_grad, rows, cols)) < 1e-10);
    }
}

#define TORCH_CASE(ns, input)                                                                       \
    TorchCase {                                                                                     \
        torch_reference::ns::input, torch_reference::ns::input##_grad, torch_reference::ns::output, \
            torch_reference::ns::output_weights                                                     \
    }
#define TORCH_KERNEL_CASE(ns, input)                                                                             \
    TorchCase {                                                                                                  \
        torch_reference::ns::input, torch_reference::ns::input##_grad, torch_reference::ns::output,              \
            torch_reference::ns::output_weights, &torch_reference::ns::kernel, &torch_reference::ns::kernel_grad \
    }

}  // namespace

TEST_CASE("conv2d and conv_transpose2d equal PyTorch's values and gradients (float64, to 1e-10)") {
    SECTION("conv2d: 3x3, stride 1, no padding") {
        compare_with_torch<Kernel<double, 3, 2, 3>>(TORCH_KERNEL_CASE(conv2d_plain, x),
                                                    [](auto& x, auto& K) { return conv2d(as_images<2, 5, 5>(x), K); });
    }
    SECTION("conv2d: 5x5, stride 2, padding 2 (the convolutional autoencoder's)") {
        compare_with_torch<Kernel<double, 2, 1, 5>>(TORCH_KERNEL_CASE(conv2d_strided, x), [](auto& x, auto& K) {
            const auto y = conv2d(as_images<1, 8, 8>(x), K, stride<2>, padding<2>);
            STATIC_REQUIRE(std::is_same_v<decltype(y), const Images<double, 2, 4, 4>>);
            return y;
        });
    }
    SECTION("conv2d: 3x2 kernel, stride (2, 1), padding (1, 0), dilation (1, 2), options in any order") {
        compare_with_torch<Kernel<double, 4, 3, 3, 2>>(TORCH_KERNEL_CASE(conv2d_mixed, x), [](auto& x, auto& K) {
            const auto y = conv2d(as_images<3, 7, 6>(x), K, dilation<1, 2>, stride<2, 1>, padding<1, 0>);
            STATIC_REQUIRE(std::is_same_v<decltype(y), const Images<double, 4, 4, 4>>);
            return y;
        });
    }
    SECTION("conv_transpose2d: 5x5, stride 2, padding 2, output padding 1: 4x4 back to 8x8") {
        compare_with_torch<Kernel<double, 2, 1, 5>>(
            TORCH_KERNEL_CASE(conv_transpose2d_strided, h), [](auto& h, auto& K) {
                const auto y = conv_transpose2d(as_images<2, 4, 4>(h), K, stride<2>, padding<2>, output_padding<1>);
                STATIC_REQUIRE(std::is_same_v<decltype(y), const Images<double, 1, 8, 8>>);
                return y;
            });
    }
    SECTION("conv_transpose2d: 3x2 kernel, stride (2, 1), padding (1, 0), dilation (1, 2)") {
        compare_with_torch<Kernel<double, 4, 3, 3, 2>>(
            TORCH_KERNEL_CASE(conv_transpose2d_mixed, h), [](auto& h, auto& K) {
                const auto y = conv_transpose2d(as_images<4, 4, 5>(h), K, stride<2, 1>, padding<1, 0>, dilation<1, 2>);
                STATIC_REQUIRE(std::is_same_v<decltype(y), const Images<double, 3, 7, 7>>);
                return y;
            });
    }
}

TEST_CASE("the pools and nearest upsampling equal PyTorch's values and gradients (float64, to 1e-10)") {
    compare_with_torch(TORCH_CASE(max_pool2d, x), [](auto& x) { return max_pool2d<2>(as_images<3, 6, 7>(x)); });
    compare_with_torch(TORCH_CASE(max_pool2d_overlapping, x),
                       [](auto& x) { return max_pool2d<3>(as_images<2, 7, 7>(x), stride<2>); });
    compare_with_torch(TORCH_CASE(avg_pool2d, x),
                       [](auto& x) { return avg_pool2d<3>(as_images<3, 7, 7>(x), stride<2>); });
    compare_with_torch(TORCH_CASE(upsample_nearest, x),
                       [](auto& x) { return upsample_nearest<2, 3>(as_images<2, 3, 4>(x)); });
    compare_with_torch(TORCH_CASE(max_pool2d_padded_ceil, x), [](auto& x) {
        const auto y = max_pool2d<3>(as_images<2, 8, 7>(x), stride<2>, padding<1>, ceil_mode);
        STATIC_REQUIRE(std::is_same_v<decltype(y), const Images<double, 2, 5, 4>>);
        return y;
    });
    compare_with_torch(TORCH_CASE(avg_pool2d_padded_ceil, x),
                       [](auto& x) { return avg_pool2d<3>(as_images<2, 8, 7>(x), ceil_mode, padding<1>, stride<2>); });
    compare_with_torch(TORCH_CASE(avg_pool2d_ceil, x), [](auto& x) {
        // Caffe's pool 3 stride 2 over 8x8: 4x4 (rounded down it would be 3x3).
        const auto y = avg_pool2d<3>(as_images<3, 8, 8>(x), stride<2>, ceil_mode);
        STATIC_REQUIRE(std::is_same_v<decltype(y), const Images<double, 3, 4, 4>>);
        return y;
    });
}

TEMPLATE_TEST_CASE("conv2d equals the convolution written from its definition, also with a 1x1 kernel", "", float,
                   double) {
    using T = TestType;
    const double tolerance = std::is_same_v<T, float> ? 1e-5 : 1e-12;
    const auto compare = [&](auto kernel, auto images, const Matrix& expected) {
        CHECK(largest_difference(images.flat().value().template cast<double>(), expected) < tolerance);
        (void)kernel;
    };
    const Matrix x = random_matrix(3 * 6 * 5, 4), k1 = random_matrix(3, 2), k3 = random_matrix(3 * 3 * 2, 2);
    Kernel<T, 2, 3, 1> one_by_one(k1.cast<T>());
    Kernel<T, 2, 3, 3, 2> three_by_two(k3.cast<T>());
    const auto images = as_images<3, 6, 5>(constant(Eigen::Matrix<T, Dynamic, Dynamic>(x.cast<T>())));
    compare(0, conv2d(images, one_by_one), convolution_by_definition<3, 6, 5, 2, 1, 1>(x, k1, 1, 1, 0, 0, 1, 1));
    compare(0, conv2d(images, one_by_one, stride<2>),
            convolution_by_definition<3, 6, 5, 2, 1, 1>(x, k1, 2, 2, 0, 0, 1, 1));
    compare(0, conv2d(images, three_by_two, padding<2, 1>),
            convolution_by_definition<3, 6, 5, 2, 3, 2>(x, k3, 1, 1, 2, 1, 1, 1));
    compare(0, conv2d(images, three_by_two, stride<3, 2>, dilation<2>, padding<1>),
            convolution_by_definition<3, 6, 5, 2, 3, 2>(x, k3, 3, 2, 1, 1, 2, 2));
}

TEST_CASE("conv_transpose2d is conv2d's adjoint: <conv2d(x, K), h> = <x, conv_transpose2d(h, K)>") {
    const auto check = [](auto x_images, auto h_images, const auto& K, auto... options) {
        const auto y = conv2d(x_images, K, options...);
        const auto back = conv_transpose2d(h_images, K, options...);
        const double left = (y.flat().value().array() * h_images.flat().value().array()).sum();
        const double right = (x_images.flat().value().array() * back.flat().value().array()).sum();
        CHECK(left == Approx(right).epsilon(1e-12));
    };
    Kernel<double, 4, 2, 3> K(random_matrix(18, 4));
    Kernel<double, 4, 2, 1> pointwise(random_matrix(2, 4));
    check(as_images<2, 7, 7>(constant(random_matrix(98, 3))), as_images<4, 5, 5>(constant(random_matrix(100, 3))), K);
    check(as_images<2, 7, 7>(constant(random_matrix(98, 3))), as_images<4, 4, 4>(constant(random_matrix(64, 3))), K,
          stride<2>, padding<1>);
    check(as_images<2, 7, 7>(constant(random_matrix(98, 3))), as_images<4, 3, 3>(constant(random_matrix(36, 3))), K,
          dilation<2>);
    check(as_images<2, 5, 6>(constant(random_matrix(60, 3))), as_images<4, 5, 6>(constant(random_matrix(120, 3))),
          pointwise);
}

TEST_CASE("every convolution, pool and bias gradient agrees with central differences") {
    Param<double, Dynamic, Dynamic> x(random_matrix(2 * 7 * 6, 3));
    Kernel<double, 3, 2, 3, 2> K(random_matrix(12, 3));
    Kernel<double, 3, 2, 1> pointwise(random_matrix(2, 3));
    Param<double, 3, 1> bias(random_matrix(3, 1));
    const Matrix w = random_matrix(3 * 7 * 6, 3, -0.02, 0.02);  // a loss of order 1: small rounding in the differences
    const auto images = [&] { return as_images<2, 7, 6>(x); };

    CHECK(gradcheck([&] { return weighted_sum(conv2d(images(), K), w.topRows(3 * 5 * 5)); }, x, K) <
          gradient_tolerance);
    CHECK(gradcheck([&] { return mean(square(conv2d(images(), K, stride<2, 3>, padding<1, 2>).flat())); }, x, K) <
          gradient_tolerance);
    CHECK(gradcheck([&] { return mean(sigmoid(conv2d(images(), K, dilation<2, 1>, padding<1>).flat())); }, x, K) <
          gradient_tolerance);
    CHECK(gradcheck([&] { return weighted_sum(conv2d(images(), pointwise), w.topRows(3 * 7 * 6)); }, x, pointwise) <
          gradient_tolerance);
    CHECK(gradcheck(
              [&] {
                  return mean(square(conv_transpose2d(conv2d(images(), K, stride<2>, padding<1>), K, stride<2>,
                                                      padding<1>, output_padding<1, 0>)
                                         .flat()));
              },
              x, K) < gradient_tolerance);
    CHECK(gradcheck([&] { return weighted_sum(add_channel_bias(conv2d(images(), K), bias), w.topRows(75)); }, x, K,
                    bias) < gradient_tolerance);
    CHECK(gradcheck([&] { return mean(square(max_pool2d<2>(images()).flat())); }, x) < gradient_tolerance);
    CHECK(gradcheck([&] { return mean(square(max_pool2d<3, 2>(images(), stride<2, 1>).flat())); }, x) <
          gradient_tolerance);
    CHECK(gradcheck([&] { return mean(square(avg_pool2d<2, 3>(images(), stride<1>).flat())); }, x) <
          gradient_tolerance);
    CHECK(gradcheck([&] { return mean(square(upsample_nearest<2, 3>(images()).flat())); }, x) < gradient_tolerance);
    CHECK(gradcheck([&] { return mean(square(max_pool2d<3, 2>(images(), padding<1>, ceil_mode).flat())); }, x) <
          gradient_tolerance);
    CHECK(gradcheck([&] { return mean(square(avg_pool2d<3>(images(), stride<2>, padding<1>, ceil_mode).flat())); }, x) <
          gradient_tolerance);
}

TEST_CASE("a Kernel used by conv2d and conv_transpose2d receives both gradients, as two untied copies would") {
    const Matrix batch = random_matrix(1 * 8 * 8, 4, 0.0, 1.0), kernel = random_matrix(25, 3, -0.3, 0.3);
    const auto autoencoder_loss = [&](const Kernel<double, 3, 1, 5>& encoder, const Kernel<double, 3, 1, 5>& decoder) {
        const auto x = as_images<1, 8, 8>(constant(batch));
        const auto h = as_images<3, 4, 4>(sigmoid(conv2d(x, encoder, stride<2>, padding<2>).flat()));
        const auto y = conv_transpose2d(h, decoder, stride<2>, padding<2>, output_padding<1>);
        return sigmoid_cross_entropy(y.flat(), constant(batch));
    };
    Kernel<double, 3, 1, 5> tied(kernel), encoder(kernel), decoder(kernel);
    {
        Tape tape;
        tape.backward(autoencoder_loss(tied, tied));
    }
    {
        Tape tape;
        tape.backward(autoencoder_loss(encoder, decoder));
    }
    CHECK(largest_difference(tied.grad(), encoder.grad() + decoder.grad()) < 1e-14);
    CHECK(encoder.grad().norm() > 1e-3);
    CHECK(decoder.grad().norm() > 1e-3);
    CHECK(gradcheck([&] { return autoencoder_loss(tied, tied); }, tied) < gradient_tolerance);
}

TEST_CASE("max_pool2d sends a window's gradient to its first maximum, and a NaN propagates") {
    Matrix image(4, 1);
    image << 2, 5, 5, 1;  // (0,0)=2 (0,1)=5 (1,0)=5 (1,1)=1: two maxima, row-major
    Param<double, 4, 1> x(image);
    {
        Tape tape;
        const auto y = max_pool2d<2>(as_images<1, 2, 2>(x));
        CHECK(y.flat().item() == 5);
        tape.backward(sum(y.flat()));
        CHECK(x.grad() == Eigen::Vector4d(0, 1, 0, 0));
    }
    x.value()(2, 0) = std::numeric_limits<double>::quiet_NaN();
    CHECK(std::isnan(max_pool2d<2>(as_images<1, 2, 2>(x)).flat().item()));
}

TEST_CASE("images of the wrong run-time size throw shape_error naming both shapes, before anything is recorded") {
    Tape tape;
    Param<double, Dynamic, Dynamic> x(random_matrix(10, 2));
    const auto before = tape.size();
    const auto as_3x3_images = [&] { return as_images<1, 3, 3>(x); };
    CHECK_THROWS_MATCHES(as_3x3_images(), shape_error, MessageContains("shapes 10x2 and 9x2"));
    CHECK(tape.size() == before);
}

TEST_CASE("convolutions run without a tape as plain inference, and a Kernel trains as any Param") {
    Kernel<float, 2, 1, 3> K(Eigen::MatrixXf::Random(9, 2));
    const Eigen::MatrixXf batch = Eigen::MatrixXf::Random(25, 2);
    const auto y = conv2d(as_images<1, 5, 5>(constant(batch)), K, padding<1>);
    const Matrix expected =
        convolution_by_definition<1, 5, 5, 2, 3, 3>(batch.cast<double>(), K.value().cast<double>(), 1, 1, 1, 1, 1, 1);
    CHECK(largest_difference(y.flat().value().cast<double>(), expected) < 1e-5);

    nn::Sgd<float> sgd(nn::ParamSet<float>{{"conv1", K}}, {.lr = nn::lr::fixed(0.1)});
    const Eigen::MatrixXf before = K.value();
    {
        Tape tape;
        tape.backward(sum(square(conv2d(as_images<1, 5, 5>(constant(batch)), K, padding<1>).flat())));
    }
    const Eigen::MatrixXf gradient = K.grad();
    CHECK(gradient.norm() > 0.1f);
    sgd.step();
    CHECK(largest_difference((before - K.value()).cast<double>(), 0.1 * gradient.cast<double>()) < 1e-6);
}
