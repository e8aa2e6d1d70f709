#pragma once
// Training one model on several threads. A Param's grad() is written by every
// backward pass that reaches it, so threads must not share Params: each thread
// trains a replica (its own Params, the same names and shapes), and between steps
//
//   copy_values(model, replica)        for each replica: the current weights
//   ... each thread: replica backward passes on its share of the batch ...
//   add_grads(replica, model)          for each replica, after the threads joined
//   optimizer.step()                   on the model's ParamSet, as with one thread
//
// With Reduction::Sum (or each share's mean weighted by its size) the summed replica
// gradients are the whole batch's gradient; only the order of the additions differs.
// nn::DataParallel (nn/data_parallel.hpp) is this loop, written once. Threads of your
// own should each hold a KernelsOnThisThread while they work, so that their products
// do not each start num_threads() more threads.

#include <string>

#include "tapestry/kernels/parallel.hpp"
#include "tapestry/nn/param_set.hpp"

namespace tapestry::detail {
template <class T>
void check_same_layout(const nn::ParamSet<T>& a, const nn::ParamSet<T>& b, const char* operation) {
    if (a.size() != b.size())
        throw value_error(std::string(operation) + ": the ParamSets hold " + std::to_string(a.size()) + " and " +
                          std::to_string(b.size()) + " Params");
    for (std::size_t i = 0; i < a.size(); ++i)
        if (a[i].name != b[i].name || a[i].rows != b[i].rows || a[i].cols != b[i].cols)
            throw value_error(std::string(operation) + ": Param " + std::to_string(i) + " is \"" + a[i].name + "\" " +
                              to_string_shape(a[i].rows, a[i].cols) + " in one and \"" + b[i].name + "\" " +
                              to_string_shape(b[i].rows, b[i].cols) + " in the other");
}
}  // namespace tapestry::detail

namespace tapestry::nn {

// to[i].value() = from[i].value() for every Param (same names and shapes, checked first).
template <class T>
void copy_values(const ParamSet<T>& from, const ParamSet<T>& to) {
    detail::check_same_layout(from, to, "copy_values");
    for (std::size_t i = 0; i < from.size(); ++i) detail::parallel_assign(to[i].value(), from[i].value());
}

// to[i].grad() += from[i].grad() for every Param (same names and shapes, checked first),
// on as many threads as pay: each element sums in the same order on any number.
template <class T>
void add_grads(const ParamSet<T>& from, const ParamSet<T>& to) {
    detail::check_same_layout(from, to, "add_grads");
    for (std::size_t i = 0; i < from.size(); ++i) detail::parallel_add(to[i].grad(), from[i].grad());
}

}  // namespace tapestry::nn
