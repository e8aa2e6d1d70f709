#pragma once
// Building elementwise nodes: the compile-time and run-time shape checks, and the
// broadcast wrapping that lets binary Ops assume equal shapes.

#include "tapestry/expr/binary.hpp"
#include "tapestry/expr/broadcast.hpp"
#include "tapestry/expr/materialize.hpp"
#include "tapestry/expr/unary.hpp"

namespace tapestry::detail {

template <class A, class B>
inline constexpr bool same_scalar = std::is_same_v<typename A::Scalar, typename B::Scalar>;

template <class A, class B>
constexpr void report_scalar_mismatch() {
    diagnostic::report<diagnostic::operands_have_different_scalar_types<typename A::Scalar, typename B::Scalar>>();
}

template <bool RepeatRows, bool RepeatCols, int R, int C, class E>
auto repeat_if(E e, Index rows, Index cols) {
    if constexpr (!RepeatRows && !RepeatCols) {
        return e;
    } else if constexpr (is_leaf_v<E>) {
        return BroadcastExpr<E, RepeatRows, RepeatCols, R, C>(std::move(e), rows, cols);
    } else {
        // A broadcast reads stored values; a computed column or row (small) is stored first.
        using Leaf = VarLeaf<typename E::Scalar, E::Rows, E::Cols>;
        return BroadcastExpr<Leaf, RepeatRows, RepeatCols, R, C>(Leaf(evaluate(e)), rows, cols);
    }
}

// a (op) b, elementwise, with broadcasting of a compile-time Rx1 or 1xC operand.
template <class Op, LazyExpression A, LazyExpression B>
auto elementwise(const char* name, Op op, A a, B b) {
    using Rule = shape_rules::Elementwise<A::Rows, A::Cols, B::Rows, B::Cols>;
    if constexpr (!same_scalar<A, B>) {
        report_scalar_mismatch<A, B>();
        return a;
    } else if constexpr (!Rule::ok) {
        diagnostic::report<diagnostic::elementwise_operation_on_incompatible_shapes<Shape<A::Rows, A::Cols>,
                                                                                     Shape<B::Rows, B::Cols>>>();
        return a;
    } else {
        constexpr bool rows_repeat = Rule::left_repeats_rows || Rule::right_repeats_rows;
        constexpr bool cols_repeat = Rule::left_repeats_cols || Rule::right_repeats_cols;
        if ((!rows_repeat && a.rows() != b.rows()) || (!cols_repeat && a.cols() != b.cols()))
            throw_shape_error(name, a.rows(), a.cols(), b.rows(), b.cols(),
                              "elementwise operands need equal shapes, or a compile-time Rx1 or 1xC "
                              "operand to broadcast");
        const Index rows = Rule::left_repeats_rows ? b.rows() : a.rows();
        const Index cols = Rule::left_repeats_cols ? b.cols() : a.cols();
        auto left = repeat_if<Rule::left_repeats_rows, Rule::left_repeats_cols, Rule::rows, Rule::cols>(
            std::move(a), rows, cols);
        auto right = repeat_if<Rule::right_repeats_rows, Rule::right_repeats_cols, Rule::rows, Rule::cols>(
            std::move(b), rows, cols);
        return BinaryExpr<Op, decltype(left), decltype(right)>(op, std::move(left), std::move(right));
    }
}

// Like elementwise(), but the shapes must be equal: no broadcasting (losses).
template <class Op, LazyExpression A, LazyExpression B>
auto same_shape(const char* name, Op op, A a, B b) {
    if constexpr (!same_scalar<A, B>) {
        report_scalar_mismatch<A, B>();
        return a;
    } else if constexpr (!shape_rules::agree(A::Rows, B::Rows) || !shape_rules::agree(A::Cols, B::Cols)) {
        diagnostic::report<diagnostic::loss_needs_prediction_and_target_of_the_same_shape<Shape<A::Rows, A::Cols>,
                                                                                           Shape<B::Rows, B::Cols>>>();
        return a;
    } else {
        if (a.rows() != b.rows() || a.cols() != b.cols())
            throw_shape_error(name, a.rows(), a.cols(), b.rows(), b.cols(), "prediction and target need equal shapes");
        return BinaryExpr<Op, A, B>(op, std::move(a), std::move(b));
    }
}

template <class Op, Operand X>
auto unary(Op op, X&& x) {
    auto e = as_expression(std::forward<X>(x));
    return UnaryExpr<Op, decltype(e)>(op, std::move(e));
}

}  // namespace tapestry::detail
