#pragma once
// AdaGrad (PyTorch's form): s ← s + g²;  θ ← θ − lr g / (√s + ε).

#include "tapestry/nn/optim/optimizer.hpp"

namespace tapestry::nn {

struct AdaGradOptions {
    double eps = 1e-10;
};

template <class T>
class AdaGrad final : public Optimizer<T> {
public:
    AdaGrad(ParamSet<T> params, OptimizerOptions options, AdaGradOptions adagrad = {})
        : Optimizer<T>(std::move(params), std::move(options), {"sum"}), adagrad_(adagrad) {}

private:
    void update(const NamedParam<T>&, const Slice<T>& slice, T lr, long) override {
        auto g = slice.grad();
        auto sum = slice.state(0);
        sum += g.square();
        slice.value() -= lr * g / (sum.sqrt() + static_cast<T>(adagrad_.eps));
    }

    AdaGradOptions adagrad_;
};

}  // namespace tapestry::nn
