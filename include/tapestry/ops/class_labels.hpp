#pragma once
// The class labels of a classification loss: one index per column of the scores,
// checked before anything is recorded, and kept on the tape for backward.

#include <span>
#include <string>
#include <type_traits>

#include "tapestry/core/eigen.hpp"
#include "tapestry/core/errors.hpp"

namespace tapestry::detail {

// Throws shape_error unless there is one label per column, index_error for a label
// outside [0, classes).
inline void check_class_labels(const char* loss, std::span<const int> labels, Index classes, Index examples) {
    if (static_cast<Index>(labels.size()) != examples)
        throw_shape_error(loss, classes, examples, 1, static_cast<Index>(labels.size()),
                          "one label per column of the scores");
    for (Index j = 0; j < examples; ++j)
        if (labels[j] < 0 || labels[j] >= classes)
            throw index_error(std::string(loss) + ": label " + std::to_string(labels[j]) + " of column " +
                              std::to_string(j) + " is outside [0, " + std::to_string(classes) + ")");
}

// Labels given as any Eigen integer vector, laid out as the span the losses read.
template <class Derived>
    requires std::is_same_v<typename Derived::Scalar, int>
Eigen::Matrix<int, Dynamic, 1> contiguous_labels(const Eigen::DenseBase<Derived>& labels) {
    return labels.derived().reshaped();
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

}  // namespace tapestry::detail
