// A tied autoencoder trained on synthetic data: the encoder uses W, the decoder
// W.transpose(), and W.grad() receives both contributions with no sharing machinery.
//
// The data are 784-pixel "images" with low-rank structure (sigmoid of a random
// 10-dimensional code), so a 128-unit code can learn to reconstruct them and the
// loss visibly falls. Real data (Fashion-MNIST) come with the training toolkit.

#include <cstdio>
#include <random>

#include <tapestry/tapestry.hpp>

using namespace tapestry;

namespace {

constexpr int pixels = 784, hidden = 128, batch_size = 64;

Eigen::MatrixXf gaussian(Index rows, Index cols, float stddev, std::mt19937& rng) {
    std::normal_distribution<float> normal(0.0f, stddev);
    Eigen::MatrixXf m(rows, cols);
    for (Index i = 0; i < m.size(); ++i) m.data()[i] = normal(rng);
    return m;
}

// A plain SGD step with momentum; the training toolkit brings proper optimizers.
template <class P, class M>
void sgd_step(P& param, M& velocity, float learning_rate, float momentum) {
    velocity = momentum * velocity - learning_rate * param.grad();
    param.value() += velocity;
    param.zero_grad();
}

}  // namespace

int main() {
    std::mt19937 rng(7);
    const Eigen::MatrixXf mixing = gaussian(pixels, 10, 1.5f, rng);

    Param<float, hidden, pixels> W(gaussian(hidden, pixels, 0.05f, rng));
    Param<float, hidden, 1> b1;
    Param<float, pixels, 1> b2;
    Eigen::MatrixXf vW = Eigen::MatrixXf::Zero(hidden, pixels);
    Eigen::VectorXf vb1 = Eigen::VectorXf::Zero(hidden), vb2 = Eigen::VectorXf::Zero(pixels);

    Tape tape;
    for (int step = 0; step <= 600; ++step) {
        const Eigen::MatrixXf codes = gaussian(10, batch_size, 1.0f, rng);
        const Eigen::MatrixXf batch = (1.0f / (1.0f + (-(mixing * codes).array()).exp())).matrix();

        tape.clear();  // reuses last step's memory
        auto x = constant(batch);
        auto h = sigmoid(W * x + b1);             // bias broadcasts over the batch's columns
        auto logits = W.transpose() * h + b2;     // the same W, transposed: tied weights
        auto loss = sigmoid_cross_entropy(logits, x);
        tape.backward(loss);

        sgd_step(W, vW, 0.5f, 0.9f);
        sgd_step(b1, vb1, 0.5f, 0.9f);
        sgd_step(b2, vb2, 0.5f, 0.9f);
        if (step % 50 == 0)
            std::printf("step %4d  loss %.5f  (tape: %zu nodes, %zu bytes)\n", step,
                        static_cast<double>(loss.value()(0, 0)), tape.size(), tape.bytes());
    }
}
