#pragma once
// The Params of a ParamSet as one flat vector, as jacobian's columns and the directions
// of jvp, hvp and gnvp lay them out: the ParamSet's order, each Param column-major.

#include <cstddef>
#include <string>
#include <vector>

#include "tapestry/core/errors.hpp"
#include "tapestry/nn/param_set.hpp"

namespace tapestry::detail {

template <class T>
Index flat_size(const nn::ParamSet<T>& params) {
    Index size = 0;
    for (const auto& p : params) size += p.rows * p.cols;
    return size;
}

// Throws shape_error unless a direction has one element per Param element.
template <class T>
void check_direction(const char* function, const nn::ParamSet<T>& params, Index direction_size) {
    const Index size = flat_size(params);
    if (direction_size != size)
        throw shape_error(std::string(function) + ": the direction has " + std::to_string(direction_size) +
                          " elements, the Params " + std::to_string(size));
}

// The Params' gradients, one after the other.
template <class T>
Eigen::Matrix<T, Eigen::Dynamic, 1> gather_gradients(const nn::ParamSet<T>& params) {
    Eigen::Matrix<T, Eigen::Dynamic, 1> flat(flat_size(params));
    Index offset = 0;
    for (const auto& p : params) {
        flat.segment(offset, p.rows * p.cols) = p.grad().reshaped();
        offset += p.rows * p.cols;
    }
    return flat;
}

// Keeps the Params' gradients as they were when it was made, and puts them back when it
// goes, also when what ran in between threw: the functions that sweep backward to
// compute something else leave the user's gradients alone.
template <class T>
class KeptGradients {
public:
    explicit KeptGradients(const nn::ParamSet<T>& params) : params_(params) {
        kept_.reserve(params.size());
        for (const auto& p : params) kept_.emplace_back(p.grad());
    }
    KeptGradients(const KeptGradients&) = delete;
    KeptGradients& operator=(const KeptGradients&) = delete;
    ~KeptGradients() {
        for (std::size_t i = 0; i < kept_.size(); ++i) params_[i].grad() = kept_[i];
    }

private:
    const nn::ParamSet<T>& params_;
    std::vector<Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>> kept_;
};

}  // namespace tapestry::detail
