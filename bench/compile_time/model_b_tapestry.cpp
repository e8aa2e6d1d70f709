// One Model B training step with tapestry (float), for the compile-time comparison
// (scripts/compile-time.sh): the same model as bench/model_b.hpp, written out here
// so that this file holds only what a user's training step would.

#include <tapestry/nn/optim/sgd.hpp>
#include <tapestry/tapestry.hpp>

using namespace tapestry;

struct ModelB {
    Param<float, 1000, 784> W1;
    Param<float, 500, 1000> W2;
    Param<float, 250, 500> W3;
    Param<float, 30, 250> W4;
    Param<float, 1000, 1> b1;
    Param<float, 500, 1> b2;
    Param<float, 250, 1> b3;
    Param<float, 30, 1> b4;
    Param<float, 250, 1> c3;
    Param<float, 500, 1> c2;
    Param<float, 1000, 1> c1;
    Param<float, 784, 1> c0;
    nn::Sgd<float> sgd{{{"W1", W1},
                        {"W2", W2},
                        {"W3", W3},
                        {"W4", W4},
                        {"b1", b1, {.decay_mult = 0}},
                        {"b2", b2, {.decay_mult = 0}},
                        {"b3", b3, {.decay_mult = 0}},
                        {"b4", b4, {.decay_mult = 0}},
                        {"c3", c3, {.decay_mult = 0}},
                        {"c2", c2, {.decay_mult = 0}},
                        {"c1", c1, {.decay_mult = 0}},
                        {"c0", c0, {.decay_mult = 0}}},
                       {.lr = nn::lr::fixed(0.01), .weight_decay = 5e-4},
                       {.momentum = 0.9}};
    Tape tape;

    float step(const Eigen::MatrixXf& batch) {
        tape.clear();
        auto x = constant(batch);
        auto h1 = sigmoid(W1 * x + b1);
        auto h2 = sigmoid(W2 * h1 + b2);
        auto h3 = sigmoid(W3 * h2 + b3);
        Var<float, 30, Dynamic> code = W4 * h3 + b4;
        auto d3 = sigmoid(W4.transpose() * code + c3);
        auto d2 = sigmoid(W3.transpose() * d3 + c2);
        auto d1 = sigmoid(W2.transpose() * d2 + c1);
        Var<float, 1, 1> loss = sigmoid_cross_entropy(W1.transpose() * d1 + c0, x, Reduction::Sum) *
                                (1.0f / static_cast<float>(batch.cols()));
        tape.backward(loss);
        sgd.step();
        return loss.value()(0, 0);
    }
};

float train_one_step(ModelB& model, const Eigen::MatrixXf& batch) { return model.step(batch); }
