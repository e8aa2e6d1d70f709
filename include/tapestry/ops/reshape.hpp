#pragma once
// reshape<R, C>(x), reshape(x, rows, cols) and flatten(x): the same elements in another
// shape, read in column-major order as Eigen's reshaped() reads them (flatten: all in one
// column). The sizes must agree: at compile time when every extent is fixed, else a
// shape_error naming both shapes, before anything is recorded.

#include <utility>

#include "tapestry/core/diagnostics.hpp"
#include "tapestry/core/errors.hpp"
#include "tapestry/graph/evaluate.hpp"
#include "tapestry/graph/node.hpp"
#include "tapestry/operand.hpp"

namespace tapestry {
namespace diagnostic {
template <class FromShape, class ToShape>
struct reshape_needs_shapes_with_the_same_number_of_elements;
}  // namespace diagnostic

namespace ops {

struct Reshape {
    static constexpr const char* name = "reshape";
    static constexpr bool linear = true;  // forward mode and second order: graph/leaf_views.hpp
    void forward(const auto& out, const auto& x) const { out.value() = x.array().reshaped(out.rows(), out.cols()); }
    void backward(const auto& dy, const auto&, const auto& x) const { x.backprop(dy.reshaped(x.rows(), x.cols())); }
};

}  // namespace ops

namespace detail {

template <int R, int C, Operand X>
auto reshape(X&& x, Index rows, Index cols) {
    const auto e = as_expression(std::forward<X>(x));
    using L = decltype(e);
    using T = typename L::Scalar;
    constexpr bool all_fixed = R != Dynamic && C != Dynamic && L::Rows != Dynamic && L::Cols != Dynamic;
    if constexpr (all_fixed && R * C != L::Rows * L::Cols) {
        diagnostic::report<
            diagnostic::reshape_needs_shapes_with_the_same_number_of_elements<Shape<L::Rows, L::Cols>, Shape<R, C>>>();
        return Var<T, R, C>();
    } else {
        const Index size = e.rows() * e.cols();  // rows * cols is compared without overflowing
        if (rows < 0 || cols < 0 || (rows == 0 ? size != 0 : (cols > size / rows || rows * cols != size)))
            throw_shape_error("reshape", e.rows(), e.cols(), rows, cols, "a reshape keeps the number of elements");
        return make_node<Var<T, R, C>>(ops::Reshape{}, rows, cols, as_leaf(e));
    }
}

}  // namespace detail

// x's elements as an R x C Var.
template <int R, int C, Operand X>
auto reshape(X&& x) {
    static_assert(R != Dynamic && C != Dynamic, "reshape<R, C>(x) takes fixed extents; use reshape(x, rows, cols)");
    return detail::reshape<R, C>(std::forward<X>(x), R, C);
}

// x's elements as a rows x cols Var.
template <Operand X>
auto reshape(X&& x, Index rows, Index cols) {
    return detail::reshape<Dynamic, Dynamic>(std::forward<X>(x), rows, cols);
}

// x's elements in one column.
template <Operand X>
auto flatten(X&& x) {
    using E = expression_t<X>;
    constexpr int size = E::Rows == Dynamic || E::Cols == Dynamic ? Dynamic : E::Rows * E::Cols;
    const auto e = as_expression(x);
    return detail::reshape<size, 1>(std::forward<X>(x), e.rows() * e.cols(), 1);
}

}  // namespace tapestry
