#pragma once
// Evaluation: an expression made into a value, as one fused Eigen loop and one node.
// Its backward step hands the stored adjoint (and the stored value, for ops whose
// derivative is cheaper in it, such as sigmoid) back through the expression to its
// leaves, recomputing the cheap intermediates on the way.

#include <string>
#include <type_traits>

#include "tapestry/graph/leaf.hpp"
#include "tapestry/graph/node.hpp"
#include "tapestry/kernels/parallel.hpp"

namespace tapestry::detail {

// The root of a fused elementwise chain, as a node.
struct FusedRoot {
    void forward(const auto& out, const auto& e) const { parallel_assign(out.value(), e.array()); }
    void backward(const auto& dy, const auto& y, const auto& e) const { e.backprop_given_value(dy, y); }
    void tangent(const auto& out, const auto& /*y*/, const auto& e) const
        requires requires { e.tangent(); }
    {
        parallel_assign(out.value(), e.tangent());
    }
    void backward_with_tangents(const auto& dy, const auto& dy_tangent, const auto& /*y*/, const auto& /*y_tangent*/,
                                const auto& e) const
        requires SecondOrder<std::remove_cvref_t<decltype(e)>>
    {
        e.backprop_with_tangents(dy, dy_tangent);
    }
    [[gnu::cold]] std::string describe(const auto& e) const { return e.describe(); }
};

// What a Var holding the value of `e` is made of. A Var read as a leaf is already a
// value: no copy, no node.
template <LazyExpression E>
ValueParts<typename E::Scalar> evaluate_parts(const E& e) {
    using T = typename E::Scalar;
    if constexpr (std::is_same_v<E, VarLeaf<T, E::Rows, E::Cols>>)
        return e.parts();
    else
        return make_node_parts<T, E::Rows, E::Cols>(FusedRoot{}, e.rows(), e.cols(), e);
}

// An operand whose values are stored: a leaf as it is, anything else evaluated once.
// For ops that read their operand's values more than once, or again in backward.
template <LazyExpression E>
auto as_leaf(const E& e) {
    if constexpr (is_leaf_v<E>)
        return e;
    else
        return VarLeaf<typename E::Scalar, E::Rows, E::Cols>(evaluate_parts(e));
}

}  // namespace tapestry::detail
