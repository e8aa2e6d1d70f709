#pragma once
// The largest or smallest element of each column (col_max, col_min: 1 x C) or of each
// row (row_max, row_min: R x 1), and where it is (col_argmax ... row_argmin: integer
// vectors, no gradient). The gradient goes to the first extreme of each line, as in
// PyTorch; a line holding a NaN gives NaN, and its first NaN is the one chosen.

#include <cmath>
#include <string>
#include <type_traits>
#include <utility>

#include "tapestry/core/errors.hpp"
#include "tapestry/graph/evaluate.hpp"
#include "tapestry/graph/node.hpp"
#include "tapestry/operand.hpp"

namespace tapestry {
namespace detail {

// The position of the first largest (or smallest) element of a line, or of its first NaN.
template <bool Larger>
Index first_extreme(const auto& line) {
    Index best = 0;
    for (Index k = 0; k < line.size(); ++k) {
        if (std::isnan(line(k))) return k;
        if (Larger ? line(k) > line(best) : line(k) < line(best)) best = k;
    }
    return best;
}

// The first extreme's position in each column (AlongRows: in each row) of `values`.
template <bool AlongRows, bool Larger>
void find_extremes(const auto& values, auto&& positions) {
    const Index lines = AlongRows ? values.rows() : values.cols();
    for (Index k = 0; k < lines; ++k)
        positions(k) =
            static_cast<int>(AlongRows ? first_extreme<Larger>(values.row(k)) : first_extreme<Larger>(values.col(k)));
}

inline void check_lines_not_empty(const char* name, Index rows, Index cols, bool along_rows) {
    if (along_rows ? cols == 0 : rows == 0)
        throw value_error(std::string(name) + ": a " + to_string_shape(rows, cols) + " operand has empty " +
                          (along_rows ? "rows" : "columns") + ", which have no extreme");
}

}  // namespace detail

namespace ops {

template <class T, bool AlongRows, bool Larger>
struct ExtremeAlong {
    static constexpr const char* name = AlongRows ? (Larger ? "row_max" : "row_min") : (Larger ? "col_max" : "col_min");
    static constexpr bool piecewise_linear = true;  // second order: graph/leaf_views.hpp
    int* positions = nullptr;                       // of each line's extreme, kept for backward

    void forward(const auto& out, const auto& x) {
        const auto values = x.array();
        const Index lines = AlongRows ? values.rows() : values.cols();
        positions = out.template keep<int>(lines);
        detail::find_extremes<AlongRows, Larger>(values, Eigen::Map<Eigen::ArrayXi>(positions, lines));
        for (Index k = 0; k < lines; ++k) out.data()[k] = AlongRows ? values(k, positions[k]) : values(positions[k], k);
    }

    template <class X>
    void backward(const auto& dy, const auto&, const X& x) const {
        const auto gradient = [&](Index i, Index j) {
            if constexpr (AlongRows)
                return j == positions[i] ? dy(i, 0) : T(0);
            else
                return i == positions[j] ? dy(0, j) : T(0);
        };
        x.backprop(detail::KernelArray<T, X::Rows, X::Cols>::NullaryExpr(x.rows(), x.cols(), gradient));
    }
    // Forward mode: the tangent of each line's extreme, where the value was taken.
    void tangent(const auto& out, const auto&, const auto& x) const {
        const auto dx = x.tangent();
        const Index lines = AlongRows ? dx.rows() : dx.cols();
        for (Index k = 0; k < lines; ++k) out.data()[k] = AlongRows ? dx(k, positions[k]) : dx(positions[k], k);
    }
};

template <bool AlongRows, bool Larger, Operand X>
auto extreme_along(X&& x) {
    const auto e = as_expression(std::forward<X>(x));
    using L = decltype(e);
    using T = typename L::Scalar;
    using Op = ExtremeAlong<T, AlongRows, Larger>;
    detail::check_lines_not_empty(Op::name, e.rows(), e.cols(), AlongRows);
    using Result = std::conditional_t<AlongRows, Var<T, L::Rows, 1>, Var<T, 1, L::Cols>>;
    return detail::make_node<Result>(Op{}, AlongRows ? e.rows() : 1, AlongRows ? 1 : e.cols(), detail::as_leaf(e));
}

template <bool AlongRows, bool Larger, Operand X>
auto arg_extreme_along(X&& x, const char* name) {
    const auto e = as_expression(std::forward<X>(x));
    using E = decltype(e);
    e.verify();
    detail::check_lines_not_empty(name, e.rows(), e.cols(), AlongRows);
    using Positions = std::conditional_t<AlongRows, Eigen::Matrix<int, E::Rows, 1>, Eigen::Matrix<int, 1, E::Cols>>;
    Positions positions(AlongRows ? e.rows() : 1, AlongRows ? 1 : e.cols());
    detail::find_extremes<AlongRows, Larger>(e.array(), positions);
    return positions;
}

}  // namespace ops

// The largest element of each column: 1 x C.
template <Operand X>
auto col_max(X&& x) {
    return ops::extreme_along<false, true>(std::forward<X>(x));
}
// The smallest element of each column: 1 x C.
template <Operand X>
auto col_min(X&& x) {
    return ops::extreme_along<false, false>(std::forward<X>(x));
}
// The largest element of each row: R x 1.
template <Operand X>
auto row_max(X&& x) {
    return ops::extreme_along<true, true>(std::forward<X>(x));
}
// The smallest element of each row: R x 1.
template <Operand X>
auto row_min(X&& x) {
    return ops::extreme_along<true, false>(std::forward<X>(x));
}

// The row of each column's first largest element (a predicted class): 1 x C integers.
template <Operand X>
auto col_argmax(X&& x) {
    return ops::arg_extreme_along<false, true>(std::forward<X>(x), "col_argmax");
}
template <Operand X>
auto col_argmin(X&& x) {
    return ops::arg_extreme_along<false, false>(std::forward<X>(x), "col_argmin");
}
// The column of each row's first largest element: R x 1 integers.
template <Operand X>
auto row_argmax(X&& x) {
    return ops::arg_extreme_along<true, true>(std::forward<X>(x), "row_argmax");
}
template <Operand X>
auto row_argmin(X&& x) {
    return ops::arg_extreme_along<true, false>(std::forward<X>(x), "row_argmin");
}

}  // namespace tapestry
