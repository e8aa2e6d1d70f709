#pragma once
// Learning-rate policies, Caffe's (fixed, step, multistep, exp, inv, poly, sigmoid)
// plus cosine. A policy is plain data, so a checkpoint needs only the iteration.

#include <cmath>
#include <numbers>
#include <string>
#include <vector>

#include "tapestry/core/errors.hpp"

namespace tapestry::nn {

struct LrPolicy {
    enum class Kind { Fixed, Step, MultiStep, Exp, Inv, Poly, Sigmoid, Cosine };
    Kind kind = Kind::Fixed;
    double base_lr = 0.01;
    double gamma = 1.0;
    double power = 1.0;
    long step_size = 1;
    long max_iter = 1;
    double min_lr = 0.0;            // cosine's floor
    std::vector<long> step_values;  // multistep

    // The learning rate at iteration `iter` (0-based), with Caffe's formulas.
    double at(long iter) const {
        const double t = static_cast<double>(iter);
        switch (kind) {
            case Kind::Fixed: return base_lr;
            case Kind::Step: return base_lr * std::pow(gamma, static_cast<double>(iter / step_size));
            case Kind::MultiStep: {
                int passed = 0;
                for (long v : step_values) passed += iter >= v ? 1 : 0;
                return base_lr * std::pow(gamma, passed);
            }
            case Kind::Exp: return base_lr * std::pow(gamma, t);
            case Kind::Inv: return base_lr * std::pow(1.0 + gamma * t, -power);
            case Kind::Poly: return base_lr * std::pow(1.0 - std::min(t, double(max_iter)) / double(max_iter), power);
            case Kind::Sigmoid: return base_lr / (1.0 + std::exp(-gamma * (t - double(step_size))));
            case Kind::Cosine: {
                const double progress = std::min(t, double(max_iter)) / double(max_iter);
                return min_lr + (base_lr - min_lr) * 0.5 * (1.0 + std::cos(std::numbers::pi * progress));
            }
        }
        return base_lr;
    }
};

namespace lr {

inline LrPolicy fixed(double base_lr) {
    LrPolicy p;
    p.base_lr = base_lr;
    return p;
}

inline LrPolicy step(double base_lr, double gamma, long step_size) {
    if (step_size <= 0) throw value_error("lr::step: step_size must be positive");
    LrPolicy p = fixed(base_lr);
    p.kind = LrPolicy::Kind::Step;
    p.gamma = gamma;
    p.step_size = step_size;
    return p;
}

inline LrPolicy multistep(double base_lr, double gamma, std::vector<long> step_values) {
    LrPolicy p = fixed(base_lr);
    p.kind = LrPolicy::Kind::MultiStep;
    p.gamma = gamma;
    p.step_values = std::move(step_values);
    return p;
}

inline LrPolicy exp(double base_lr, double gamma) {
    LrPolicy p = fixed(base_lr);
    p.kind = LrPolicy::Kind::Exp;
    p.gamma = gamma;
    return p;
}

inline LrPolicy inv(double base_lr, double gamma, double power) {
    LrPolicy p = fixed(base_lr);
    p.kind = LrPolicy::Kind::Inv;
    p.gamma = gamma;
    p.power = power;
    return p;
}

inline LrPolicy poly(double base_lr, double power, long max_iter) {
    if (max_iter <= 0) throw value_error("lr::poly: max_iter must be positive");
    LrPolicy p = fixed(base_lr);
    p.kind = LrPolicy::Kind::Poly;
    p.power = power;
    p.max_iter = max_iter;
    return p;
}

inline LrPolicy sigmoid(double base_lr, double gamma, long step_size) {
    LrPolicy p = fixed(base_lr);
    p.kind = LrPolicy::Kind::Sigmoid;
    p.gamma = gamma;
    p.step_size = step_size;
    return p;
}

inline LrPolicy cosine(double base_lr, long max_iter, double min_lr = 0.0) {
    if (max_iter <= 0) throw value_error("lr::cosine: max_iter must be positive");
    LrPolicy p = fixed(base_lr);
    p.kind = LrPolicy::Kind::Cosine;
    p.max_iter = max_iter;
    p.min_lr = min_lr;
    return p;
}

}  // namespace lr
}  // namespace tapestry::nn
