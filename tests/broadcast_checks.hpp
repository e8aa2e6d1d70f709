// check_broadcast_shapes: op(M, v) where v (a column, a row or a 1x1) broadcasts over M,
// in fixed and Dynamic shapes (test_broadcast.cpp, test_broadcast_rows.cpp,
// test_broadcast_scalars.cpp).

#pragma once

#include <catch2/catch.hpp>

#include "helpers.hpp"

namespace test {

// op(M, v) where v broadcasts: its value must equal op(M, v repeated), and its
// gradient (summed over the repeated axis) must match finite differences.
template <int R, int C, int VR, int VC, class Op>
void check_broadcast(Op op, tapestry::Index rows, tapestry::Index cols) {
    using namespace tapestry;
    const Index vrows = VR == 1 ? 1 : rows, vcols = VC == 1 ? 1 : cols;
    // Both operands serve as a denominator (divide(M, v) and divide(v, M)).
    Param<double, R, C> M(random_away_from_zero(rows, cols));
    Param<double, VR, VC> v(random_away_from_zero(vrows, vcols));
    const Eigen::MatrixXd weights = random_matrix(rows, cols);

    const Eigen::MatrixXd repeated = v.value().replicate(rows / vrows, cols / vcols);
    Var<double, Dynamic, Dynamic> expected = op(M, constant(repeated));
    Var<double, Dynamic, Dynamic> actual = op(M, v);
    CHECK(actual.rows() == rows);
    CHECK(actual.cols() == cols);
    CHECK(actual.value().isApprox(expected.value(), 1e-14));

    CHECK(gradcheck([&] { return sum(hadamard(op(M, v), constant(weights))); }, M, v) < gradient_tolerance);
    CHECK(gradcheck([&] { return sum(hadamard(op(v, M), constant(weights))); }, M, v) < gradient_tolerance);
}

template <int VR, int VC, class Op>
void check_broadcast_shapes(Op op) {
    using tapestry::Dynamic;
    check_broadcast<3, 4, VR, VC>(op, 3, 4);
    check_broadcast<6, 5, VR, VC>(op, 6, 5);  // over 16 values: Dynamic in its kernel form
    check_broadcast<3, Dynamic, VR, VC>(op, 3, 6);
    check_broadcast<Dynamic, 5, VR, VC>(op, 2, 5);
    check_broadcast<Dynamic, Dynamic, VR, VC>(op, 4, 3);
}

// The four binary elementwise operations, as generic lambdas.
inline constexpr auto add = [](auto&& a, auto&& b) { return a + b; };
inline constexpr auto subtract = [](auto&& a, auto&& b) { return a - b; };
inline constexpr auto multiply = [](auto&& a, auto&& b) { return hadamard(a, b); };
inline constexpr auto quotient = [](auto&& a, auto&& b) { return divide(a, b); };

}  // namespace test
