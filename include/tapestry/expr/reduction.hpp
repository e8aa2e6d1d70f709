#pragma once
// Reductions consume an expression directly: sum(square(a - b)) is one fused loop
// forward and one backward, with no intermediate stored.

#include "tapestry/expr/materialize.hpp"

namespace tapestry::detail {

// scale * (sum of all elements), as a 1x1 Var.
template <LazyExpression E>
Var<typename E::Scalar, 1, 1> scaled_sum(const E& e, typename E::Scalar scale) {
    using T = typename E::Scalar;
    e.verify();
    auto fresh = new_value<T, 1, 1>(1, 1, e.needs_grad());
    // Column by column: a total redux over an expression with a broadcast (which has
    // no linear access) would run scalar code; each column's sum vectorises.
    *fresh.value = scale * e.array().colwise().sum().sum();
    const auto describe = [e] { return "sum(" + e.describe() + ")"; };
    check_value(fresh.value, 1, 1, describe);
    return finish_value(fresh, [e, adjoint = fresh.adjoint, scale, describe] {
        e.backprop(Eigen::Array<T, E::Rows, E::Cols>::Constant(e.rows(), e.cols(), scale * *adjoint));
        check_gradients(describe, e);
    });
}

// Sums along each row (Rx1) or each column (1xC).
template <bool AlongRows, LazyExpression E>
auto partial_sum(const E& e) {
    using T = typename E::Scalar;
    constexpr int R = AlongRows ? E::Rows : 1;
    constexpr int C = AlongRows ? 1 : E::Cols;
    e.verify();
    const Index rows = e.rows(), cols = e.cols();
    const Index out_rows = AlongRows ? rows : 1, out_cols = AlongRows ? 1 : cols;
    auto fresh = new_value<T, R, C>(out_rows, out_cols, e.needs_grad());
    Eigen::Map<Eigen::Array<T, R, C>> out(fresh.value, out_rows, out_cols);
    if constexpr (AlongRows)
        out = e.array().rowwise().sum();
    else
        out = e.array().colwise().sum();
    const auto describe = [e] { return (AlongRows ? "row_sum(" : "col_sum(") + e.describe() + ")"; };
    check_value(fresh.value, out_rows, out_cols, describe);
    return finish_value(fresh, [e, adjoint = fresh.adjoint, describe] {
        const Index rows = e.rows(), cols = e.cols();
        if constexpr (AlongRows)
            e.backprop(Eigen::Map<const Eigen::Array<T, R, C>>(adjoint, rows, 1).rowwise().replicate(cols));
        else
            e.backprop(Eigen::Map<const Eigen::Array<T, R, C>>(adjoint, 1, cols).colwise().replicate(rows));
        check_gradients(describe, e);
    });
}

}  // namespace tapestry::detail
