#pragma once
// gradcheck: compares the tape's gradient of a scalar function of Params with
// central finite differences, and returns the largest relative error.
//
//   double err = gradcheck([&] { return mse(W * x + b, y); }, W, b);
//
// The function is evaluated under InferenceMode for the differences, so it must
// build its graph from the Params each time it is called (as a model does). A gradient
// or a difference that is not finite (NaN, or inf: the function's value was) is an
// error of +inf: nothing was checked there, and `err < tolerance` must fail. Under
// InferenceMode `dropout` is the identity while the tape's pass drops units: check a
// model that has dropout with p = 0, or with its Mode::Eval.

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "tapestry/nn/param_set.hpp"
#include "tapestry/operand.hpp"
#include "tapestry/tape.hpp"

namespace tapestry {

struct GradcheckOptions {
    // Relative to max(1, |value|). 0: 1e-6 for double, 1e-3 for float, where a step of
    // 1e-6 is a few units in the last place and the difference is mostly rounding.
    double step = 0;
    double scale_floor = 1e-3;  // error = |analytic - numeric| / max(|analytic|, |numeric|, scale_floor)
    Index max_coordinates = 0;  // per Param; 0 checks all, otherwise a seeded random sample
    unsigned seed = 12345;
};

namespace detail {

template <class F>
double scalar_value(F& f) {
    auto loss = evaluate(f());
    return static_cast<double>(loss.value()(0, 0));
}

// The worst error over the coordinates of one Param's storage (`n` values).
template <class F, class T>
double gradcheck_one(F& f, T* values, Index n, const T* analytic, const GradcheckOptions& o, std::mt19937& rng) {
    std::vector<Index> coordinates(static_cast<std::size_t>(n));
    for (Index i = 0; i < n; ++i) coordinates[static_cast<std::size_t>(i)] = i;
    if (o.max_coordinates > 0 && o.max_coordinates < n) {
        std::shuffle(coordinates.begin(), coordinates.end(), rng);
        coordinates.resize(static_cast<std::size_t>(o.max_coordinates));
    }
    double worst = 0;
    InferenceMode no_recording;
    const double step = o.step > 0 ? o.step : sizeof(T) >= sizeof(double) ? 1e-6 : 1e-3;
    for (Index i : coordinates) {
        T& x = values[i];
        const T saved = x;
        const T h = static_cast<T>(step * std::max(1.0, std::abs(static_cast<double>(saved))));
        x = saved + h;
        const double up = scalar_value(f);
        x = saved - h;
        const double down = scalar_value(f);
        x = saved;
        const double numeric = (up - down) / (2.0 * static_cast<double>(h));
        const double exact = static_cast<double>(analytic[i]);
        // std::max would drop a NaN: a NaN gradient would pass
        if (!std::isfinite(exact) || !std::isfinite(numeric)) return std::numeric_limits<double>::infinity();
        const double scale = std::max({std::abs(exact), std::abs(numeric), o.scale_floor});
        worst = std::max(worst, std::abs(exact - numeric) / scale);
    }
    return worst;
}

}  // namespace detail

// Over a ParamSet: for models whose Params are only known at run time.
template <class F, class T>
double gradcheck(const GradcheckOptions& options, F&& f, const nn::ParamSet<T>& params) {
    using Matrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>;
    std::vector<Matrix> saved_grads;
    for (const auto& p : params) saved_grads.emplace_back(p.grad());
    params.zero_grad();
    {
        Tape tape;
        tape.backward(f());
    }
    std::vector<Matrix> analytic;
    for (const auto& p : params) analytic.emplace_back(p.grad());
    std::mt19937 rng(options.seed);
    double worst = 0;
    for (std::size_t k = 0; k < params.size(); ++k)
        worst = std::max(worst, detail::gradcheck_one(f, params[k].value().data(), params[k].rows * params[k].cols,
                                                      analytic[k].data(), options, rng));
    for (std::size_t k = 0; k < params.size(); ++k) params[k].grad() = saved_grads[k];
    return worst;
}

// Over the Params listed (their order fixes which coordinates the seed samples).
template <class F, class First, class... Rest>
double gradcheck(const GradcheckOptions& options, F&& f, First& first, Rest&... rest)
    requires is_param_v<First>
{
    nn::ParamSet<typename First::Scalar> params{{"0", first}};
    int index = 0;
    (params.add(std::to_string(++index), rest), ...);
    return gradcheck(options, std::forward<F>(f), params);
}

template <class F, class... Params>
    requires(!std::is_same_v<std::remove_cvref_t<F>, GradcheckOptions>)
double gradcheck(F&& f, Params&... params) {
    return gradcheck(GradcheckOptions{}, std::forward<F>(f), params...);
}

}  // namespace tapestry
