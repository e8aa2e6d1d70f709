#pragma once
// Losses, each a 1x1 Var: averaged over the elements by default (over the examples,
// i.e. columns, for softmax_cross_entropy), summed with Reduction::Sum.
// A target may be a Var (usually a constant()) or an Eigen matrix.

#include <span>
#include <string>

#include "tapestry/ops/arithmetic.hpp"
#include "tapestry/ops/math.hpp"
#include "tapestry/ops/reductions.hpp"

namespace tapestry {

enum class Reduction { Mean, Sum };

namespace ops {

// max(x, 0) - x t + log1p(e^-|x|) is log(1 + e^x) - x t without overflow for any finite x.
struct SigmoidCrossEntropy {
    static constexpr const char* name = "sigmoid_cross_entropy";
    auto forward(const auto& x, const auto& t) const {
        using T = typename std::decay_t<decltype(x)>::Scalar;
        return x.max(T(0)) - x * t + (-x.abs()).exp().log1p();
    }
    auto backward_left(const auto& g, const auto& x, const auto& t) const { return g * (x.logistic() - t); }
    auto backward_right(const auto& g, const auto& x, const auto&) const { return -g * x; }
};

}  // namespace ops

namespace detail {

// A target given as an Eigen matrix becomes a constant leaf; an operand stays itself.
template <class Target>
auto as_target(Target&& target) {
    if constexpr (Operand<Target>)
        return as_expression(std::forward<Target>(target));
    else
        return as_expression(constant(target));
}

template <LazyExpression E>
auto reduce(const E& e, Reduction reduction) {
    using T = typename E::Scalar;
    const T scale = reduction == Reduction::Mean ? T(1) / static_cast<T>(e.rows() * e.cols()) : T(1);
    return scaled_sum(e, scale);
}

}  // namespace detail

// Mean (or sum) of (prediction - target)^2.
template <Operand P, class Target>
auto mse(P&& prediction, Target&& target, Reduction reduction = Reduction::Mean) {
    auto diff = detail::same_shape("mse", ops::Subtract{}, as_expression(std::forward<P>(prediction)),
                                   detail::as_target(std::forward<Target>(target)));
    return detail::reduce(detail::unary(ops::Square{}, std::move(diff)), reduction);
}

// Binary cross-entropy of sigmoid(logits) against targets in [0, 1], computed from
// the logits so that it stays finite for any finite input.
template <Operand L, class Target>
auto sigmoid_cross_entropy(L&& logits, Target&& target, Reduction reduction = Reduction::Mean) {
    auto elementwise_loss = detail::same_shape("sigmoid_cross_entropy", ops::SigmoidCrossEntropy{},
                                               as_expression(std::forward<L>(logits)),
                                               detail::as_target(std::forward<Target>(target)));
    return detail::reduce(elementwise_loss, reduction);
}

// Cross-entropy of softmax down each column of `logits` (one example per column)
// against one class index per column. Uses log-sum-exp with the column maximum
// subtracted, so any finite logits give a finite loss.
template <Operand L>
auto softmax_cross_entropy(L&& logits, std::span<const int> labels, Reduction reduction = Reduction::Mean) {
    auto z = evaluate(std::forward<L>(logits));
    using T = typename decltype(z)::Scalar;
    using Matrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>;
    const Index classes = z.rows(), examples = z.cols();
    if (static_cast<Index>(labels.size()) != examples)
        detail::throw_shape_error("softmax_cross_entropy", classes, examples, 1, static_cast<Index>(labels.size()),
                                  "one label per column of the logits");
    for (Index j = 0; j < examples; ++j)
        if (labels[j] < 0 || labels[j] >= classes)
            throw value_error("softmax_cross_entropy: label " + std::to_string(labels[j]) + " of column " +
                              std::to_string(j) + " is outside [0, " + std::to_string(classes) + ")");

    auto fresh = detail::new_value<T, 1, 1>(1, 1, z.requires_grad());
    const bool recording = fresh.adjoint != nullptr;
    // Kept for backward: the labels, and each column's maximum and log of the sum of
    // e^(z - max). Kept apart (not as their sum, the log-sum-exp) because the loss
    // log(sum) - (z_label - max) then cancels nothing: at logits of 1e4 in float,
    // (max + log(sum)) - z_label would round away 3 digits.
    int* kept_labels = recording ? fresh.tape->template allocate_values<int>(examples) : nullptr;
    T* column_max = recording ? fresh.tape->template allocate_values<T>(examples) : nullptr;
    T* log_sum = recording ? fresh.tape->template allocate_values<T>(examples) : nullptr;

    Eigen::Map<const Matrix> Z(z.value_data(), classes, examples);
    T total = 0;
    for (Index j = 0; j < examples; ++j) {
        const auto column = Z.col(j).array();
        const T max = column.maxCoeff();
        const T log_sum_shifted = std::log((column - max).exp().sum());
        total += log_sum_shifted - (column(labels[j]) - max);
        if (recording) {
            kept_labels[j] = labels[j];
            column_max[j] = max;
            log_sum[j] = log_sum_shifted;
        }
    }
    const T scale = reduction == Reduction::Mean ? T(1) / static_cast<T>(examples) : T(1);
    *fresh.value = scale * total;
    const auto describe = [classes, examples] {
        return "softmax_cross_entropy(Var " + to_string_shape(classes, examples) + ")";
    };
    detail::check_value(fresh.value, 1, 1, describe);

    return detail::finish_value(fresh, [z, kept_labels, column_max, log_sum, adjoint = fresh.adjoint, scale,
                                        classes, examples, describe] {
        Eigen::Map<const Matrix> Z(z.value_data(), classes, examples);
        Eigen::Map<Matrix> dZ(z.adjoint_data(), classes, examples);
        const T g = scale * *adjoint;
        // d/dz = softmax(z) - onehot(label)
        for (Index j = 0; j < examples; ++j) {
            dZ.col(j).array() += g * ((Z.col(j).array() - column_max[j]) - log_sum[j]).exp();
            dZ(kept_labels[j], j) -= g;
        }
        if (detail::detecting_anomalies())
            detail::check_finite(z.adjoint_data(), classes, examples, "backward",
                                 [&] { return "the gradient that " + describe() + " sends to its logits"; });
    });
}

// Labels as any Eigen integer vector.
template <Operand L, class Derived>
    requires std::is_same_v<typename Derived::Scalar, int>
auto softmax_cross_entropy(L&& logits, const Eigen::DenseBase<Derived>& labels, Reduction reduction = Reduction::Mean) {
    const Eigen::Matrix<int, Eigen::Dynamic, 1> contiguous = labels.derived().reshaped();
    return softmax_cross_entropy(std::forward<L>(logits), std::span<const int>(contiguous.data(), contiguous.size()),
                                 reduction);
}

}  // namespace tapestry
