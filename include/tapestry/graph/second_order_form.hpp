#pragma once
// What a node's inputs become on a recording for second order (functional/hvp.hpp):
// elementwise chains recorded one operation per node instead of fused.
//
// Why: a node's second-order step (OpNode::backward_with_tangents) is a virtual function,
// so it is compiled for every node type a program records, used or not. Compiled for
// every fused chain, it made every program that includes tapestry half as slow again to
// compile. Compiled only for shallow inputs (one elementwise operation over stored
// values: UnaryExpr<Sigmoid, Var>, BinaryExpr<Add, Var, repeated Param>, ...) it exists
// once per operation and scalar type. On a second-order recording the node builder
// therefore stores each deeper operand first (second_order_form); on any other
// recording it costs one branch per node, and chains stay fused.

#include <type_traits>

#include "tapestry/expr/declarations.hpp"
#include "tapestry/graph/leaf.hpp"
#include "tapestry/graph/leaf_views.hpp"

namespace tapestry {

namespace detail {

// Forward mode and second order are compiled only into programs that ask for them, by
// defining TAPESTRY_FORWARD_MODE (jvp) or TAPESTRY_SECOND_ORDER (hvp, gnvp, hessian, and
// jvp too) for every file of the program, as Eigen's configuration macros are: each
// node's tangent step would otherwise make every program a fifth slower to compile, and
// its second-order step half as slow again (docs/performance.md), used or not. Without
// them, jvp, hvp and gnvp do not compile, with a message that names the macro.
#ifdef TAPESTRY_SECOND_ORDER
inline constexpr bool second_order_compiled = true;
#else
inline constexpr bool second_order_compiled = false;
#endif
#if defined(TAPESTRY_FORWARD_MODE) || defined(TAPESTRY_SECOND_ORDER)
inline constexpr bool forward_mode_compiled = true;
#else
inline constexpr bool forward_mode_compiled = false;
#endif

// For a static_assert that fires only where jvp, hvp or gnvp is used.
template <class T>
inline constexpr bool second_order_compiled_for = second_order_compiled;
template <class T>
inline constexpr bool forward_mode_compiled_for = forward_mode_compiled;

template <LazyExpression E>
ValueParts<typename E::Scalar> evaluate_parts(const E& e);  // graph/evaluate.hpp

// An operand read in place: a leaf, a view of leaves (a block, a concatenation), a
// constant fill, a leaf transposed or repeated.
template <class X>
inline constexpr bool stored_operand_v = is_leaf_v<X> || is_stored_leaves_view_v<X>;
template <class T, int R, int C>
inline constexpr bool stored_operand_v<FilledExpr<T, R, C>> = true;
template <class Inner>
inline constexpr bool stored_operand_v<TransposeExpr<Inner>> = is_leaf_v<Inner>;
template <class Inner, bool RR, bool RC, int R, int C>
inline constexpr bool stored_operand_v<BroadcastExpr<Inner, RR, RC, R, C>> = is_leaf_v<Inner>;

// A node input whose second-order step is compiled: a stored operand, or one elementwise
// operation over stored operands.
template <class X>
inline constexpr bool shallow_v = stored_operand_v<X>;
template <class Op, class Inner>
inline constexpr bool shallow_v<UnaryExpr<Op, Inner>> = stored_operand_v<Inner>;
template <class Op, class Left, class Right>
inline constexpr bool shallow_v<BinaryExpr<Op, Left, Right>> = stored_operand_v<Left> && stored_operand_v<Right>;
template <class Mask, class Left, class Right>
inline constexpr bool shallow_v<SelectExpr<Mask, Left, Right>> = stored_operand_v<Left> && stored_operand_v<Right>;

template <class X>
auto second_order_form(const X& x);

// An operand as a stored one: as it is, or its second-order form evaluated into a node.
template <class X>
auto stored_operand(const X& x) {
    if constexpr (stored_operand_v<X>)
        return x;
    else
        return VarLeaf<typename X::Scalar, X::Rows, X::Cols>(evaluate_parts(second_order_form(x)));
}

template <class X>
struct IsElementwise : std::false_type {};
template <class Op, class Inner>
struct IsElementwise<UnaryExpr<Op, Inner>> : std::true_type {};
template <class Op, class Left, class Right>
struct IsElementwise<BinaryExpr<Op, Left, Right>> : std::true_type {};
template <class Mask, class Left, class Right>
struct IsElementwise<SelectExpr<Mask, Left, Right>> : std::true_type {};

// A node input as a recording for second order takes it: shallow as it is; an elementwise
// chain with its operands stored first; anything else (a GEMM operand, a view without
// second-order rules) as it is.
template <class X>
auto second_order_form(const X& x) {
    if constexpr (shallow_v<X>) {
        return x;
    } else if constexpr (is_transpose_v<X>) {  // of a leaf, stored first
        using Inner = std::remove_cvref_t<decltype(x.inner())>;
        using Leaf = VarLeaf<typename Inner::Scalar, Inner::Rows, Inner::Cols>;
        return TransposeExpr<Leaf>(Leaf(evaluate_parts(second_order_form(x.inner()))));
    } else if constexpr (IsElementwise<X>::value) {
        return x.with_operands([](const auto& operand) { return stored_operand(operand); });
    } else {
        return x;
    }
}

// Is the second-order step of a node with this input compiled?
template <class X>
inline constexpr bool second_order_input_v = second_order_compiled && (shallow_v<X> || !LazyExpression<X>);

}  // namespace detail
}  // namespace tapestry
