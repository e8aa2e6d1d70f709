#pragma once
// SGD with momentum and Nesterov momentum, as PyTorch documents it:
//   b ← μ b + (1 − dampening) g   (b ← g on the first update)
//   g ← g + μ b (Nesterov)  or  g ← b
//   θ ← θ − lr g
// With a constant learning rate this equals Caffe's v ← μ v + lr g, θ ← θ − v.

#include "tapestry/nn/optim/optimizer.hpp"

namespace tapestry::nn {

struct SgdOptions {
    double momentum = 0.0;
    double dampening = 0.0;
    bool nesterov = false;
};

template <class T>
class Sgd final : public Optimizer<T> {
public:
    Sgd(ParamSet<T> params, OptimizerOptions options, SgdOptions sgd = {})
        : Optimizer<T>(std::move(params), std::move(options), {"momentum_buffer"}), sgd_(sgd) {
        if (sgd_.nesterov && (sgd_.momentum <= 0 || sgd_.dampening != 0))
            throw value_error("Sgd: Nesterov momentum needs momentum > 0 and no dampening");
    }

private:
    void update(const NamedParam<T>&, const Slice<T>& slice, T lr, long t) override {
        auto g = slice.grad();
        if (sgd_.momentum == 0) {
            slice.value() -= lr * g;
            return;
        }
        auto buffer = slice.state(0);
        const T mu = static_cast<T>(sgd_.momentum);
        if (t == 1)
            buffer = g;
        else
            buffer = mu * buffer + static_cast<T>(1 - sgd_.dampening) * g;
        if (sgd_.nesterov)
            slice.value() -= lr * (g + mu * buffer);
        else
            slice.value() -= lr * buffer;
    }

    SgdOptions sgd_;
};

}  // namespace tapestry::nn
