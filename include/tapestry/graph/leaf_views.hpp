#pragma once
// A stored input (a ParamLeaf or a VarLeaf) seen through other buffers, so that an op's
// own forward and backward code computes its derivatives (forward mode, second order)
// without a second copy of that code:
//
//   tangent_view(x)          reads x's tangent as its value, takes no gradient;
//   gradient_view(x)         is x, except that a Param held fixed takes no gradient;
//   adjoint_tangent_view(x)  reads x's value, and what is sent to it goes into x's
//                            adjoint's tangent (second order) instead of its adjoint.
//
// For an op whose Jacobian does not depend on its inputs (reshape, a block, dropout with
// its mask drawn, the max of a column with its position found: linear or piecewise
// linear), the adjoint's tangent then goes down exactly as the adjoint does:
// backward(dy, y, gradient_view(x)) and backward(dy_tangent, y, adjoint_tangent_view(x)).
// Such an op says so with `static constexpr bool piecewise_linear = true;`, and the node
// builder (graph/node.hpp) does the rest. An op whose forward is itself linear and keeps
// nothing (average pooling) says `linear = true`, and gets its tangent rule from its
// forward too: forward(tangent, tangent_view(x)).
//
// Views made of stored leaves (block, concat_rows, gather_columns: expressions that read
// their leaves in place) derive from StoredLeavesView and supply with_leaves(f), the same
// view over f(leaf) for each of its leaves; their tangent and second-order steps follow.

#include <string>
#include <type_traits>

#include "tapestry/graph/leaf.hpp"

namespace tapestry::detail {

template <class Leaf>
class LeafView : public ExpressionBase<LeafView<Leaf>> {
public:
    using Scalar = typename Leaf::Scalar;
    static constexpr int Rows = Leaf::Rows, Cols = Leaf::Cols;

    LeafView(const Leaf& leaf, const Scalar* value, GradientSink<Scalar> sink)
        : leaf_(&leaf), value_(value), sink_(sink) {}

    Index rows() const { return leaf_->rows(); }
    Index cols() const { return leaf_->cols(); }
    auto array() const { return Eigen::Map<const KernelArray<Scalar, Rows, Cols>>(value_, rows(), cols()); }
    const Scalar* value_data() const { return value_; }
    bool needs_grad() const { return sink_.wanted(); }
    void verify() const { leaf_->verify(); }

    template <class G>
    void backprop(const G& g) const {
        if (sink_.wanted())
            parallel_add(Eigen::Map<KernelArray<Scalar, Rows, Cols>>(sink_.memory_to_add_into(), rows(), cols()), g);
    }
    GradientSink<Scalar> gradient_sink() const { return sink_; }
    const Scalar* adjoint_data() const { return sink_.read(); }

    static const char* kind() { return Leaf::kind(); }
    [[gnu::cold]] std::string describe() const { return leaf_->describe(); }
    template <class F>
    void for_each_leaf(F&& f) const {
        if (needs_grad()) f(*this);
    }

private:
    const Leaf* leaf_;  // a view lives only as long as the step that made it
    const Scalar* value_;
    GradientSink<Scalar> sink_;
};

template <class Leaf>
LeafView<Leaf> tangent_view(const Leaf& leaf) {
    return {leaf, leaf.tangent_data(), GradientSink<typename Leaf::Scalar>::nowhere()};
}

template <class Leaf>
LeafView<Leaf> gradient_view(const Leaf& leaf) {
    using T = typename Leaf::Scalar;
    if constexpr (requires { leaf.held_fixed(); }) {
        if (leaf.held_fixed()) return {leaf, leaf.value_data(), GradientSink<T>::nowhere()};
    }
    return {leaf, leaf.value_data(), leaf.needs_grad() ? leaf.gradient_sink() : GradientSink<T>::nowhere()};
}

template <class Leaf>
LeafView<Leaf> adjoint_tangent_view(const Leaf& leaf) {
    using T = typename Leaf::Scalar;
    T* const adjoint_tangent = leaf.adjoint_tangent_data();  // nullptr: nothing to send to
    return {leaf, leaf.value_data(),
            adjoint_tangent != nullptr ? GradientSink<T>::into_buffer(adjoint_tangent) : GradientSink<T>::nowhere()};
}

// Is the op's forward a linear map of its inputs that keeps nothing (avg_pool2d,
// upsample_nearest)? Its tangent is then its forward applied to the inputs' tangents.
template <class Op>
concept LinearOp = requires { requires Op::linear; };

// Does the op say its Jacobian is constant where it is differentiable?
template <class Op>
concept PiecewiseLinearOp = LinearOp<Op> || requires { requires Op::piecewise_linear; };

// The tangent and second-order steps of an expression that reads stored leaves in place.
template <class Derived>
class StoredLeavesView {
public:
    // The same view over the leaves' tangents.
    auto tangent() const {
        return derived().with_leaves([](const auto& leaf) { return tangent_view(leaf); }).array();
    }
    bool has_tangent() const {
        bool any = false;
        derived().for_each_leaf([&](const auto& leaf) { any = any || leaf.has_tangent(); });
        return any;
    }
    // A view is linear in its leaves: g and its tangent go down the same way.
    template <class G, class Gt>
    void backprop_with_tangents(const G& g, const Gt& gt) const {
        derived().with_leaves([](const auto& leaf) { return gradient_view(leaf); }).backprop(g);
        derived().with_leaves([](const auto& leaf) { return adjoint_tangent_view(leaf); }).backprop(gt);
    }

private:
    const Derived& derived() const { return static_cast<const Derived&>(*this); }
};

template <class X>
inline constexpr bool is_stored_leaves_view_v = std::is_base_of_v<StoredLeavesView<X>, X>;

}  // namespace tapestry::detail
