#pragma once
// RMSProp (PyTorch's form; Caffe's rms_decay is alpha): v ← α v + (1 − α) g²;  θ ← θ − lr g / (√v + ε).

#include "tapestry/nn/optim/optimizer.hpp"

namespace tapestry::nn {

struct RmsPropOptions {
    double alpha = 0.99;
    double eps = 1e-8;
};

template <class T>
class RmsProp final : public Optimizer<T> {
public:
    RmsProp(ParamSet<T> params, OptimizerOptions options, RmsPropOptions rmsprop = {})
        : Optimizer<T>(std::move(params), std::move(options), {"square_avg"}), rmsprop_(rmsprop) {}

private:
    void update(const NamedParam<T>&, const Slice<T>& slice, T lr, long) override {
        const T alpha = static_cast<T>(rmsprop_.alpha);
        auto g = slice.grad();
        auto v = slice.state(0);
        v = alpha * v + (T(1) - alpha) * g.square();
        slice.value() -= lr * g / (v.sqrt() + static_cast<T>(rmsprop_.eps));
    }

    RmsPropOptions rmsprop_;
};

}  // namespace tapestry::nn
