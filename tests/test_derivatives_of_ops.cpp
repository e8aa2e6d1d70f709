// Forward mode and second order through the operations that are neither elementwise
// nor softmax's kin (those: test_derivatives_of_softmax.cpp): reshape and flatten,
// dropout, the views block, concat and gather_columns, layer_norm and batch_norm, prod,
// stationary_ar1, pooling, upsampling and a channel bias. jvp against central
// differences of values and against reverse mode's Jacobian; hvp against central
// differences of gradients. Every f reads a Param more than once, in fixed and Dynamic
// shapes.

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

TEST_CASE("jvp and hvp of reshape, flatten and dropout") {
    auto P = test::random_param<4, 6>(4, 6);
    Param<double, Dynamic, Dynamic> Q(test::random_matrix(4, 6));
    const nn::ParamSet<double> params{{"P", P}, {"Q", Q}};
    check_jvp([&] { return reshape<3, 8>(hadamard(P, Q)) + reshape(tanh(P), 3, 8); }, params);
    check_hvp([&] { return scalar_of(reshape<8, 3>(hadamard(P, Q))) + scalar_of(flatten(tanh(P) + Q)); }, params);
    for (const double p : {0.0, 0.5, 0.9}) {
        SECTION("dropout, p = " + std::to_string(p)) {
            // The same seed on every call: the same mask for jvp, hvp and the differences.
            auto dropped = [&] {
                std::mt19937 rng(7);
                return dropout(hadamard(P, Q) + P, p, rng, Mode::Train);
            };
            check_jvp(dropped, params);
            check_hvp([&] { return scalar_of(dropped()); }, params);
        }
    }
}

TEST_CASE("jvp and hvp of blocks, concatenations and gathered columns") {
    auto P = test::random_param<4, 5>(4, 5);
    Param<double, Dynamic, Dynamic> Q(test::random_matrix(4, 5));
    const nn::ParamSet<double> params{{"P", P}, {"Q", Q}};
    const std::vector<int> ids{4, 0, 4, 2};  // one column twice
    SECTION("of Params, read in place") {
        check_jvp([&] { return block<2, 3>(P, 1, 1) + tanh(block(Q, 2, 2, 2, 3)); }, params);
        check_jvp([&] { return concat_rows(P, Q) * 2.0; }, params);
        check_jvp([&] { return gather_columns(P, ids) - hadamard(gather_columns(Q, ids), gather_columns(P, ids)); },
                  params);
        check_hvp([&] { return scalar_of(block<2, 3>(P, 1, 1) + block(Q, 0, 2, 2, 3)); }, params);
        check_hvp([&] { return scalar_of(concat_columns(P, Q)) + sum(hadamard(col(P, 1), tanh(col(Q, 2)))); }, params);
        check_hvp([&] { return scalar_of(row(Q, 1)) * sum(row(P, 3)); }, params);
        check_hvp([&] { return scalar_of(gather_columns(P, ids)) + sum(square(gather_columns(Q, ids))); }, params);
    }
    SECTION("of computed values") {
        check_jvp([&] { return concat_columns(hadamard(P, Q), tanh(P)); }, params);
        check_hvp([&] { return scalar_of(concat_rows(hadamard(P, Q), tanh(P))); }, params);
        check_hvp([&] { return scalar_of(block<3, 2>(hadamard(P, Q), 1, 3)); }, params);
        check_hvp([&] { return scalar_of(gather_columns(tanh(P) + Q, ids)); }, params);
    }
}

TEST_CASE("jvp and hvp of layer_norm, with and without its scale and shift, and of batch_norm in training") {
    auto P = test::random_param<5, 4>(5, 4);
    Param<double, Dynamic, Dynamic> Q(test::random_matrix(5, 4));
    Param<double, 5, 1> gamma(test::random_matrix(5, 1, 0.5, 1.5));
    Param<double, Dynamic, 1> beta(test::random_matrix(5, 1));
    const nn::ParamSet<double> params{{"P", P}, {"Q", Q}, {"gamma", gamma}, {"beta", beta}};
    check_jvp([&] { return layer_norm(hadamard(P, Q) + P); }, params);
    check_jvp([&] { return layer_norm(hadamard(P, Q) + P, gamma, beta, 0.1); }, params);
    check_hvp([&] { return scalar_of(layer_norm(hadamard(P, Q) + P)); }, params);
    check_hvp([&] { return scalar_of(layer_norm(hadamard(P, Q) + P, gamma, beta, 0.1)); }, params);
    // gamma read by the norm and beside it.
    check_hvp([&] { return sum(hadamard(layer_norm(tanh(P) + Q, gamma, beta), P)) + sum(square(gamma)); }, params);
    nn::BatchNorm<double, 5> norm(5);
    const nn::ParamSet<double> with_norm{{"P", P}, {"Q", Q}, {"scale", norm.scale}, {"shift", norm.shift}};
    norm.scale.value() = test::random_matrix(5, 1, 0.5, 1.5);
    norm.shift.value() = test::random_matrix(5, 1);
    check_jvp([&] { return norm(hadamard(P, Q) + P, Mode::Train); }, with_norm);
    check_hvp([&] { return scalar_of(norm(hadamard(P, Q) + P, Mode::Train)); }, with_norm);
}

TEST_CASE("hvp holds a Param outside the set fixed through the views and the piecewise-linear ops") {
    auto P = test::random_param<4, 5>(4, 5);
    Param<double, Dynamic, Dynamic> Q(test::random_matrix(4, 5));
    Param<double, 2, 1> bias(test::random_matrix(2, 1));
    const nn::ParamSet<double> only_P{{"P", P}};
    const std::vector<int> ids{1, 3, 1};
    auto f = [&] {
        auto mixed = hadamard(P, P) + P;
        return scalar_of(hadamard(block<2, 3>(mixed, 1, 1), block<2, 3>(Q, 0, 2))) +
               scalar_of(hadamard(concat_rows(mixed, Q), concat_rows(Q, mixed))) +
               scalar_of(hadamard(gather_columns(Q, ids), gather_columns(tanh(P), ids))) +
               scalar_of(hadamard(reshape<5, 4>(Q), reshape<5, 4>(mixed))) + scalar_of(col_max(mixed + Q)) +
               scalar_of(add_channel_bias(as_images<2, 2, 5>(reshape<20, 1>(mixed)), bias).flat());
    };
    Q.grad().setConstant(7.0);
    bias.zero_grad();
    const HvpResult<double> result = hvp(f, only_P, test::random_matrix(20, 1));
    CHECK((Q.grad().array() == 7.0).all());
    CHECK(bias.grad().isZero());
    CHECK(result.product.allFinite());
    check_hvp(f, only_P);  // its differences move P alone
}

TEST_CASE("jvp and hvp of prod, with no zero, one zero and two zeros") {
    Param<double, 3, 3> P(test::random_matrix(3, 3, 0.5, 1.5));
    Param<double, Dynamic, Dynamic> Q(test::random_matrix(3, 3, 0.5, 1.5));
    const nn::ParamSet<double> params{{"P", P}, {"Q", Q}};
    check_jvp([&] { return prod(hadamard(P, Q)); }, params);
    check_hvp([&] { return prod(hadamard(P, Q)) + prod(tanh(P)) * sum(Q); }, params);
    for (const int zeros : {1, 2, 3}) {
        SECTION(std::to_string(zeros) + " zeros") {
            for (int k = 0; k < zeros; ++k) P.value()(k, 2 - k) = 0.0;  // exactly zero: the exact paths
            check_jvp([&] { return prod(P) + prod(Q); }, params);
            // The gradient is a polynomial: central differences step off the zeros exactly.
            check_hvp([&] { return prod(P) + prod(P) * prod(Q); }, params, 1e-6);
        }
    }
}

TEST_CASE("jvp and hvp of stationary_ar1, phi and the innovations used more than once") {
    Param<double, Dynamic, 1> e(test::random_matrix(7, 1));
    Param<double, 1, 1> raw(Eigen::Matrix<double, 1, 1>::Constant(0.4));
    const nn::ParamSet<double> params{{"raw", raw}, {"e", e}};
    auto u = [&] { return stationary_ar1(tanh(raw), hadamard(e, e) * 0.5 + e); };
    check_jvp(u, params);
    check_hvp([&] { return scalar_of(u()) + sum(square(raw)) * sum(e); }, params);
}

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
