#pragma once
// softmax_cross_entropy(logits, labels): the cross-entropy of softmax down each column
// of `logits` (one example per column) against one class index per column, as a 1x1
// Var, averaged over the examples by default (Reduction::Sum: summed; Reduction::None:
// a 1 x B row, one loss per example). Uses log-sum-exp with the column maximum
// subtracted, so any finite logits give a finite loss.

#include <span>
#include <string>
#include <type_traits>
#include <utility>

#include "tapestry/core/errors.hpp"
#include "tapestry/graph/evaluate.hpp"
#include "tapestry/graph/node.hpp"
#include "tapestry/kernels/scratch.hpp"
#include "tapestry/operand.hpp"
#include "tapestry/ops/class_labels.hpp"
#include "tapestry/ops/loss_reduction.hpp"

namespace tapestry {
namespace diagnostic {
template <class LabelType>
struct softmax_cross_entropy_needs_int_class_labels_not;
}  // namespace diagnostic

namespace ops {

template <class T, bool PerExample>
struct SoftmaxCrossEntropy {
    static constexpr const char* name = "softmax_cross_entropy";
    std::span<const int> labels;  // the caller's until forward keeps a copy for backward
    T scale;
    // Per column, for backward: the maximum and the log of the sum of e^(z - max). Kept
    // apart, not as their sum (the log-sum-exp), because the loss log(sum) - (z_label - max)
    // then cancels nothing: at logits of 1e4 in float, (max + log(sum)) - z_label would
    // round away 3 digits.
    T* column_max = nullptr;
    T* log_sum = nullptr;

    void forward(const auto& out, const auto& z) {
        const auto Z = z.array();
        const Index examples = z.cols();
        int* kept_labels = out.template keep<int>(examples);
        column_max = out.template keep<T>(examples);
        log_sum = out.template keep<T>(examples);
        T total = 0;
        for (Index j = 0; j < examples; ++j) {
            const auto column = Z.col(j);
            column_max[j] = column.maxCoeff();
            log_sum[j] = std::log((column - column_max[j]).exp().sum());
            const T loss = log_sum[j] - (column(labels[j]) - column_max[j]);
            if constexpr (PerExample)
                out.data()[j] = loss;
            else
                total += loss;
            kept_labels[j] = labels[j];
        }
        labels = {kept_labels, labels.size()};
        if constexpr (!PerExample) out.data()[0] = scale * total;
    }

    // d/dz = softmax(z) - onehot(label), per column, times the output's adjoint.
    template <class Z>
    void backward(const auto& dy, const auto&, const Z& z) const {
        const Index classes = z.rows(), examples = z.cols();
        detail::ScratchScope scratch;
        Eigen::Map<detail::KernelArray<T, Z::Rows, Z::Cols>> dz(scratch.take<T>(classes * examples), classes, examples);
        const auto values = z.array();
        for (Index j = 0; j < examples; ++j) {
            const T g = detail::example_weight<PerExample>(dy, scale, j);
            dz.col(j) = g * probabilities(values, j);
            dz(labels[j], j) -= g;
        }
        z.backprop(Eigen::Map<const detail::KernelArray<T, Z::Rows, Z::Cols>>(dz.data(), classes, examples));
    }

    // Forward mode: per example, sum(p z') - z'[label], with p = softmax(z).
    template <class Z>
    void tangent(const auto& out, const auto&, const Z& z) const {
        const auto values = z.array();
        const auto dz = z.tangent();
        T total = 0;
        for (Index j = 0; j < z.cols(); ++j) {
            const T t = (probabilities(values, j) * dz.col(j)).sum() - dz(labels[j], j);
            if constexpr (PerExample)
                out.data()[j] = t;
            else
                total += t;
        }
        if constexpr (!PerExample) out.data()[0] = scale * total;
    }

    // Second order: per example of weight w, z's adjoint w (p - onehot) has the tangent
    // w' (p - onehot) + w p', with p' = p (z' - sum(p z')).
    template <class Z>
    void backward_with_tangents(const auto& dy, const auto& dy_tangent, const auto&, const auto&, const Z& z) const {
        const Index classes = z.rows(), examples = z.cols();
        detail::ScratchScope scratch;
        auto dz = scratch.array<T, Z::Rows, Z::Cols>(classes, examples);
        auto dz_tangent = scratch.array<T, Z::Rows, Z::Cols>(classes, examples);
        const auto values = z.array();
        const auto z_tangent = z.tangent();
        for (Index j = 0; j < examples; ++j) {
            const T w = detail::example_weight<PerExample>(dy, scale, j);
            const T w_tangent = detail::example_weight<PerExample>(dy_tangent, scale, j);
            auto p = dz.col(j);
            p = probabilities(values, j);
            const T p_dot_tangent = (p * z_tangent.col(j)).sum();
            dz_tangent.col(j) = w_tangent * p + w * p * (z_tangent.col(j) - p_dot_tangent);
            dz_tangent(labels[j], j) -= w_tangent;
            p *= w;
            dz(labels[j], j) -= w;
        }
        z.backprop_with_tangents(dz, dz_tangent);
    }

private:
    // softmax of example j's logits, from what forward kept.
    auto probabilities(const auto& values, Index j) const {
        return ((values.col(j) - column_max[j]) - log_sum[j]).exp();
    }
};

}  // namespace ops

// Labels as a span of class indices, one per column of the logits.
template <Operand L>
auto softmax_cross_entropy(L&& logits, std::span<const int> labels, Reduction reduction = Reduction::Mean) {
    return detail::labelled_loss<ops::SoftmaxCrossEntropy, false>(
        "softmax_cross_entropy", as_expression(std::forward<L>(logits)), labels, reduction);
}

template <Operand L>
auto softmax_cross_entropy(L&& logits, std::span<const int> labels, NoReduction) {
    return detail::labelled_loss<ops::SoftmaxCrossEntropy, true>(
        "softmax_cross_entropy", as_expression(std::forward<L>(logits)), labels, Reduction::Sum);
}

// Labels as any Eigen integer vector.
template <Operand L, class Derived, class R = Reduction>
    requires std::is_same_v<typename Derived::Scalar, int>
auto softmax_cross_entropy(L&& logits, const Eigen::DenseBase<Derived>& labels, R reduction = Reduction::Mean) {
    const auto contiguous = detail::contiguous_indices(labels);
    return softmax_cross_entropy(std::forward<L>(logits), std::span<const int>(contiguous.data(), contiguous.size()),
                                 reduction);
}

}  // namespace tapestry
