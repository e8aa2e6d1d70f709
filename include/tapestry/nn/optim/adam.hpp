#pragma once
// Adam and AdamW, as PyTorch documents them:
//   m ← β1 m + (1 − β1) g;  v ← β2 v + (1 − β2) g²
//   θ ← θ − lr · (m / (1 − β1ᵗ)) / (√(v / (1 − β2ᵗ)) + ε)
// AdamW first decays the value itself, θ ← θ − lr · λ θ (λ = weight_decay × decay_mult),
// instead of adding λ θ to the gradient.

#include <cmath>

#include "tapestry/nn/optim/optimizer.hpp"

namespace tapestry::nn {

struct AdamOptions {
    double beta1 = 0.9;
    double beta2 = 0.999;
    double eps = 1e-8;
    bool decoupled_weight_decay = false;  // true: AdamW
};

template <class T>
class Adam : public Optimizer<T> {
public:
    Adam(ParamSet<T> params, OptimizerOptions options, AdamOptions adam = {})
        : Optimizer<T>(std::move(params), std::move(options), {"exp_avg", "exp_avg_sq"}), adam_(adam) {}

private:
    bool decouples_weight_decay() const override { return adam_.decoupled_weight_decay; }

    void update(const NamedParam<T>& p, const Slice<T>& slice, T lr, long t) override {
        const T b1 = static_cast<T>(adam_.beta1), b2 = static_cast<T>(adam_.beta2);
        if (adam_.decoupled_weight_decay)
            slice.value() *= T(1) - lr * static_cast<T>(this->options().weight_decay * p.options.decay_mult);
        auto g = slice.grad();
        auto m = slice.state(0);
        auto v = slice.state(1);
        m = b1 * m + (T(1) - b1) * g;
        v = b2 * v + (T(1) - b2) * g.square();
        const T correction1 = T(1) - static_cast<T>(std::pow(adam_.beta1, static_cast<double>(t)));
        const T correction2 = T(1) - static_cast<T>(std::pow(adam_.beta2, static_cast<double>(t)));
        slice.value() -= lr * (m / correction1) / ((v / correction2).sqrt() + static_cast<T>(adam_.eps));
    }

    AdamOptions adam_;
};

// AdamW: Adam with decoupled weight decay.
template <class T>
class AdamW final : public Adam<T> {
public:
    AdamW(ParamSet<T> params, OptimizerOptions options, AdamOptions adam = {})
        : Adam<T>(std::move(params), std::move(options), with_decoupled_decay(adam)) {}

private:
    static AdamOptions with_decoupled_decay(AdamOptions adam) {
        adam.decoupled_weight_decay = true;
        return adam;
    }
};

}  // namespace tapestry::nn
