#pragma once
// Model B: Caffe's mnist_autoencoder with tied weights. Encoder 784-1000-500-250-30
// (sigmoid on every layer but the linear 30-unit code), decoder 30-250-500-1000-784
// reusing the four encoder matrices transposed (sigmoid but on the logits), sigmoid
// cross-entropy summed over pixels and averaged over the batch. One SGD step with
// momentum 0.9 and weight decay 5e-4 on the matrices. Twice: with tapestry, and
// written by hand in Eigen (the floor), as for Model A.

#include <array>
#include <random>

#include <tapestry/nn/data_parallel.hpp>
#include <tapestry/nn/optim/sgd.hpp>
#include <tapestry/tapestry.hpp>

#include "sgd_by_hand.hpp"
#include "sigmoid_cross_entropy_by_hand.hpp"

namespace bench {

inline constexpr std::array<int, 5> model_b_widths = {784, 1000, 500, 250, 30};

template <class T>
struct ModelBData {
    std::array<Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>, 4> W0;  // W0[i]: widths[i+1] x widths[i]
    Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic> x;
    explicit ModelBData(tapestry::Index batch) {
        std::mt19937 rng(7);
        std::uniform_real_distribution<double> uniform(0.0, 1.0);
        for (int i = 0; i < 4; ++i) {
            std::normal_distribution<double> normal(0.0, 1.0 / std::sqrt(double(model_b_widths[i])));
            W0[i] = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>::NullaryExpr(
                model_b_widths[i + 1], model_b_widths[i], [&] { return static_cast<T>(normal(rng)); });
        }
        x = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>::NullaryExpr(784, batch,
                                                                          [&] { return static_cast<T>(uniform(rng)); });
    }
    // 8 forward GEMMs, 8 weight-gradient GEMMs, 7 input-gradient GEMMs (none for x).
    double gemm_flops() const {
        double per_example = 0;
        for (int i = 0; i < 4; ++i) per_example += 2.0 * model_b_widths[i] * model_b_widths[i + 1];
        return per_example * (8 + 8 + 7) / 4.0 * static_cast<double>(x.cols());
    }
};

// Model B's Params and its logits, on their own: what ModelBTapestry trains on one
// thread's tape, and ModelBDataParallel copies into replicas.
template <class T>
struct ModelBNet {
    explicit ModelBNet(const ModelBData<T>& d) : W1(d.W0[0]), W2(d.W0[1]), W3(d.W0[2]), W4(d.W0[3]) {}

    // The logits of the reconstruction of x, as an expression (still lazy: the bias c0 is added where it is used).
    template <class X>
    auto logits(const X& x) {
        using namespace tapestry;
        auto h1 = sigmoid(W1 * x + b1);
        auto h2 = sigmoid(W2 * h1 + b2);
        auto h3 = sigmoid(W3 * h2 + b3);
        Var<T, 30, Dynamic> code = W4 * h3 + b4;
        auto d3 = sigmoid(W4.transpose() * code + c3);
        auto d2 = sigmoid(W3.transpose() * d3 + c2);
        auto d1 = sigmoid(W2.transpose() * d2 + c1);
        return W1.transpose() * d1 + c0;
    }

    // Sigmoid cross-entropy of the reconstruction of examples [first, first + count)
    // of x, summed, divided by the whole batch's size.
    tapestry::Var<T, 1, 1> loss(const Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>& x, tapestry::Index first,
                                tapestry::Index count) {
        using namespace tapestry;
        auto share = constant_view(x.middleCols(first, count));  // read in place: no copy per step
        return sigmoid_cross_entropy(logits(share), share, Reduction::Sum) * (T(1) / static_cast<T>(x.cols()));
    }

    tapestry::nn::ParamSet<T> params() {
        const tapestry::nn::ParamOptions bias{.lr_mult = 1, .decay_mult = 0};
        return {{"W1", W1},       {"W2", W2},       {"W3", W3},       {"W4", W4},
                {"b1", b1, bias}, {"b2", b2, bias}, {"b3", b3, bias}, {"b4", b4, bias},
                {"c3", c3, bias}, {"c2", c2, bias}, {"c1", c1, bias}, {"c0", c0, bias}};
    }
    static tapestry::nn::OptimizerOptions solver() {
        return {.lr = tapestry::nn::lr::fixed(0.01), .weight_decay = 5e-4};
    }

    tapestry::Param<T, 1000, 784> W1;
    tapestry::Param<T, 500, 1000> W2;
    tapestry::Param<T, 250, 500> W3;
    tapestry::Param<T, 30, 250> W4;
    tapestry::Param<T, 1000, 1> b1;
    tapestry::Param<T, 500, 1> b2;
    tapestry::Param<T, 250, 1> b3;
    tapestry::Param<T, 30, 1> b4;
    tapestry::Param<T, 250, 1> c3;
    tapestry::Param<T, 500, 1> c2;
    tapestry::Param<T, 1000, 1> c1;
    tapestry::Param<T, 784, 1> c0;
};

template <class T>
class ModelBTapestry {
public:
    explicit ModelBTapestry(const ModelBData<T>& d)
        : data_(d), net_(d), sgd_(net_.params(), ModelBNet<T>::solver(), {.momentum = 0.9}) {}

    T step() {
        tape_.clear();
        tapestry::Var<T, 1, 1> loss = net_.loss(data_.x, 0, data_.x.cols());
        tape_.backward(loss);
        sgd_.step();
        return loss.value()(0, 0);
    }

    // Forward only, no tape (plain inference): the reconstruction sigmoid(logits).
    T infer() {
        using namespace tapestry;
        InferenceMode no_recording;
        Var<T, 784, Dynamic> y = sigmoid(net_.logits(constant_view(data_.x)));
        return y.value()(0, 0);
    }

    Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic> W1() const { return net_.W1.value(); }
    const tapestry::Tape& tape() const { return tape_; }

private:
    const ModelBData<T>& data_;
    ModelBNet<T> net_;
    tapestry::nn::Sgd<T> sgd_;
    tapestry::Tape tape_;
};

// Model B's step on nn::DataParallel: each replica (its own thread, its kernels on it)
// takes its share of the batch; gradients summed; one SGD step.
template <class T>
class ModelBDataParallel {
public:
    ModelBDataParallel(const ModelBData<T>& d, int replicas)
        : data_(d),
          net_(d),
          parallel_(net_, replicas),
          sgd_(net_.params(), ModelBNet<T>::solver(), {.momentum = 0.9}) {}

    T step() {
        const T loss = parallel_.backward(data_.x.cols(),
                                          [this](ModelBNet<T>& replica, tapestry::Index first, tapestry::Index count) {
                                              return replica.loss(data_.x, first, count);
                                          });
        sgd_.step();
        return loss;
    }

    Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic> W1() const { return net_.W1.value(); }

private:
    const ModelBData<T>& data_;
    ModelBNet<T> net_;
    tapestry::nn::DataParallel<ModelBNet<T>> parallel_;
    tapestry::nn::Sgd<T> sgd_;
};

// The hand-written floor: every buffer preallocated, every GEMM in place, the
// backward derived by hand.
template <class T>
class ModelBEigen {
    using Matrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>;
    using Vector = Eigen::Matrix<T, Eigen::Dynamic, 1>;

public:
    explicit ModelBEigen(const ModelBData<T>& d) : x_(d.x) {
        const tapestry::Index B = d.x.cols();
        for (int i = 0; i < 4; ++i) {
            const int out = model_b_widths[i + 1], in = model_b_widths[i];
            W_[i] = d.W0[i];
            vW_[i] = Matrix::Zero(out, in);
            dW_[i].resize(out, in);
            b_[i] = Vector::Zero(out);  // encoder bias of layer i (output width)
            c_[i] = Vector::Zero(in);   // decoder bias producing width `in`
            vb_[i] = Vector::Zero(out);
            vc_[i] = Vector::Zero(in);
            db_[i].resize(out);
            dc_[i].resize(in);
            H_[i].resize(out, B);  // encoder outputs h1, h2, h3, code
            D_[i].resize(in, B);   // decoder outputs d(in) for layer i; D_[0] holds the logits
            dH_[i].resize(out, B);
            dD_[i].resize(in, B);
        }
    }

    T step() {
        const T scale = T(1) / static_cast<T>(x_.cols());
        forward();
        // The loss, and the decoder's backward from dD_0 = (sigmoid(logits) - x) / B, in one pass
        const T loss =
            scale * sigmoid_cross_entropy_and_gradient(D_[0].data(), x_.data(), D_[0].size(), scale, dD_[0].data());
        for (int i = 0; i < 4; ++i) {
            if (i > 0) dD_[i].array() *= D_[i].array() * (T(1) - D_[i].array());  // through the sigmoid
            dc_[i] = dD_[i].rowwise().sum();
            const Matrix& below = i == 3 ? H_[3] : D_[i + 1];  // D_i = W_i^T below
            assign_a_bt(dW_[i], below, dD_[i]);
            Matrix& d_below = i == 3 ? dH_[3] : dD_[i + 1];
            d_below.noalias() = W_[i] * dD_[i];
        }
        // backward through the encoder, from the code
        for (int i = 3; i >= 0; --i) {
            if (i < 3) dH_[i].array() *= H_[i].array() * (T(1) - H_[i].array());
            db_[i] = dH_[i].rowwise().sum();
            add_a_bt(dW_[i], dH_[i], i == 0 ? x_ : H_[i - 1]);
            if (i > 0) dH_[i - 1].noalias() = W_[i].transpose() * dH_[i];
        }
        for (int i = 0; i < 4; ++i) {
            sgd_momentum_update(W_[i], vW_[i], dW_[i] + T(5e-4) * W_[i], t_);
            sgd_momentum_update(b_[i], vb_[i], db_[i], t_);
            sgd_momentum_update(c_[i], vc_[i], dc_[i], t_);
        }
        ++t_;
        return loss;
    }

    // Forward only: the reconstruction sigmoid(logits).
    T infer() {
        forward();
        D_[0].array() = D_[0].array().logistic();
        return D_[0](0, 0);
    }

    const Matrix& W1() const { return W_[0]; }

private:
    void forward() {
        // encoder: H_i = sigmoid(W_i H_{i-1} + b_i), the code (i = 3) linear
        for (int i = 0; i < 4; ++i) {
            assign_bias_plus(H_[i], b_[i], W_[i] * (i == 0 ? x_ : H_[i - 1]));
            if (i < 3) H_[i].array() = H_[i].array().logistic();
        }
        // decoder: D_i = sigmoid(W_i^T D_{i+1} + c_i) (from the code down), logits D_0 linear
        for (int i = 3; i >= 0; --i) {
            assign_bias_plus(D_[i], c_[i], W_[i].transpose() * (i == 3 ? H_[3] : D_[i + 1]));
            if (i > 0) D_[i].array() = D_[i].array().logistic();
        }
    }

    const Matrix& x_;
    std::array<Matrix, 4> W_, vW_, dW_, H_, D_, dH_, dD_;
    std::array<Vector, 4> b_, c_, vb_, vc_, db_, dc_;
    long t_ = 0;
};

}  // namespace bench
