#pragma once
// AdaDelta (Zeiler 2012, as PyTorch implements it):
//   v ← ρ v + (1 − ρ) g²;  Δ ← √(u + ε) / √(v + ε) · g;  u ← ρ u + (1 − ρ) Δ²;  θ ← θ − lr Δ

#include "tapestry/nn/optim/optimizer.hpp"

namespace tapestry::nn {

struct AdaDeltaOptions {
    double rho = 0.9;
    double eps = 1e-6;
};

template <class T>
class AdaDelta final : public Optimizer<T> {
public:
    AdaDelta(ParamSet<T> params, OptimizerOptions options, AdaDeltaOptions adadelta = {})
        : Optimizer<T>(std::move(params), std::move(options), {"square_avg", "acc_delta"}), adadelta_(adadelta) {}

private:
    void update(const NamedParam<T>&, const Slice<T>& slice, T lr, long) override {
        const T rho = static_cast<T>(adadelta_.rho), eps = static_cast<T>(adadelta_.eps);
        auto g = slice.grad();
        auto v = slice.state(0);
        auto u = slice.state(1);
        v = rho * v + (T(1) - rho) * g.square();
        g = (u + eps).sqrt() / (v + eps).sqrt() * g;  // g now holds Δ
        u = rho * u + (T(1) - rho) * g.square();
        slice.value() -= lr * g;
    }

    AdaDeltaOptions adadelta_;
};

}  // namespace tapestry::nn
