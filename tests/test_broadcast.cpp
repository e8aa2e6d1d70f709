// Broadcasting: a column Rx1, a row 1xC or a 1x1 beside a matrix, in every binary
// elementwise operation; values against the repeated operand and gradients against
// finite differences. (Apart from test_binary_ops: g++'s front end slows down more than
// linearly with the templates instantiated in one file.)

#include <type_traits>

#include <catch2/catch.hpp>

#include "helpers.hpp"

using namespace tapestry;
using test::gradient_tolerance;
using test::random_matrix;
using test::random_param;
using test::reference_sigmoid;

namespace {

// op(M, v) where v broadcasts: its value must equal op(M, v repeated), and its
// gradient (summed over the repeated axis) must match finite differences.
template <int R, int C, int VR, int VC, class Op>
void check_broadcast(Op op, Index rows, Index cols) {
    const Index vrows = VR == 1 ? 1 : rows, vcols = VC == 1 ? 1 : cols;
    // Both operands serve as a denominator (divide(M, v) and divide(v, M)).
    Param<double, R, C> M(test::random_away_from_zero(rows, cols));
    Param<double, VR, VC> v(test::random_away_from_zero(vrows, vcols));
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
    check_broadcast<3, 4, VR, VC>(op, 3, 4);
    check_broadcast<6, 5, VR, VC>(op, 6, 5);  // over 16 values: Dynamic in its kernel form
    check_broadcast<3, Dynamic, VR, VC>(op, 3, 6);
    check_broadcast<Dynamic, 5, VR, VC>(op, 2, 5);
    check_broadcast<Dynamic, Dynamic, VR, VC>(op, 4, 3);
}

}  // namespace

TEST_CASE("a column Rx1, a row 1xC or a 1x1 broadcasts, and its gradient sums over the repeated axis") {
    auto add = [](auto&& a, auto&& b) { return a + b; };
    auto subtract = [](auto&& a, auto&& b) { return a - b; };
    auto multiply = [](auto&& a, auto&& b) { return hadamard(a, b); };
    auto quotient = [](auto&& a, auto&& b) { return divide(a, b); };
    SECTION("a bias column over the columns of a batch") {
        check_broadcast_shapes<Dynamic, 1>(add);
        check_broadcast_shapes<Dynamic, 1>(subtract);
        check_broadcast_shapes<Dynamic, 1>(multiply);
        check_broadcast_shapes<Dynamic, 1>(quotient);
    }
    SECTION("a row over the rows") {
        check_broadcast_shapes<1, Dynamic>(add);
        check_broadcast_shapes<1, Dynamic>(subtract);
        check_broadcast_shapes<1, Dynamic>(multiply);
        check_broadcast_shapes<1, Dynamic>(quotient);
    }
    SECTION("a 1x1 over everything") {
        check_broadcast_shapes<1, 1>(add);
        check_broadcast_shapes<1, 1>(multiply);
    }
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
    SECTION("a 1x1 along a row of fixed length, whose kernel array is row-major (packets along the row)") {
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
}

TEST_CASE("maximum broadcasts a column over the columns of a matrix, as + does") {
    auto A = random_param<3, Dynamic>(3, 4);
    auto b = random_param<3, 1>(3, 1);
    const Eigen::MatrixXd w = random_matrix(3, 4);
    CHECK(gradcheck([&] { return sum(hadamard(maximum(A, b), constant(w))); }, A, b) < gradient_tolerance);
}
