#pragma once
// Model A: the tied autoencoder 784-128-784 (sigmoid hidden layer, sigmoid
// cross-entropy on the logits summed over pixels and averaged over the batch, W used
// as W and W^T), one SGD step with momentum 0.9 and weight decay 5e-4 on W.
// Twice: with tapestry, and written by hand in Eigen with the backward derived by
// hand (the floor: the same GEMMs and elementwise work, no autodiff).

#include <random>

#include <tapestry/nn/optim/sgd.hpp>
#include <tapestry/tapestry.hpp>

#include "sgd_by_hand.hpp"
#include "sigmoid_cross_entropy_by_hand.hpp"

namespace bench {

using tapestry::Dynamic;
using tapestry::Index;

inline constexpr int visible = 784, hidden = 128;

template <class T>
using Matrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>;

// The same initial weights and batch for both versions.
template <class T>
struct ModelAData {
    Matrix<T> W0, x;
    explicit ModelAData(Index batch) {
        std::mt19937 rng(5);
        std::normal_distribution<double> normal(0.0, 0.05);
        std::uniform_real_distribution<double> uniform(0.0, 1.0);
        W0 = Matrix<T>::NullaryExpr(hidden, visible, [&] { return static_cast<T>(normal(rng)); });
        x = Matrix<T>::NullaryExpr(visible, batch, [&] { return static_cast<T>(uniform(rng)); });
    }
    // GEMM flops of one step: 2 forward (W x, W^T h), 3 backward (h dY^T, W dY, dZ x^T).
    double gemm_flops() const { return 5.0 * 2.0 * hidden * visible * static_cast<double>(x.cols()); }
};

template <class T>
class ModelATapestry {
public:
    explicit ModelATapestry(const ModelAData<T>& d) : data_(d), W_(d.W0), sgd_(params(), solver(), {.momentum = 0.9}) {}

    T step() {
        using namespace tapestry;
        tape_.clear();
        auto x = constant_view(data_.x);  // read in place: constant() would copy the batch into the tape
        auto h = sigmoid(W_ * x + b1_);
        auto logits = W_.transpose() * h + b2_;
        Var<T, 1, 1> loss = sigmoid_cross_entropy(logits, x, Reduction::Sum) * (T(1) / static_cast<T>(data_.x.cols()));
        tape_.backward(loss);
        sgd_.step();
        return loss.value()(0, 0);
    }

    // Forward only, no tape (plain inference): the reconstruction sigmoid(logits).
    T infer() {
        using namespace tapestry;
        InferenceMode no_recording;
        auto x = constant_view(data_.x);
        Var<T, visible, Dynamic> y = sigmoid(W_.transpose() * sigmoid(W_ * x + b1_) + b2_);
        return y.value()(0, 0);
    }

    const Matrix<T> W1() const { return W_.value(); }
    const tapestry::Tape& tape() const { return tape_; }

private:
    tapestry::nn::ParamSet<T> params() {
        return {{"W", W_}, {"b1", b1_, {.lr_mult = 1, .decay_mult = 0}}, {"b2", b2_, {.lr_mult = 1, .decay_mult = 0}}};
    }
    static tapestry::nn::OptimizerOptions solver() {
        tapestry::nn::OptimizerOptions o;
        o.lr = tapestry::nn::lr::fixed(0.01);
        o.weight_decay = 5e-4;
        return o;
    }

    const ModelAData<T>& data_;
    tapestry::Param<T, hidden, visible> W_;
    tapestry::Param<T, hidden, 1> b1_;
    tapestry::Param<T, visible, 1> b2_;
    tapestry::nn::Sgd<T> sgd_;
    tapestry::Tape tape_;
};

// The hand-written floor: every buffer preallocated, every GEMM in place.
template <class T>
class ModelAEigen {
public:
    explicit ModelAEigen(const ModelAData<T>& d)
        : x_(d.x),
          W_(d.W0),
          b1_(Matrix<T>::Zero(hidden, 1)),
          b2_(Matrix<T>::Zero(visible, 1)),
          vW_(Matrix<T>::Zero(hidden, visible)),
          vb1_(Matrix<T>::Zero(hidden, 1)),
          vb2_(Matrix<T>::Zero(visible, 1)),
          H_(hidden, d.x.cols()),
          Y_(visible, d.x.cols()),
          dH_(hidden, d.x.cols()),
          dW_(hidden, visible),
          db1_(hidden, 1),
          db2_(visible, 1) {}

    T step() {
        const Index B = x_.cols();
        const T scale = T(1) / static_cast<T>(B);
        forward();
        // The loss and dY = (sigmoid(Y) - x) / B in one pass, dY kept in Y_
        const T loss = scale * sigmoid_cross_entropy_and_gradient(Y_.data(), x_.data(), Y_.size(), scale, Y_.data());
        db2_ = Y_.rowwise().sum();
        assign_a_bt(dW_, H_, Y_);
        dH_.noalias() = W_ * Y_;
        dH_.array() *= H_.array() * (T(1) - H_.array());
        db1_ = dH_.rowwise().sum();
        add_a_bt(dW_, dH_, x_);
        // SGD, momentum 0.9, weight decay 5e-4 on W (PyTorch's form)
        update(W_, vW_, dW_ + T(5e-4) * W_);
        update(b1_, vb1_, db1_);
        update(b2_, vb2_, db2_);
        ++t_;
        return loss;
    }

    // Forward only: the reconstruction sigmoid(logits).
    T infer() {
        forward();
        Y_.array() = Y_.array().logistic();
        return Y_(0, 0);
    }

    const Matrix<T>& W1() const { return W_; }

private:
    // H = sigmoid(W x + b1), Y = W^T H + b2 (the logits). The sigmoid is a statement of
    // its own: Eigen 3.4 evaluates the logistic of a colwise() sum one element at a time,
    // with the C library's exp (4-12x slower here).
    void forward() {
        assign_bias_plus(H_, b1_.col(0), W_ * x_);
        H_.array() = H_.array().logistic();
        assign_bias_plus(Y_, b2_.col(0), W_.transpose() * H_);
    }

    template <class G>
    void update(Matrix<T>& p, Matrix<T>& v, const G& g) {
        sgd_momentum_update(p, v, g, t_);
    }

    const Matrix<T>& x_;
    Matrix<T> W_, b1_, b2_, vW_, vb1_, vb2_, H_, Y_, dH_, dW_, db1_, db2_;
    long t_ = 0;
};

}  // namespace bench
