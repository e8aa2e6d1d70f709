#pragma once
// Blocks of a Var, a Param or an expression: block<R, C>(x, i, j) with extents fixed in
// the type, block(x, i, j, rows, cols) with run-time ones, and the shorthands row(x, i),
// col(x, j), middle_rows(x, i, n), middle_cols(x, j, n). The block is a new value usable
// in any expression; its gradient is added into just that block of the operand's.
// A block that does not fit throws index_error naming both shapes, before anything is
// recorded; a fixed-size block larger than a fixed-size operand does not compile.

#include <string>
#include <utility>

#include "tapestry/core/diagnostics.hpp"
#include "tapestry/core/errors.hpp"
#include "tapestry/graph/evaluate.hpp"
#include "tapestry/graph/node.hpp"
#include "tapestry/operand.hpp"

namespace tapestry {
namespace diagnostic {
template <class BlockShape, class OperandShape>
struct block_is_larger_than_its_operand;
}  // namespace diagnostic

namespace ops {

struct Block {
    static constexpr const char* name = "block";
    Index first_row, first_col;

    void forward(const auto& out, const auto& x) const {
        out.value() = x.array().block(first_row, first_col, out.rows(), out.cols());
    }
    template <class X>
    void backward(const auto& dy, const auto&, const X& x) const {
        if (!x.needs_grad()) return;
        using T = typename X::Scalar;
        Eigen::Map<detail::KernelArray<T, X::Rows, X::Cols>> gradient(x.gradient_sink().memory_to_add_into(), x.rows(),
                                                                      x.cols());
        gradient.block(first_row, first_col, dy.rows(), dy.cols()) += dy;
    }
    std::string describe(const auto& x) const {
        return "block at (" + std::to_string(first_row) + ", " + std::to_string(first_col) + ") of " + x.describe();
    }
};

}  // namespace ops

namespace detail {

[[noreturn, gnu::cold]] inline void throw_block_error(Index i, Index j, Index rows, Index cols, Index operand_rows,
                                                      Index operand_cols) {
    throw index_error("block: a " + to_string_shape(rows, cols) + " block at (" + std::to_string(i) + ", " +
                      std::to_string(j) + ") does not fit inside a " + to_string_shape(operand_rows, operand_cols) +
                      " operand");
}

// The block of static shape BR x BC (either may be Dynamic) and run-time shape rows x cols.
template <int BR, int BC, Operand X>
auto take_block(X&& x, Index i, Index j, Index rows, Index cols) {
    const auto e = as_expression(std::forward<X>(x));
    using L = decltype(e);
    using T = typename L::Scalar;
    constexpr bool fits = (BR == Dynamic || L::Rows == Dynamic || BR <= L::Rows) &&
                          (BC == Dynamic || L::Cols == Dynamic || BC <= L::Cols);
    if constexpr (!fits) {
        diagnostic::report<diagnostic::block_is_larger_than_its_operand<Shape<BR, BC>, Shape<L::Rows, L::Cols>>>();
        return Var<T, BR, BC>();
    } else {
        // Checked before the operand is evaluated (and recorded); written so as not to overflow.
        if (i < 0 || j < 0 || rows < 0 || cols < 0 || i > e.rows() || j > e.cols() || rows > e.rows() - i ||
            cols > e.cols() - j)
            throw_block_error(i, j, rows, cols, e.rows(), e.cols());
        return make_node<Var<T, BR, BC>>(ops::Block{i, j}, rows, cols, as_leaf(e));
    }
}

}  // namespace detail

// The BR x BC block whose top-left element is x(i, j).
template <int BR, int BC, Operand X>
auto block(X&& x, Index i, Index j) {
    return detail::take_block<BR, BC>(std::forward<X>(x), i, j, BR, BC);
}

// The rows x cols block whose top-left element is x(i, j).
template <Operand X>
auto block(X&& x, Index i, Index j, Index rows, Index cols) {
    return detail::take_block<Dynamic, Dynamic>(std::forward<X>(x), i, j, rows, cols);
}

// Row i, as a 1 x C Var.
template <Operand X>
auto row(X&& x, Index i) {
    const Index cols = as_expression(x).cols();
    return detail::take_block<1, expression_t<X>::Cols>(std::forward<X>(x), i, 0, 1, cols);
}

// Column j, as an R x 1 Var.
template <Operand X>
auto col(X&& x, Index j) {
    const Index rows = as_expression(x).rows();
    return detail::take_block<expression_t<X>::Rows, 1>(std::forward<X>(x), 0, j, rows, 1);
}

// Rows i to i + n - 1.
template <Operand X>
auto middle_rows(X&& x, Index i, Index n) {
    const Index cols = as_expression(x).cols();
    return detail::take_block<Dynamic, expression_t<X>::Cols>(std::forward<X>(x), i, 0, n, cols);
}

// Columns j to j + n - 1 (a slice of the batch).
template <Operand X>
auto middle_cols(X&& x, Index j, Index n) {
    const Index rows = as_expression(x).rows();
    return detail::take_block<expression_t<X>::Rows, Dynamic>(std::forward<X>(x), 0, j, rows, n);
}

}  // namespace tapestry
