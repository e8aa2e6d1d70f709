// The mission: a tied autoencoder as a plain expression. The tied W's gradient
// must equal the sum of the gradients of an untied model with two copies of W,
// for the one-layer model and for Caffe's deep MNIST autoencoder, tied.

#include <array>

#include <catch2/catch.hpp>

#include "helpers.hpp"

using namespace tapestry;
using test::gradient_tolerance;
using test::random_matrix;

namespace {

double max_relative_difference(const Eigen::MatrixXd& a, const Eigen::MatrixXd& b) {
    return (a - b).cwiseAbs().maxCoeff() / std::max(a.cwiseAbs().maxCoeff(), b.cwiseAbs().maxCoeff());
}

}  // namespace

TEST_CASE("a tied autoencoder's W.grad() is the sum of the untied encoder and decoder gradients") {
    constexpr int visible = 20, hidden = 8;
    const Eigen::MatrixXd batch = random_matrix(visible, 5, 0.0, 1.0);
    const Eigen::MatrixXd w0 = random_matrix(hidden, visible, -0.3, 0.3);

    Param<double, hidden, visible> W(w0);
    Param<double, hidden, 1> b1(random_matrix(hidden, 1));
    Param<double, visible, 1> b2(random_matrix(visible, 1));
    auto tied_loss = [&] {
        auto x = constant(batch);
        auto h = sigmoid(W * x + b1);
        auto y = W.transpose() * h + b2;
        return sigmoid_cross_entropy(y, x);
    };

    Param<double, hidden, visible> encoder(w0), decoder(w0);
    auto untied_loss = [&] {
        auto x = constant(batch);
        auto h = sigmoid(encoder * x + b1);
        auto y = decoder.transpose() * h + b2;
        return sigmoid_cross_entropy(y, x);
    };

    {
        Tape tape;
        tape.backward(tied_loss());
    }
    {
        Tape tape;
        tape.backward(untied_loss());
    }
    CHECK(max_relative_difference(W.grad(), encoder.grad() + decoder.grad()) < 1e-10);
    CHECK(gradcheck(tied_loss, W, b1, b2) < gradient_tolerance);
}

TEST_CASE("Caffe's deep MNIST autoencoder, tied: 784-1000-500-250-30 and back through the transposes") {
    const std::array<int, 5> sizes{784, 1000, 500, 250, 30};
    const Eigen::MatrixXd batch = random_matrix(784, 3, 0.0, 1.0);

    auto weights = [&](int layer) { return random_matrix(sizes[layer + 1], sizes[layer], -0.05, 0.05); };
    const Eigen::MatrixXd w0 = weights(0), w1 = weights(1), w2 = weights(2), w3 = weights(3);
    Param<double, 1000, 784> W1(w0);
    Param<double, 500, 1000> W2(w1);
    Param<double, 250, 500> W3(w2);
    Param<double, 30, 250> W4(w3);
    Param<double, 1000, 1> e1(random_matrix(1000, 1, -0.1, 0.1));
    Param<double, 500, 1> e2(random_matrix(500, 1, -0.1, 0.1));
    Param<double, 250, 1> e3(random_matrix(250, 1, -0.1, 0.1));
    Param<double, 30, 1> e4(random_matrix(30, 1, -0.1, 0.1));
    Param<double, 250, 1> d3(random_matrix(250, 1, -0.1, 0.1));
    Param<double, 500, 1> d2(random_matrix(500, 1, -0.1, 0.1));
    Param<double, 1000, 1> d1(random_matrix(1000, 1, -0.1, 0.1));
    Param<double, 784, 1> d0(random_matrix(784, 1, -0.1, 0.1));

    // The same network written once, over whichever matrices the decoder uses.
    auto network = [&](auto& D1, auto& D2, auto& D3, auto& D4) {
        auto x = constant(batch);
        Var<double, 1000, Dynamic> h1 = sigmoid(W1 * x + e1);
        Var<double, 500, Dynamic> h2 = sigmoid(W2 * h1 + e2);
        Var<double, 250, Dynamic> h3 = sigmoid(W3 * h2 + e3);
        Var<double, 30, Dynamic> code = W4 * h3 + e4;  // the linear code layer
        Var<double, 250, Dynamic> g3 = sigmoid(D4.transpose() * code + d3);
        Var<double, 500, Dynamic> g2 = sigmoid(D3.transpose() * g3 + d2);
        Var<double, 1000, Dynamic> g1 = sigmoid(D2.transpose() * g2 + d1);
        return sigmoid_cross_entropy(D1.transpose() * g1 + d0, x, Reduction::Sum);
    };
    auto tied = [&] { return network(W1, W2, W3, W4); };

    Param<double, 1000, 784> U1(w0);
    Param<double, 500, 1000> U2(w1);
    Param<double, 250, 500> U3(w2);
    Param<double, 30, 250> U4(w3);
    {
        Tape tape;
        tape.backward(tied());
    }
    const Eigen::MatrixXd tied_grads[4] = {W1.grad(), W2.grad(), W3.grad(), W4.grad()};
    W1.zero_grad(), W2.zero_grad(), W3.zero_grad(), W4.zero_grad();
    {
        Tape tape;
        tape.backward(network(U1, U2, U3, U4));  // the encoder uses W*, the decoder U*
    }
    CHECK(max_relative_difference(tied_grads[0], W1.grad() + U1.grad()) < 1e-10);
    CHECK(max_relative_difference(tied_grads[1], W2.grad() + U2.grad()) < 1e-10);
    CHECK(max_relative_difference(tied_grads[2], W3.grad() + U3.grad()) < 1e-10);
    CHECK(max_relative_difference(tied_grads[3], W4.grad() + U4.grad()) < 1e-10);

    GradcheckOptions sampled;
    sampled.max_coordinates = 12;  // per Param: the full check would take 2 x 1.4M forward passes
    // The loss sums ~2400 terms through four GEMM layers, so each evaluation carries a
    // rounding error near 1e-10; a larger step keeps it from dominating the difference.
    sampled.step = 1e-4;
    // What is left of that noise is ~3e-5; a wrong derivative shows as an error near 1.
    constexpr double deep_tolerance = 1e-4;
    CHECK(gradcheck(sampled, tied, W1) < deep_tolerance);
    CHECK(gradcheck(sampled, tied, W2) < deep_tolerance);
    CHECK(gradcheck(sampled, tied, W3) < deep_tolerance);
    CHECK(gradcheck(sampled, tied, W4) < deep_tolerance);
    CHECK(gradcheck(sampled, tied, e1) < deep_tolerance);
    CHECK(gradcheck(sampled, tied, e4) < deep_tolerance);
    CHECK(gradcheck(sampled, tied, d0) < deep_tolerance);
    CHECK(gradcheck(sampled, tied, d3) < deep_tolerance);
}
