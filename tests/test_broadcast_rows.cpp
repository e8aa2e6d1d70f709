// Broadcasting a row 1xC beside a matrix, in every binary elementwise operation: values
// against the repeated operand and gradients against finite differences. (Columns:
// test_broadcast.cpp.)

#include <catch2/catch.hpp>

#include "broadcast_checks.hpp"
#include "helpers.hpp"

using namespace tapestry;
using test::check_broadcast_shapes;

TEST_CASE("a row 1xC broadcasts over the rows of a matrix, and its gradient sums over them") {
    check_broadcast_shapes<1, Dynamic>(test::add);
    check_broadcast_shapes<1, Dynamic>(test::subtract);
    check_broadcast_shapes<1, Dynamic>(test::multiply);
    check_broadcast_shapes<1, Dynamic>(test::quotient);
}
