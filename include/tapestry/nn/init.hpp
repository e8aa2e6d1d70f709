#pragma once
// Initializers, deterministic from a seed, with Caffe's filler semantics. For a
// weight matrix of shape (outputs x inputs), as in y = W x:
//   fan_in = cols (inputs), fan_out = rows (outputs)   — Caffe's count/shape(0), count/shape(1).
// For a convolution's Kernel<T, Out, In, KH, KW>, as Caffe counts them:
//   fan_in = In KH KW, fan_out = Out KH KW.

#include <cmath>
#include <random>

#include "tapestry/conv/kernel.hpp"
#include "tapestry/param.hpp"

namespace tapestry::nn {

// Caffe's variance_norm for Xavier and MSRA.
enum class FanMode { In, Out, Average };

using Rng = std::mt19937_64;

}  // namespace tapestry::nn

namespace tapestry::detail {

template <class T, int R, int C, class Draw>
void fill_values(Param<T, R, C>& p, Draw&& draw) {
    auto&& m = p.value();
    for (Index i = 0; i < m.size(); ++i) m.data()[i] = static_cast<T>(draw());
}

inline double fan(double in, double out, nn::FanMode mode) {
    switch (mode) {
        case nn::FanMode::In: return in;
        case nn::FanMode::Out: return out;
        case nn::FanMode::Average: return (in + out) / 2.0;
    }
    return in;
}

template <class T, int R, int C>
double fan_of(const Param<T, R, C>& p, nn::FanMode mode) {
    return fan(static_cast<double>(p.cols()), static_cast<double>(p.rows()), mode);
}

template <class T, int Out, int In, int KH, int KW>
double fan_of(const Kernel<T, Out, In, KH, KW>&, nn::FanMode mode) {
    return fan(double(In) * KH * KW, double(Out) * KH * KW, mode);
}

// Caffe's num_outputs (its blob's shape(0)), which the sparse gaussian filler divides by.
template <class T, int R, int C>
double outputs_of(const Param<T, R, C>& p) {
    return static_cast<double>(p.rows());
}
template <class T, int Out, int In, int KH, int KW>
double outputs_of(const Kernel<T, Out, In, KH, KW>&) {
    return Out;
}

}  // namespace tapestry::detail

namespace tapestry::nn {

template <class T, int R, int C>
void constant_init(Param<T, R, C>& p, double value) {
    p.value().setConstant(static_cast<T>(value));
}

template <class T, int R, int C>
void uniform_init(Param<T, R, C>& p, double low, double high, Rng& rng) {
    std::uniform_real_distribution<double> uniform(low, high);
    detail::fill_values(p, [&] { return uniform(rng); });
}

// Caffe's gaussian filler. With sparse > 0, each weight is kept with probability
// sparse / outputs (the rows of a weight matrix, a Kernel's Out: so each input's
// fan-out has `sparse` non-zeros on average) and the others are zero.
template <class P>
    requires is_param_v<P>
void gaussian_init(P& p, double mean, double stddev, Rng& rng, int sparse = 0) {
    std::normal_distribution<double> normal(mean, stddev);
    if (sparse <= 0) {
        detail::fill_values(p, [&] { return normal(rng); });
        return;
    }
    const double keep = std::min(1.0, static_cast<double>(sparse) / detail::outputs_of(p));
    std::bernoulli_distribution kept(keep);
    detail::fill_values(p, [&] {
        const double w = normal(rng);  // drawn for every weight, as Caffe does, then masked
        return kept(rng) ? w : 0.0;
    });
}

// Xavier/Glorot: uniform in [-a, a] with a = sqrt(3 / n). P: a Param or a Kernel.
template <class P>
    requires is_param_v<P>
void xavier_init(P& p, Rng& rng, FanMode mode = FanMode::In) {
    const double a = std::sqrt(3.0 / detail::fan_of(p, mode));
    uniform_init(p, -a, a, rng);
}

// MSRA/He: gaussian with mean 0 and std sqrt(2 / n). P: a Param or a Kernel.
template <class P>
    requires is_param_v<P>
void msra_init(P& p, Rng& rng, FanMode mode = FanMode::In) {
    gaussian_init(p, 0.0, std::sqrt(2.0 / detail::fan_of(p, mode)), rng);
}

}  // namespace tapestry::nn
