// jvp and hvp of pooling, upsampling, a channel bias, conv2d and conv_transpose2d, and of
// a kernel that both convolutions use. (The other operations: test_derivatives_of_ops.cpp.)

#include <random>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include <tapestry/functional/gnvp.hpp>
#include <tapestry/nn/batch_norm.hpp>
#include <tapestry/tapestry.hpp>

#include "derivative_checks.hpp"
#include "helpers.hpp"

using namespace tapestry;
using test::check_hvp;
using test::check_jvp;
using test::relative_difference;
using test::scalar_of;

TEST_CASE("jvp and hvp of pooling, upsampling and a channel bias") {
    Param<double, 2 * 4 * 4, Dynamic> X(test::random_matrix(32, 3));
    Param<double, 2, 1> bias(test::random_matrix(2, 1));
    const nn::ParamSet<double> params{{"X", X}, {"bias", bias}};
    auto images = [&] { return as_images<2, 4, 4>(evaluate(hadamard(X, X) + X)); };
    SECTION("max_pool2d") {
        check_jvp([&] { return max_pool2d<2>(images()).flat(); }, params);
        check_hvp([&] { return scalar_of(max_pool2d<3>(images(), stride<1>, padding<1>).flat()); }, params);
    }
    SECTION("avg_pool2d") {
        check_jvp([&] { return avg_pool2d<2>(images()).flat(); }, params);
        check_hvp([&] { return scalar_of(avg_pool2d<3>(images(), stride<2>, padding<1>).flat()); }, params);
    }
    SECTION("upsample_nearest and add_channel_bias") {
        check_jvp([&] { return add_channel_bias(upsample_nearest<2, 1>(images()), bias).flat(); }, params);
        check_hvp([&] { return scalar_of(add_channel_bias(upsample_nearest<2>(images()), tanh(bias)).flat()); },
                  params);
    }
}

TEST_CASE("jvp and hvp of conv2d and conv_transpose2d, and of a kernel that both use") {
    // The shapes of a tied convolutional autoencoder: K takes 2 channels of 5x5 to 3 of
    // 3x3, and conv_transpose2d with the same K takes them back.
    Param<double, 2 * 5 * 5, Dynamic> X(test::random_matrix(50, 2));
    Kernel<double, 3, 2, 3> K(test::random_matrix(18, 3));
    Param<double, 3 * 3 * 3, Dynamic> H(test::random_matrix(27, 2));
    const nn::ParamSet<double> params{{"X", X}, {"K", K}, {"H", H}};
    auto images = [&] { return as_images<2, 5, 5>(evaluate(hadamard(X, X) + X)); };
    auto codes = [&] { return as_images<3, 3, 3>(evaluate(hadamard(H, H) - H)); };
    SECTION("conv2d, strided and padded, and unpadded") {
        check_jvp([&] { return conv2d(images(), K, stride<2>, padding<1>).flat(); }, params);
        check_hvp([&] { return scalar_of(conv2d(images(), K, stride<2>, padding<1>).flat()); }, params);
        check_hvp([&] { return scalar_of(conv2d(images(), K, dilation<2>).flat()); }, params);
    }
    SECTION("conv2d with a 1x1 kernel, whose images are their own im2col matrices") {
        Kernel<double, 3, 2, 1> pointwise(test::random_matrix(2, 3));
        const nn::ParamSet<double> with_pointwise{{"X", X}, {"pointwise", pointwise}};
        check_jvp([&] { return conv2d(images(), pointwise).flat(); }, with_pointwise);
        check_hvp([&] { return scalar_of(conv2d(images(), pointwise).flat()); }, with_pointwise);
    }
    SECTION("conv_transpose2d") {
        check_jvp([&] { return conv_transpose2d(codes(), K, stride<2>, padding<1>).flat(); }, params);
        check_hvp([&] { return scalar_of(conv_transpose2d(codes(), K, stride<2>, padding<1>).flat()); }, params);
    }
    SECTION("conv2d then conv_transpose2d with the same kernel") {
        auto encode_decode = [&] {
            const auto h = as_images<3, 3, 3>(evaluate(tanh(conv2d(images(), K, stride<2>, padding<1>).flat())));
            return conv_transpose2d(h, K, stride<2>, padding<1>).flat();
        };
        check_jvp(encode_decode, params);
        check_hvp([&] { return scalar_of(encode_decode()); }, params);
    }
    SECTION("a kernel outside the Params is held fixed: hvp leaves its gradient as it was") {
        const Eigen::MatrixXd before = K.grad();
        const nn::ParamSet<double> images_only{{"X", X}};
        hvp([&] { return scalar_of(conv2d(images(), K, stride<2>, padding<1>).flat()); }, images_only,
            test::random_matrix(100, 1));
        hvp([&] { return scalar_of(conv_transpose2d(codes(), K).flat()); }, nn::ParamSet<double>{{"H", H}},
            test::random_matrix(54, 1));
        CHECK(K.grad() == before);
        check_hvp([&] { return scalar_of(conv2d(images(), K, stride<2>, padding<1>).flat()); }, images_only);
    }
    SECTION("a batch large enough to be cut among threads (on two: the suite's second run)") {
        Param<double, 3 * 16 * 16, Dynamic> batch(test::random_matrix(768, 40));
        Kernel<double, 8, 3, 3> K8(test::random_matrix(27, 8, -0.3, 0.3));
        const nn::ParamSet<double> both{{"batch", batch}, {"K8", K8}};
        auto encode = [&] {
            return evaluate(
                tanh(conv2d(as_images<3, 16, 16>(evaluate(hadamard(batch, batch) + batch)), K8, padding<1>).flat()));
        };
        auto decode = [&] {
            return mean(square(conv_transpose2d(as_images<8, 16, 16>(encode()), K8, padding<1>).flat()));
        };
        check_jvp([&] { return mean(square(encode())); }, both);
        check_hvp([&] { return mean(square(encode())); }, both);
        check_jvp(decode, both);
        check_hvp(decode, both);
    }
}
