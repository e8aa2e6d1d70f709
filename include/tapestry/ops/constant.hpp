#pragma once
// constant(m): a leaf without gradient (the data, a target, anything the loss does not
// train), and shared_constant(m), one that belongs to no tape.

#include "tapestry/graph/node.hpp"
#include "tapestry/tape/recording.hpp"
#include "tapestry/var.hpp"

namespace tapestry {
namespace ops {

// A copy of an Eigen matrix or array expression; a node without inputs, so with no backward step.
template <class Derived>
struct CopyOf {
    const Derived* source;
    void forward(const auto& out) const { out.value() = source->array(); }
    [[gnu::cold]] std::string describe() const { return "constant " + to_string_shape(source->rows(), source->cols()); }
};

}  // namespace ops

// The matrix is copied (into the tape's arena when one is active), so a temporary is
// fine. Any Eigen matrix or array expression will do.
template <class Derived>
auto constant(const Eigen::DenseBase<Derived>& m) {
    using Result = Var<typename Derived::Scalar, Derived::RowsAtCompileTime, Derived::ColsAtCompileTime>;
    return detail::make_node<Result>(ops::CopyOf<Derived>{&m.derived()}, m.rows(), m.cols());
}

// A constant that belongs to no tape: it owns its copy of m, and every tape reads it in
// place. For data that many gradients read (a regression's design matrix, a fixed
// target): constant(m) under an active tape copies m into that tape on every call.
template <class Derived>
auto shared_constant(const Eigen::DenseBase<Derived>& m) {
    InferenceMode outside_any_tape;
    return constant(m);
}

}  // namespace tapestry
