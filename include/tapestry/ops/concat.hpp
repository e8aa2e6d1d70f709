#pragma once
// concat_columns(a, b) = [a b], the columns of b after those of a (two batches as one);
// concat_rows(a, b) = [a; b], the rows of b below those of a (two feature sets as one).
// Backward hands each operand its block of the adjoint.

#include "tapestry/core/diagnostics.hpp"
#include "tapestry/graph/node.hpp"
#include "tapestry/ops/elementwise.hpp"

namespace tapestry {
namespace diagnostic {
template <class LeftShape, class RightShape>
struct concat_columns_needs_operands_with_the_same_number_of_rows;
template <class TopShape, class BottomShape>
struct concat_rows_needs_operands_with_the_same_number_of_columns;
}  // namespace diagnostic

namespace shape_rules {
// Along the joined axis the extents add up; across it they must agree.
template <int Joined1, int Across1, int Joined2, int Across2>
struct Concat {
    static constexpr bool ok = agree(Across1, Across2);
    static constexpr int joined = fixed(Joined1) && fixed(Joined2) ? Joined1 + Joined2 : Dynamic;
    static constexpr int across = merge(Across1, Across2);
};
}  // namespace shape_rules

namespace detail {

template <bool SideBySide>
struct Concat {
    static constexpr const char* name = SideBySide ? "concat_columns" : "concat_rows";

    void forward(const auto& out, const auto& a, const auto& b) const {
        if constexpr (SideBySide) {
            out.value().leftCols(a.cols()) = a.array();
            out.value().rightCols(b.cols()) = b.array();
        } else {
            out.value().topRows(a.rows()) = a.array();
            out.value().bottomRows(b.rows()) = b.array();
        }
    }
    void backward(const auto& dy, const auto&, const auto& a, const auto& b) const {
        if constexpr (SideBySide) {
            if (a.needs_grad()) a.backprop(dy.leftCols(a.cols()));
            if (b.needs_grad()) b.backprop(dy.rightCols(b.cols()));
        } else {
            if (a.needs_grad()) a.backprop(dy.topRows(a.rows()));
            if (b.needs_grad()) b.backprop(dy.bottomRows(b.rows()));
        }
    }
};

}  // namespace detail

template <Operand A, Operand B>
auto concat_columns(A&& left, B&& right) {
    auto a = as_expression(std::forward<A>(left));
    auto b = as_expression(std::forward<B>(right));
    using EA = decltype(a);
    using EB = decltype(b);
    using Rule = shape_rules::Concat<EA::Cols, EA::Rows, EB::Cols, EB::Rows>;
    using Result = Var<typename EA::Scalar, Rule::across, Rule::joined>;
    if constexpr (!detail::same_scalar<EA, EB>) {
        detail::report_scalar_mismatch<EA, EB>();
        return Result();
    } else if constexpr (!Rule::ok) {
        diagnostic::report<diagnostic::concat_columns_needs_operands_with_the_same_number_of_rows<
            Shape<EA::Rows, EA::Cols>, Shape<EB::Rows, EB::Cols>>>();
        return Result();
    } else {
        if (a.rows() != b.rows())
            detail::throw_shape_error("concat_columns", a.rows(), a.cols(), b.rows(), b.cols(),
                                      "both need the same number of rows");
        return detail::make_node<Result>(detail::Concat<true>{}, a.rows(), a.cols() + b.cols(), a, b);
    }
}

template <Operand A, Operand B>
auto concat_rows(A&& top, B&& bottom) {
    auto a = as_expression(std::forward<A>(top));
    auto b = as_expression(std::forward<B>(bottom));
    using EA = decltype(a);
    using EB = decltype(b);
    using Rule = shape_rules::Concat<EA::Rows, EA::Cols, EB::Rows, EB::Cols>;
    using Result = Var<typename EA::Scalar, Rule::joined, Rule::across>;
    if constexpr (!detail::same_scalar<EA, EB>) {
        detail::report_scalar_mismatch<EA, EB>();
        return Result();
    } else if constexpr (!Rule::ok) {
        diagnostic::report<diagnostic::concat_rows_needs_operands_with_the_same_number_of_columns<
            Shape<EA::Rows, EA::Cols>, Shape<EB::Rows, EB::Cols>>>();
        return Result();
    } else {
        if (a.cols() != b.cols())
            detail::throw_shape_error("concat_rows", a.rows(), a.cols(), b.rows(), b.cols(),
                                      "both need the same number of columns");
        return detail::make_node<Result>(detail::Concat<false>{}, a.rows() + b.rows(), a.cols(), a, b);
    }
}

}  // namespace tapestry
