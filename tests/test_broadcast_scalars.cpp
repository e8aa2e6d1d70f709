// Broadcasting a 1x1 beside a matrix: values against the repeated operand and gradients
// against finite differences, and along a fixed row long enough to vectorise, in float
// and double. (Columns: test_broadcast.cpp.)

#include <type_traits>

#include <catch2/catch.hpp>

#include "broadcast_checks.hpp"
#include "helpers.hpp"

using namespace tapestry;
using test::check_broadcast_shapes;
using test::gradient_tolerance;
using test::random_param;

TEST_CASE("a 1x1 broadcasts over everything, and its gradient sums over it") {
    check_broadcast_shapes<1, 1>(test::add);
    check_broadcast_shapes<1, 1>(test::multiply);
}

TEST_CASE("a 1x1 along a row of fixed length, whose kernel array is row-major (packets along the row)") {
    // A row long enough to vectorise, in both scalar types: every element, the sum and
    // the gradients (a packet loaded from the 1x1's one element read past it).
    const auto check = [](auto scalar_tag, auto length) {
        using T = decltype(scalar_tag);
        constexpr int C = decltype(length)::value;
        Param<T, 1, 1> s(Eigen::Matrix<T, 1, 1>::Constant(T(2)));
        Param<T, 1, C> row(Eigen::Matrix<T, 1, C>::LinSpaced(T(1), T(C)));
        Tape tape;
        Var<T, 1, C> y = s + row;
        CHECK(y.value().isApprox((row.value().array() + T(2)).matrix()));
        const Var<T, 1, 1> total = sum(hadamard(s, row) + s);
        CHECK(total.item() == Approx(double(2 * C * (C + 1) / 2 + 2 * C)));
        tape.backward(total);
        CHECK(s.grad()(0, 0) == Approx(double(C * (C + 1) / 2 + C)));
        CHECK(row.grad().isApprox(Eigen::Matrix<T, 1, C>::Constant(T(2))));
        Param<T, 1, C> r2(Eigen::Matrix<T, 1, C>::LinSpaced(T(1), T(C)));
        tape.clear();
        tape.backward(sum(square(row_sum(r2))));  // row_sum's backward repeats a 1x1 along the row
        CHECK(r2.grad().isApprox(Eigen::Matrix<T, 1, C>::Constant(T(C * (C + 1)))));
    };
    check(0.0, std::integral_constant<int, 12>{});
    check(0.0f, std::integral_constant<int, 8>{});
    check(0.0f, std::integral_constant<int, 16>{});
    check(0.0f, std::integral_constant<int, 20>{});
    auto s = random_param<1, 1>(1, 1);
    auto row = random_param<1, 12>(1, 12);
    CHECK(gradcheck([&] { return sum(square(sigmoid(s + row) - hadamard(row, s))); }, s, row) < gradient_tolerance);
}
