#pragma once
// BatchNorm<T, R>: batch normalisation of R features (rows) across the batch (columns),
// with a learnable scale and shift. In training (Mode::Auto while a tape records, or
// Mode::Train) each row is standardised with its batch mean and biased variance, and the
// running statistics move towards them (running = (1 - momentum) running + momentum
// batch, with the unbiased variance, as PyTorch's); in evaluation the running statistics
// are used instead. The running statistics are Params, so that a ParamSet, load_params
// and checkpoints carry them: add_to() registers all four with the statistics frozen
// (lr_mult 0, decay_mult 0), so that optimizers leave them alone.

#include <cmath>
#include <string>
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
        : scale(Eigen::Matrix<T, R, 1>::Ones(features)),
          shift(Eigen::Matrix<T, R, 1>::Zero(features)),
          running_mean(Eigen::Matrix<T, R, 1>::Zero(features)),
          running_var(Eigen::Matrix<T, R, 1>::Ones(features)),
          momentum_(static_cast<T>(momentum)),
          eps_(static_cast<T>(eps)),
          batch_mean_(features),
          batch_var_(features) {
        if (!(momentum >= 0 && momentum <= 1))
            throw value_error("BatchNorm: momentum (" + std::to_string(momentum) + ") must lie in [0, 1]");
        if (!(eps > 0)) throw value_error("BatchNorm: eps (" + std::to_string(eps) + ") must be positive");
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
        const auto leaf = tapestry::detail::as_leaf(as_expression(std::forward<X>(x)));
        using L = decltype(leaf);
        static_assert(std::is_same_v<typename L::Scalar, T>, "BatchNorm<T, R>: the input's scalar type must be T");
        if (leaf.rows() != scale.value().rows())
            tapestry::detail::throw_shape_error("batch_norm", leaf.rows(), leaf.cols(), scale.value().rows(), 1,
                                                "one row per feature");
        const bool training =
            mode == Mode::Train || (mode == Mode::Auto && tapestry::detail::Recording::active() != nullptr);
        if (!training) {  // an affine map of x with the running statistics
            const Eigen::Array<T, R, 1> inverse_sigma = (running_var.value().array() + eps_).rsqrt();
            auto standardized = hadamard(leaf - constant(running_mean.value()), constant(inverse_sigma.matrix()));
            return Var<T, L::Rows, L::Cols>(hadamard(standardized, scale) + shift);
        }
        if (leaf.cols() < 2)
            throw value_error("batch_norm: training needs at least 2 examples per batch (got " +
                              std::to_string(leaf.cols()) + ")");
        Var<T, L::Rows, L::Cols> standardized = tapestry::detail::make_node<Var<T, L::Rows, L::Cols>>(
            ops::Standardize<T>{eps_, Each::Row, batch_mean_.data(), batch_var_.data()}, leaf.rows(), leaf.cols(),
            leaf);
        const T unbiased = static_cast<T>(leaf.cols()) / static_cast<T>(leaf.cols() - 1);
        running_mean.value() = (T(1) - momentum_) * running_mean.value() + momentum_ * batch_mean_;
        running_var.value() = (T(1) - momentum_) * running_var.value() + (momentum_ * unbiased) * batch_var_;
        return Var<T, L::Rows, L::Cols>(hadamard(standardized, scale) + shift);
    }

private:
    T momentum_, eps_;
    Eigen::Matrix<T, R, 1> batch_mean_, batch_var_;  // written by the training forward
};

}  // namespace tapestry::nn
