#pragma once
// Blocks of a Var, a Param or an expression: block<R, C>(x, i, j) with extents fixed in
// the type, block(x, i, j, rows, cols) with run-time ones, and the shorthands row(x, i),
// col(x, j), middle_rows(x, i, n), middle_cols(x, j, n). A block is a view, usable in any
// expression: what reads it reads the operand in place (an expression operand is
// evaluated once first), and its gradient is added into just that block of the operand's.
// A block that does not fit throws index_error naming both shapes, before anything is
// recorded; a fixed-size block larger than a fixed-size operand does not compile.

#include <string>
#include <utility>

#include "tapestry/core/diagnostics.hpp"
#include "tapestry/core/errors.hpp"
#include "tapestry/expr/expression.hpp"
#include "tapestry/graph/evaluate.hpp"
#include "tapestry/graph/leaf_views.hpp"
#include "tapestry/operand.hpp"

namespace tapestry {
namespace diagnostic {
template <class BlockShape, class OperandShape>
struct block_is_larger_than_its_operand;
}  // namespace diagnostic

// A block of a stored leaf (a Param's or a Var's), read in place with the leaf's stride.
template <class Leaf, int BR, int BC>
class BlockExpr : public ExpressionBase<BlockExpr<Leaf, BR, BC>>,
                  public detail::StoredLeavesView<BlockExpr<Leaf, BR, BC>> {
public:
    using Scalar = typename Leaf::Scalar;
    static constexpr int Rows = BR, Cols = BC;
    static constexpr const char* op_name = "block";  // names a value stored from it

    BlockExpr(Leaf leaf, Index i, Index j, Index rows, Index cols)
        : leaf_(std::move(leaf)), first_row_(i), first_col_(j), rows_(rows), cols_(cols) {}

    Index rows() const { return rows_; }
    Index cols() const { return cols_; }
    auto array() const { return leaf_.array().block(first_row_, first_col_, rows_, cols_); }
    bool needs_grad() const { return leaf_.needs_grad(); }
    void verify() const { leaf_.verify(); }

    template <class G>
    void backprop(const G& g) const {
        if (!leaf_.needs_grad()) return;
        Eigen::Map<detail::KernelArray<Scalar, Leaf::Rows, Leaf::Cols>> gradient(
            leaf_.gradient_sink().memory_to_add_into(), leaf_.rows(), leaf_.cols());
        gradient.block(first_row_, first_col_, rows_, cols_) += g;
    }

    // The same block of f(leaf) (graph/leaf_views.hpp).
    template <class F>
    auto with_leaves(F&& f) const {
        auto leaf = f(leaf_);
        return BlockExpr<decltype(leaf), BR, BC>(std::move(leaf), first_row_, first_col_, rows_, cols_);
    }

    auto kernel_form() const {
        constexpr int R = detail::kernel_form_extent(BR, BC, BR), C = detail::kernel_form_extent(BR, BC, BC);
        return BlockExpr<decltype(leaf_.kernel_form()), R, C>(leaf_.kernel_form(), first_row_, first_col_, rows_,
                                                              cols_);
    }
    [[gnu::cold]] std::string describe() const {
        return "block at (" + std::to_string(first_row_) + ", " + std::to_string(first_col_) + ") of " +
               leaf_.describe();
    }
    template <class F>
    void for_each_leaf(F&& f) const {
        leaf_.for_each_leaf(f);
    }

private:
    Leaf leaf_;
    Index first_row_, first_col_, rows_, cols_;
};

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
        auto leaf = as_leaf(e);
        return BlockExpr<decltype(leaf), BR, BC>(std::move(leaf), i, j, rows, cols);
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

// Row i (1 x C).
template <Operand X>
auto row(X&& x, Index i) {
    const Index cols = as_expression(x).cols();
    return detail::take_block<1, expression_t<X>::Cols>(std::forward<X>(x), i, 0, 1, cols);
}

// Column j (R x 1).
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
