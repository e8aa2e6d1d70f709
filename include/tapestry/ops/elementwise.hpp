#pragma once
// Building elementwise nodes: the compile-time and run-time shape checks, and the
// broadcast wrapping that lets binary Ops assume equal shapes. An elementwise Op is a
// struct with its forward and its derivative side by side (ops/activations.hpp):
//
//   unary:   Op::forward(x)                 -> Eigen array expression of f(x)
//            Op::backward(g, x, y)          -> g * f'(x), given y = f(x)
//   binary:  Op::forward(a, b)              -> f(a, b)
//            Op::backward_left(g, a, b)     -> g * df/da;  backward_right: g * df/db
//
// Nothing is computed here: the nodes are lazy (expr/unary.hpp, expr/binary.hpp) and a
// chain of them becomes one fused loop where it is evaluated.

#include <type_traits>
#include <utility>

#include "tapestry/core/diagnostics.hpp"
#include "tapestry/core/errors.hpp"
#include "tapestry/core/shape.hpp"
#include "tapestry/expr/binary.hpp"
#include "tapestry/expr/broadcast.hpp"
#include "tapestry/expr/unary.hpp"
#include "tapestry/graph/evaluate.hpp"
#include "tapestry/operand.hpp"

namespace tapestry::detail {

// A broadcast reads stored values: a computed column or row (small) is stored first.
template <bool RepeatRows, bool RepeatCols, int R, int C, class E>
auto repeat_if(E e, Index rows, Index cols) {
    if constexpr (!RepeatRows && !RepeatCols) {
        return e;
    } else {
        auto leaf = as_leaf(e);
        return BroadcastExpr<decltype(leaf), RepeatRows, RepeatCols, R, C>(std::move(leaf), rows, cols);
    }
}

// a (op) b, elementwise, with broadcasting of a compile-time Rx1 or 1xC operand.
template <class Op, LazyExpression A, LazyExpression B>
[[gnu::always_inline]] inline auto elementwise(const char* name, Op op, A a, B b) {
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
        auto left = repeat_if<Rule::left_repeats_rows, Rule::left_repeats_cols, Rule::rows, Rule::cols>(std::move(a),
                                                                                                        rows, cols);
        auto right = repeat_if<Rule::right_repeats_rows, Rule::right_repeats_cols, Rule::rows, Rule::cols>(std::move(b),
                                                                                                           rows, cols);
        return BinaryExpr<Op, decltype(left), decltype(right)>(op, std::move(left), std::move(right));
    }
}

template <class Op, Operand X>
[[gnu::always_inline]] inline auto unary(Op op, X&& x) {
    auto e = as_expression(std::forward<X>(x));
    return UnaryExpr<Op, decltype(e)>(op, std::move(e));
}

}  // namespace tapestry::detail
