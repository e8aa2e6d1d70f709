#pragma once
// softmax_cross_entropy(logits, labels): the cross-entropy of softmax down each column
// of `logits` (one example per column) against one class index per column, as a 1x1
// Var, averaged over the examples by default (Reduction::Sum: summed; Reduction::None:
// a 1 x B row, one loss per example). Uses log-sum-exp with the column maximum
// subtracted, so any finite logits give a finite loss.

#include <algorithm>
#include <span>
#include <string>
#include <type_traits>
#include <utility>

#include "tapestry/core/errors.hpp"
#include "tapestry/graph/evaluate.hpp"
#include "tapestry/graph/node.hpp"
#include "tapestry/kernels/column_softmax.hpp"
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
    // Kept by forward for backward: e^(z - max) per column and the inverse of each
    // column's sum, whose product is softmax(z). Forward has the exponentials anyway; taking
    // them again in backward would cost as much as forward did.
    T* exponentials = nullptr;
    T* inverse_sum = nullptr;

    void forward(const auto& out, const auto& z) {
        const auto Z = z.array();
        const Index classes = z.rows(), examples = z.cols();
        int* kept_labels = out.template keep<int>(examples);
        exponentials = out.template keep<T>(classes * examples);
        inverse_sum = out.template keep<T>(examples);
        std::copy(labels.begin(), labels.end(), kept_labels);
        labels = {kept_labels, labels.size()};

        detail::ScratchScope scratch;
        Line column_max(scratch.take<T>(examples), examples), sum(scratch.take<T>(examples), examples);
        Exponentials e(exponentials, classes, examples);
        detail::exponentials_of_columns(Z, e, column_max, sum);
        Line(inverse_sum, examples) = sum.inverse();
        // The loss per column is log(sum) - (z_label - max), with the maximum kept apart
        // from log(sum): at logits of 1e4 in float, (max + log(sum)) - z_label would round
        // away 3 digits.
        auto& log_sum = sum;
        log_sum = log_sum.log();
        T total = 0;
        for (Index j = 0; j < examples; ++j) {
            const T loss = log_sum(j) - (Z(labels[j], j) - column_max(j));
            if constexpr (PerExample)
                out.data()[j] = loss;
            else
                total += loss;
        }
        if constexpr (!PerExample) out.data()[0] = scale * total;
    }

    // d/dz = softmax(z) - onehot(label), per column, times the output's adjoint.
    template <class Z>
    void backward(const auto& dy, const auto&, const Z& z) const {
        const auto gradient = z.gradient_sink().whole();
        if (gradient.data == nullptr) return;
        const Index examples = z.cols();
        detail::ScratchScope scratch;
        T* minus_weights = scratch.take<T>(examples);
        for (Index j = 0; j < examples; ++j) minus_weights[j] = -detail::example_weight<PerExample>(dy, scale, j);
        detail::write_cross_entropy_gradient(gradient.data, gradient.overwrite, exponentials, inverse_sum,
                                             labels.data(), minus_weights, z.rows(), examples);
    }

    // Forward mode: per example, sum(p z') - z'[label], with p = softmax(z).
    template <class Z>
    void tangent(const auto& out, const auto&, const Z& z) const {
        const auto dz = z.tangent();
        T total = 0;
        for (Index j = 0; j < z.cols(); ++j) {
            const T t = (probabilities(z.rows(), j) * dz.col(j)).sum() - dz(labels[j], j);
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
        const auto z_tangent = z.tangent();
        for (Index j = 0; j < examples; ++j) {
            const T w = detail::example_weight<PerExample>(dy, scale, j);
            const T w_tangent = detail::example_weight<PerExample>(dy_tangent, scale, j);
            auto p = dz.col(j);
            p = probabilities(classes, j);
            const T p_dot_tangent = (p * z_tangent.col(j)).sum();
            dz_tangent.col(j) = w_tangent * p + w * p * (z_tangent.col(j) - p_dot_tangent);
            dz_tangent(labels[j], j) -= w_tangent;
            p *= w;
            dz(labels[j], j) -= w;
        }
        z.backprop_with_tangents(dz, dz_tangent);
    }

private:
    using Line = Eigen::Map<Eigen::Array<T, 1, Dynamic>>;
    using Exponentials = Eigen::Map<Eigen::Array<T, Dynamic, Dynamic>>;

    // softmax of example j's logits, from what forward kept.
    auto probabilities(Index classes, Index j) const {
        return Eigen::Map<const Eigen::Array<T, Dynamic, 1>>(exponentials + j * classes, classes) * inverse_sum[j];
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
