#pragma once
// concat_columns(a, b) = [a b], the columns of b after those of a (two batches as one);
// concat_rows(a, b) = [a; b], the rows of b below those of a (two feature sets as one).
// Backward hands each operand its block of the adjoint.

#include <type_traits>
#include <utility>

#include "tapestry/core/diagnostics.hpp"
#include "tapestry/core/errors.hpp"
#include "tapestry/graph/node.hpp"
#include "tapestry/operand.hpp"

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

namespace ops {

// The node of concat_columns (SideBySide) and concat_rows.
template <bool SideBySide>
struct Join {
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

}  // namespace ops

namespace detail {

template <bool SideBySide, class A, class B>
auto concat(A a, B b) {
    // Extents along the joined axis (columns side by side) and across it.
    constexpr int joined_a = SideBySide ? A::Cols : A::Rows, across_a = SideBySide ? A::Rows : A::Cols;
    constexpr int joined_b = SideBySide ? B::Cols : B::Rows, across_b = SideBySide ? B::Rows : B::Cols;
    using Rule = shape_rules::Concat<joined_a, across_a, joined_b, across_b>;
    using Result = std::conditional_t<SideBySide, Var<typename A::Scalar, Rule::across, Rule::joined>,
                                      Var<typename A::Scalar, Rule::joined, Rule::across>>;
    using Misuse = std::conditional_t<SideBySide,
                                      diagnostic::concat_columns_needs_operands_with_the_same_number_of_rows<
                                          Shape<A::Rows, A::Cols>, Shape<B::Rows, B::Cols>>,
                                      diagnostic::concat_rows_needs_operands_with_the_same_number_of_columns<
                                          Shape<A::Rows, A::Cols>, Shape<B::Rows, B::Cols>>>;
    if constexpr (!same_scalar<A, B>) {
        report_scalar_mismatch<A, B>();
        return Result();
    } else if constexpr (!Rule::ok) {
        diagnostic::report<Misuse>();
        return Result();
    } else {
        if (SideBySide ? a.rows() != b.rows() : a.cols() != b.cols())
            throw_shape_error(
                ops::Join<SideBySide>::name, a.rows(), a.cols(), b.rows(), b.cols(),
                SideBySide ? "both need the same number of rows" : "both need the same number of columns");
        const Index rows = SideBySide ? a.rows() : a.rows() + b.rows();
        const Index cols = SideBySide ? a.cols() + b.cols() : a.cols();
        return make_node<Result>(ops::Join<SideBySide>{}, rows, cols, a, b);
    }
}

}  // namespace detail

template <Operand A, Operand B>
auto concat_columns(A&& left, B&& right) {
    return detail::concat<true>(as_expression(std::forward<A>(left)), as_expression(std::forward<B>(right)));
}

template <Operand A, Operand B>
auto concat_rows(A&& top, B&& bottom) {
    return detail::concat<false>(as_expression(std::forward<A>(top)), as_expression(std::forward<B>(bottom)));
}

}  // namespace tapestry
