#pragma once
// The class labels of a classification loss: one index per column of the scores,
// checked before anything is recorded; and the node such a loss makes.

#include <cstdint>
#include <span>
#include <string>
#include <type_traits>

#include "tapestry/core/eigen.hpp"
#include "tapestry/core/errors.hpp"
#include "tapestry/graph/evaluate.hpp"
#include "tapestry/graph/node.hpp"
#include "tapestry/ops/loss_reduction.hpp"
#include "tapestry/var.hpp"

namespace tapestry::detail {

[[noreturn, gnu::cold, gnu::noinline]] inline void throw_label_outside(const char* loss, std::span<const int> labels,
                                                                       Index classes) {
    for (std::size_t j = 0; j < labels.size(); ++j)
        if (labels[j] < 0 || labels[j] >= classes)
            throw index_error(std::string(loss) + ": label " + std::to_string(labels[j]) + " of column " +
                              std::to_string(j) + " is outside [0, " + std::to_string(classes) + ")");
    throw index_error(std::string(loss) + ": a label is outside [0, " + std::to_string(classes) + ")");
}

// Throws shape_error unless there is one label per column, index_error for a label
// outside [0, classes). The labels are tested without a branch per label (a loop the
// compiler vectorises: the loop that stopped at the first bad one was 2% of a small
// classifier's loss), and searched again only to name the first bad one.
inline void check_class_labels(const char* loss, std::span<const int> labels, Index classes, Index examples) {
    if (static_cast<Index>(labels.size()) != examples)
        throw_shape_error(loss, classes, examples, 1, static_cast<Index>(labels.size()),
                          "one label per column of the scores");
    // As unsigned, a negative label is larger than any count of classes.
    const auto bound = static_cast<std::uint64_t>(classes);
    bool all_within = true;
    for (const int label : labels) all_within &= static_cast<std::uint64_t>(static_cast<std::int64_t>(label)) < bound;
    if (!all_within) [[unlikely]]
        throw_label_outside(loss, labels, classes);
}

// Indices (class labels, embedding ids) given as any Eigen integer vector, laid out
// as the span that the losses and gather_columns read.
template <class Derived>
    requires std::is_same_v<typename Derived::Scalar, int>
Eigen::Matrix<int, Dynamic, 1> contiguous_indices(const Eigen::DenseBase<Derived>& indices) {
    return indices.derived().reshaped();
}

// The output's adjoint as each example's weight: a 1 x B row of per-example losses
// passes its own, a reduced loss its one value times the reduction's scale.
template <bool PerExample, class T>
T example_weight(const auto& dy, T scale, Index example) {
    if constexpr (PerExample)
        return dy(0, example);
    else
        return scale * dy(0, 0);
}

// A classification loss's node: Op<T, PerExample>{labels, scale} over the scores, after
// the labels are checked (before the scores are evaluated, so a throw records nothing).
// A 1 x B row of per-example losses, or one value scaled as `reduction` asks.
template <template <class, bool> class Op, bool PerExample, class Scores>
auto labelled_loss(const char* name, const Scores& scores, std::span<const int> labels, Reduction reduction) {
    using T = typename Scores::Scalar;
    check_class_labels(name, labels, scores.rows(), scores.cols());
    using Result = std::conditional_t<PerExample, Var<T, 1, Scores::Cols>, Var<T, 1, 1>>;
    return make_node<Result>(Op<T, PerExample>{labels, reduction_scale<T>(reduction, scores.cols())}, 1,
                             PerExample ? scores.cols() : 1, as_leaf(scores));
}

}  // namespace tapestry::detail
