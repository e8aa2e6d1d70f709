#pragma once
// The Params of a ParamSet as one flat vector, as jacobian's columns and the directions
// of jvp, hvp and gnvp lay them out: the ParamSet's order, each Param column-major.

#include <string>

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

// Calls visit(param, offset, size) for each Param of the set, offset being where its
// elements begin in the flat layout.
template <class T, class Visit>
void for_each_segment(const nn::ParamSet<T>& params, Visit&& visit) {
    Index offset = 0;
    for (const auto& p : params) {
        visit(p, offset, p.rows * p.cols);
        offset += p.rows * p.cols;
    }
}

// The Params' values, one after the other, into `flat` (resized, which allocates only
// when its size changes).
template <class T>
void gather_values(const nn::ParamSet<T>& params, Eigen::Matrix<T, Eigen::Dynamic, 1>& flat) {
    flat.resize(flat_size(params));
    for_each_segment(params,
                     [&](const auto& p, Index offset, Index n) { flat.segment(offset, n) = p.value().reshaped(); });
}

// The Params' gradients, one after the other, into `flat` (resized likewise).
template <class T>
void gather_gradients(const nn::ParamSet<T>& params, Eigen::Matrix<T, Eigen::Dynamic, 1>& flat) {
    flat.resize(flat_size(params));
    for_each_segment(params,
                     [&](const auto& p, Index offset, Index n) { flat.segment(offset, n) = p.grad().reshaped(); });
}

template <class T>
Eigen::Matrix<T, Eigen::Dynamic, 1> gather_gradients(const nn::ParamSet<T>& params) {
    Eigen::Matrix<T, Eigen::Dynamic, 1> flat;
    gather_gradients(params, flat);
    return flat;
}

// Sets the Params' values from `flat`, laid out as gather_values's. A coefficient-wise
// expression such as `start + alpha * direction` is evaluated one Param's segment at a
// time, without a temporary (a product would be evaluated whole for each segment).
template <class T, class Flat>
void set_values(const nn::ParamSet<T>& params, const Eigen::MatrixBase<Flat>& flat) {
    for_each_segment(params,
                     [&](const auto& p, Index offset, Index n) { p.value().reshaped() = flat.segment(offset, n); });
}

// Keeps the Params' gradients as they were when it was made, in `storage` (resized,
// which allocates only when the Params' size changes), and puts them back when it goes,
// also when what ran in between threw: the functions that sweep backward to compute
// something else leave the user's gradients alone.
template <class T>
class KeptGradients {
public:
    KeptGradients(const nn::ParamSet<T>& params, Eigen::Matrix<T, Eigen::Dynamic, 1>& storage)
        : params_(params), kept_(storage) {
        gather_gradients(params, kept_);
    }
    KeptGradients(const KeptGradients&) = delete;
    KeptGradients& operator=(const KeptGradients&) = delete;
    ~KeptGradients() {
        for_each_segment(params_, [&](const auto& p, Index offset, Index n) {
            try {
                p.grad().reshaped() = kept_.segment(offset, n);
            } catch (const value_error&) {  // f resized or destroyed the Param: nothing to put back
            }
        });
    }

private:
    const nn::ParamSet<T>& params_;
    Eigen::Matrix<T, Eigen::Dynamic, 1>& kept_;
};

}  // namespace tapestry::detail
