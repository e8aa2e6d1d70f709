// Broadcasting a column Rx1 beside a matrix, in every binary elementwise operation:
// values against the repeated operand and gradients against finite differences; a fixed
// bias over a Dynamic batch, a computed column, an outer sum, maximum. A row:
// test_broadcast_rows.cpp; a 1x1: test_broadcast_scalars.cpp (one binary, three files:
// tests/CMakeLists.txt says why).

#include <catch2/catch.hpp>

#include "broadcast_checks.hpp"
#include "helpers.hpp"

using namespace tapestry;
using test::check_broadcast_shapes;
using test::gradient_tolerance;
using test::random_matrix;
using test::random_param;
using test::reference_sigmoid;

TEST_CASE("a bias column Rx1 broadcasts over the columns of a batch, and its gradient sums over them") {
    check_broadcast_shapes<Dynamic, 1>(test::add);
    check_broadcast_shapes<Dynamic, 1>(test::subtract);
    check_broadcast_shapes<Dynamic, 1>(test::multiply);
    check_broadcast_shapes<Dynamic, 1>(test::quotient);
}

TEST_CASE("a column broadcasts as a fixed bias, as a computed column, and with a row into an outer sum") {
    SECTION("a fixed bias column over a Dynamic batch, as in W * x + b") {
        Param<double, 3, 1> b(random_matrix(3, 1));
        auto M = random_param<3, Dynamic>(3, 7);
        CHECK(gradcheck([&] { return sum(square(sigmoid(M + b))); }, M, b) < gradient_tolerance);
    }
    SECTION("a computed column (not a leaf) broadcasts too") {
        auto M = random_param<Dynamic, Dynamic>(3, 5);
        auto col = random_param<Dynamic, 1>(3, 1);
        Var<double, Dynamic, Dynamic> y = M + sigmoid(col);
        const Eigen::MatrixXd expected = M.value().colwise() + reference_sigmoid(col.value()).col(0);
        CHECK(y.value().isApprox(expected, 1e-14));
        CHECK(gradcheck([&] { return sum(square(hadamard(M, tanh(col * 2.0)) - sigmoid(col))); }, M, col) <
              gradient_tolerance);
    }
    SECTION("a column and a row make an outer sum") {
        auto col = random_param<Dynamic, 1>(3, 1);
        auto row = random_param<1, Dynamic>(1, 4);
        Var<double, Dynamic, Dynamic> outer = col + row;
        CHECK(outer.rows() == 3);
        CHECK(outer.cols() == 4);
        CHECK(outer.value()(2, 1) == Approx(col.value()(2) + row.value()(1)));
        CHECK(gradcheck([&] { return sum(square(col + row)); }, col, row) < gradient_tolerance);
    }
}

TEST_CASE("maximum broadcasts a column over the columns of a matrix, as + does") {
    auto A = random_param<3, Dynamic>(3, 4);
    auto b = random_param<3, 1>(3, 1);
    const Eigen::MatrixXd w = random_matrix(3, 4);
    CHECK(gradcheck([&] { return sum(hadamard(maximum(A, b), constant(w))); }, A, b) < gradient_tolerance);
}
