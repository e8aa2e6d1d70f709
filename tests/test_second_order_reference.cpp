// hvp, gnvp and jvp against PyTorch's torch.autograd.functional (hvp, jvp, vjp) in
// float64, on three tied autoencoders: dense, deep and convolutional, each with its
// matrices or kernels used twice (tests/second_order_reference.inc, written once by
// tests/torch/make_second_order_reference.py). Each Param starts from the reference's
// values, and every product must agree to 1e-12 of the reference's largest element
// (the issue asks 1e-10; they agree to 6e-16 with the committed file).

#include <algorithm>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include <tapestry/functional/gnvp.hpp>
#include <tapestry/functional/hvp.hpp>
#include <tapestry/functional/jvp.hpp>
#include <tapestry/tapestry.hpp>

#include "second_order_reference.inc"

using namespace tapestry;

namespace {

template <int R, int C>
Eigen::Matrix<double, R, C> matrix_from(const std::vector<double>& values) {
    REQUIRE(values.size() == std::size_t(R) * std::size_t(C));
    return Eigen::Map<const Eigen::Matrix<double, R, C>>(values.data());
}

Eigen::VectorXd vector_from(const std::vector<double>& values) {
    return Eigen::Map<const Eigen::VectorXd>(values.data(), static_cast<Index>(values.size()));
}

// What PyTorch gave for one model, at its Params and along its direction v.
struct Reference {
    const std::vector<double>& v;
    double loss;
    const std::vector<double>& gradient;
    const std::vector<double>& hessian_times_v;
    const std::vector<double>& logits;
    const std::vector<double>& logits_tangent;
    const std::vector<double>& gauss_newton_times_v;
};

#define TAPESTRY_REFERENCE(name)                                                                                     \
    Reference {                                                                                                      \
        second_order_reference::name::v, second_order_reference::name::loss, second_order_reference::name::gradient, \
            second_order_reference::name::hessian_times_v, second_order_reference::name::logits,                     \
            second_order_reference::name::logits_tangent, second_order_reference::name::gauss_newton_times_v         \
    }

void check_agrees(const std::string& what, const Eigen::MatrixXd& ours, const std::vector<double>& theirs) {
    INFO(what);
    REQUIRE(ours.size() == static_cast<Index>(theirs.size()));
    const Eigen::VectorXd expected = vector_from(theirs);
    const double scale = std::max(1.0, expected.cwiseAbs().maxCoeff());
    CHECK((ours.reshaped() - expected).cwiseAbs().maxCoeff() <= 1e-12 * scale);
}

// The model's logits(), its loss_of(logits) and its params() against the reference.
template <class Model>
void check_against_pytorch(Model& model, const Reference& reference) {
    const nn::ParamSet<double> params = model.params();
    const Eigen::VectorXd v = vector_from(reference.v);
    auto logits = [&] { return model.logits(); };
    auto loss_of = [&](const auto& z) { return model.loss_of(z); };
    auto loss = [&] { return loss_of(logits()); };

    const HvpResult<double> second = hvp(loss, params, v);
    CHECK(second.value == Approx(reference.loss).epsilon(1e-13));
    check_agrees("the gradient", second.gradient, reference.gradient);
    check_agrees("H v", second.product, reference.hessian_times_v);

    const JvpResult<double> first = jvp(logits, params, v);
    check_agrees("the logits", first.value, reference.logits);
    check_agrees("the logits' J v", first.tangent, reference.logits_tangent);

    const GnvpResult<double> gauss_newton = gnvp(logits, loss_of, params, v);
    CHECK(gauss_newton.value == Approx(reference.loss).epsilon(1e-13));
    check_agrees("G v", gauss_newton.product, reference.gauss_newton_times_v);
}

// h = sigmoid(W x + b1), logits = Wᵀ h + b2; cross-entropy averaged over every pixel.
struct Tied {
    Eigen::Matrix<double, 6, 5> x = matrix_from<6, 5>(second_order_reference::tied::x);
    Param<double, 4, 6> W{matrix_from<4, 6>(second_order_reference::tied::param0)};
    Param<double, 4, 1> b1{matrix_from<4, 1>(second_order_reference::tied::param1)};
    Param<double, 6, 1> b2{matrix_from<6, 1>(second_order_reference::tied::param2)};

    nn::ParamSet<double> params() { return {{"W", W}, {"b1", b1}, {"b2", b2}}; }
    auto logits() { return W.transpose() * sigmoid(W * constant(x) + b1) + b2; }
    auto loss_of(const auto& z) { return sigmoid_cross_entropy(z, constant(x)); }
};

// 8-6-4-2 with a linear code, the three matrices reused transposed; summed cross-entropy.
struct DeepTied {
    Eigen::Matrix<double, 8, 4> x = matrix_from<8, 4>(second_order_reference::deep::x);
    Param<double, 6, 8> W1{matrix_from<6, 8>(second_order_reference::deep::param0)};
    Param<double, 4, 6> W2{matrix_from<4, 6>(second_order_reference::deep::param1)};
    Param<double, 2, 4> W3{matrix_from<2, 4>(second_order_reference::deep::param2)};
    Param<double, 6, 1> e1{matrix_from<6, 1>(second_order_reference::deep::param3)};
    Param<double, 4, 1> e2{matrix_from<4, 1>(second_order_reference::deep::param4)};
    Param<double, 2, 1> e3{matrix_from<2, 1>(second_order_reference::deep::param5)};
    Param<double, 4, 1> d2{matrix_from<4, 1>(second_order_reference::deep::param6)};
    Param<double, 6, 1> d1{matrix_from<6, 1>(second_order_reference::deep::param7)};
    Param<double, 8, 1> d0{matrix_from<8, 1>(second_order_reference::deep::param8)};

    nn::ParamSet<double> params() {
        return {{"W1", W1}, {"W2", W2}, {"W3", W3}, {"e1", e1}, {"e2", e2},
                {"e3", e3}, {"d2", d2}, {"d1", d1}, {"d0", d0}};
    }
    auto logits() {
        Var<double, 6, 4> h1 = sigmoid(W1 * constant(x) + e1);
        Var<double, 4, 4> h2 = sigmoid(W2 * h1 + e2);
        Var<double, 2, 4> code = W3 * h2 + e3;
        Var<double, 4, 4> g2 = sigmoid(W3.transpose() * code + d2);
        Var<double, 6, 4> g1 = sigmoid(W2.transpose() * g2 + d1);
        return W1.transpose() * g1 + d0;
    }
    auto loss_of(const auto& z) { return sigmoid_cross_entropy(z, constant(x), Reduction::Sum); }
};

// 1 -> 2 -> 3 channels, 5x5 kernels at stride 2 on 8x8 images, back through the
// transposed convolutions with the same kernels; summed cross-entropy.
struct ConvTied {
    Eigen::Matrix<double, 64, 2> x = matrix_from<64, 2>(second_order_reference::conv::x);
    Kernel<double, 2, 1, 5> K1{matrix_from<25, 2>(second_order_reference::conv::param0)};
    Kernel<double, 3, 2, 5> K2{matrix_from<50, 3>(second_order_reference::conv::param1)};
    Param<double, 2, 1> e1{matrix_from<2, 1>(second_order_reference::conv::param2)};
    Param<double, 3, 1> e2{matrix_from<3, 1>(second_order_reference::conv::param3)};
    Param<double, 2, 1> d2{matrix_from<2, 1>(second_order_reference::conv::param4)};
    Param<double, 1, 1> d1{matrix_from<1, 1>(second_order_reference::conv::param5)};

    nn::ParamSet<double> params() { return {{"K1", K1}, {"K2", K2}, {"e1", e1}, {"e2", e2}, {"d2", d2}, {"d1", d1}}; }
    auto logits() {
        const auto image = as_images<1, 8, 8>(constant(x));
        const auto h1 = sigmoid(add_channel_bias(conv2d(image, K1, stride<2>, padding<2>), e1));
        const auto h2 = sigmoid(add_channel_bias(conv2d(h1, K2, stride<2>, padding<2>), e2));
        const auto g1 =
            sigmoid(add_channel_bias(conv_transpose2d(h2, K2, stride<2>, padding<2>, output_padding<1>), d2));
        return add_channel_bias(conv_transpose2d(g1, K1, stride<2>, padding<2>, output_padding<1>), d1).flat();
    }
    auto loss_of(const auto& z) { return sigmoid_cross_entropy(z, constant(x), Reduction::Sum); }
};

}  // namespace

TEST_CASE("hvp, gnvp and jvp agree with PyTorch's on the tied autoencoder") {
    Tied model;
    check_against_pytorch(model, TAPESTRY_REFERENCE(tied));
}

TEST_CASE("hvp, gnvp and jvp agree with PyTorch's on the deep tied autoencoder") {
    DeepTied model;
    check_against_pytorch(model, TAPESTRY_REFERENCE(deep));
}

TEST_CASE("hvp, gnvp and jvp agree with PyTorch's on the tied convolutional autoencoder") {
    ConvTied model;
    check_against_pytorch(model, TAPESTRY_REFERENCE(conv));
}
