#pragma once
// BatchNorm<T, R>: batch normalisation of R features (rows) across the batch (columns),
// with a learnable scale and shift. In training (Mode::Auto while a tape records, or
// Mode::Train) each row is standardised with its batch mean and biased variance, and the
// running statistics move towards them (running = (1 - momentum) running + momentum
// batch, with the unbiased variance, as PyTorch's); in evaluation the running statistics
// are used instead. The running statistics are Params, so that a ParamSet, load_params
// and checkpoints carry them: add_to() registers all four with the statistics frozen
// (lr_mult 0, decay_mult 0), so that optimizers leave them alone.
//
// Training on replicas (nn/replicas.hpp) moves each replica's running statistics, not the
// model's: copy them back from a replica, or average them, before evaluating.

#include <cmath>
#include <string>
#include <type_traits>
#include <utility>

#include "tapestry/core/errors.hpp"
#include "tapestry/graph/node.hpp"
#include "tapestry/nn/param_set.hpp"
#include "tapestry/ops/arithmetic.hpp"
#include "tapestry/ops/axis.hpp"
#include "tapestry/ops/constant.hpp"
#include "tapestry/ops/layer_norm.hpp"
#include "tapestry/ops/mode.hpp"
#include "tapestry/param.hpp"
#include "tapestry/tape/recording.hpp"

namespace tapestry::nn {

template <class T, int R>
class BatchNorm {
public:
    Param<T, R, 1> scale, shift, running_mean, running_var;

    explicit BatchNorm(Index features = R, double momentum = 0.1, double eps = 1e-5)
        : scale(Eigen::Matrix<T, R, 1>::Ones(checked_features(features))),
          shift(Eigen::Matrix<T, R, 1>::Zero(features)),
          running_mean(Eigen::Matrix<T, R, 1>::Zero(features)),
          running_var(Eigen::Matrix<T, R, 1>::Ones(features)),
          momentum_(static_cast<T>(momentum)),
          eps_(static_cast<T>(eps)),
          batch_mean_(features),
          batch_var_(features) {
        if (!(momentum >= 0 && momentum <= 1))
            throw value_error("BatchNorm: momentum (" + std::to_string(momentum) + ") must lie in [0, 1]");
        detail::norm_eps<T>("BatchNorm", eps);
    }

    // Registers scale, shift and the frozen running statistics as "<name>.scale", ...
    void add_to(ParamSet<T>& params, const std::string& name) {
        const ParamOptions no_decay{.lr_mult = 1, .decay_mult = 0}, frozen{.lr_mult = 0, .decay_mult = 0};
        params.add(name + ".scale", scale, no_decay)
            .add(name + ".shift", shift, no_decay)
            .add(name + ".running_mean", running_mean, frozen)
            .add(name + ".running_var", running_var, frozen);
    }

    template <Operand X>
    auto operator()(X&& x, Mode mode = Mode::Auto) {
        const auto e = as_expression(std::forward<X>(x));  // checked before it is evaluated
        using E = decltype(e);
        static_assert(std::is_same_v<typename E::Scalar, T>, "BatchNorm<T, R>: the input's scalar type must be T");
        if (e.rows() != scale.value().rows())
            tapestry::detail::throw_shape_error("batch_norm", e.rows(), e.cols(), scale.value().rows(), 1,
                                                "one row per feature");
        const bool training =
            mode == Mode::Train || (mode == Mode::Auto && tapestry::detail::Recording::active() != nullptr);
        if (!training) {  // an affine map of x with the running statistics
            const Eigen::Array<T, R, 1> inverse_sigma = (running_var.value().array() + eps_).rsqrt();
            auto standardized = hadamard(e - constant(running_mean.value()), constant(inverse_sigma.matrix()));
            return Var<T, E::Rows, E::Cols>(hadamard(standardized, scale) + shift);
        }
        if (e.cols() < 2)
            throw value_error("batch_norm: training needs at least 2 examples per batch (got " +
                              std::to_string(e.cols()) + ")");
        Var<T, E::Rows, E::Cols> standardized = tapestry::detail::make_node<Var<T, E::Rows, E::Cols>>(
            ops::Standardize<T>{eps_, Each::Row, batch_mean_.data(), batch_var_.data()}, e.rows(), e.cols(),
            tapestry::detail::as_leaf(e));
        const T unbiased = static_cast<T>(e.cols()) / static_cast<T>(e.cols() - 1);
        running_mean.value() = (T(1) - momentum_) * running_mean.value() + momentum_ * batch_mean_;
        running_var.value() = (T(1) - momentum_) * running_var.value() + (momentum_ * unbiased) * batch_var_;
        return Var<T, E::Rows, E::Cols>(hadamard(standardized, scale) + shift);
    }

private:
    static Index checked_features(Index features) {
        if (features < 0 || (R != Dynamic && features != R))
            throw value_error("BatchNorm<T, " + (R == Dynamic ? std::string("Dynamic") : std::to_string(R)) +
                              ">: " + std::to_string(features) + " features" +
                              (R == Dynamic ? " (give the number of features)" : ""));
        return features;
    }

    T momentum_, eps_;
    Eigen::Matrix<T, R, 1> batch_mean_, batch_var_;  // written by the training forward
};

}  // namespace tapestry::nn
