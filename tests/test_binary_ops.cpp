// Binary elementwise operations and broadcasting: values and gradients.

#include <cmath>
#include <type_traits>

#include <catch2/catch.hpp>

#include "helpers.hpp"

using namespace tapestry;
using test::for_each_shape;
using test::gradient_tolerance;
using test::random_matrix;
using test::random_param;

namespace {

template <class Op, int R, int C>
void check_binary_same_shape(Op op, double (*reference)(double, double), Index rows, Index cols) {
    auto A = random_param<R, C>(rows, cols);
    Param<double, R, C> B(test::random_away_from_zero(rows, cols));  // a denominator, for divide
    const Eigen::MatrixXd weights = random_matrix(rows, cols);

    Var<double, R, C> y = op(A, B);
    for (Index i = 0; i < A.value().size(); ++i)
        CHECK(y.value().data()[i] ==
              Approx(reference(A.value().data()[i], B.value().data()[i])).epsilon(1e-12).margin(1e-14));

    CHECK(gradcheck([&] { return sum(hadamard(op(A, B), constant(weights))); }, A, B) < gradient_tolerance);
}

template <class Op>
void check_binary_everywhere(Op op, double (*reference)(double, double)) {
    for_each_shape([&]<int R, int C>(Index rows, Index cols) {
        INFO("shape " << rows << "x" << cols);
        check_binary_same_shape<Op, R, C>(op, reference, rows, cols);
    });
}

}  // namespace

TEST_CASE("binary elementwise operations match their formulas and their gradients") {
    SECTION("a + b") {
        check_binary_everywhere([](auto& a, auto& b) { return a + b; }, [](double a, double b) { return a + b; });
    }
    SECTION("a - b") {
        check_binary_everywhere([](auto& a, auto& b) { return a - b; }, [](double a, double b) { return a - b; });
    }
    SECTION("hadamard(a, b)") {
        check_binary_everywhere([](auto& a, auto& b) { return hadamard(a, b); },
                                [](double a, double b) { return a * b; });
    }
    SECTION("divide(a, b)") {
        check_binary_everywhere([](auto& a, auto& b) { return divide(a, b); },
                                [](double a, double b) { return a / b; });
    }
    SECTION("maximum(a, b)") {
        check_binary_everywhere([](auto& a, auto& b) { return maximum(a, b); },
                                [](double a, double b) { return std::max(a, b); });
    }
    SECTION("minimum(a, b)") {
        check_binary_everywhere([](auto& a, auto& b) { return minimum(a, b); },
                                [](double a, double b) { return std::min(a, b); });
    }
}

TEST_CASE("maximum and minimum split the gradient at ties and propagate NaN") {
    Param<double, 1, 3> a(Eigen::RowVector3d(1.0, 2.0, 3.0));
    Param<double, 1, 3> b(Eigen::RowVector3d(0.0, 2.0, 5.0));
    {
        Tape tape;
        tape.backward(sum(maximum(a, b)));
    }
    CHECK(a.grad() == Eigen::RowVector3d(1.0, 0.5, 0.0));
    CHECK(b.grad() == Eigen::RowVector3d(0.0, 0.5, 1.0));
    a.zero_grad();
    {
        Tape tape;
        tape.backward(sum(minimum(a, a)));  // a tie everywhere: both halves reach a
    }
    CHECK(a.grad() == Eigen::RowVector3d::Ones());

    Param<double, 1, 2> nan(Eigen::RowVector2d(std::nan(""), 1.0));
    Param<double, 1, 2> one(Eigen::RowVector2d(0.0, 0.0));
    Var<double, 1, 2> largest = maximum(nan, one), smallest = minimum(one, nan);
    CHECK(std::isnan(largest.value()(0)));
    CHECK(std::isnan(smallest.value()(0)));
    CHECK(largest.value()(1) == 1.0);
}

TEST_CASE("maximum broadcasts a column over the columns of a matrix, as + does") {
    auto A = random_param<3, Dynamic>(3, 4);
    auto b = random_param<3, 1>(3, 1);
    const Eigen::MatrixXd w = random_matrix(3, 4);
    CHECK(gradcheck([&] { return sum(hadamard(maximum(A, b), constant(w))); }, A, b) < gradient_tolerance);
}

namespace {

// Each element's logistic function, computed without tapestry: the reference for sigmoid.
Eigen::MatrixXd reference_sigmoid(const Eigen::MatrixXd& x) { return (1.0 / (1.0 + (-x.array()).exp())).matrix(); }

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

TEST_CASE("what an expression compiles depends on its kernel form, not on its layer's width") {
    // evaluate() compiles the fused loop and the backward step once per kernel form
    // (ExpressionBase::kernel_form): layers of different widths share them.
    Param<double, 40, 30> W1(random_matrix(40, 30));
    Param<double, 40, 1> b1(random_matrix(40, 1));
    Param<double, 20, 40> W2(random_matrix(20, 40));
    Param<double, 20, 1> b2(random_matrix(20, 1));
    const Eigen::MatrixXd batch = random_matrix(30, 3);
    const auto layer1 = [&] { return sigmoid(W1 * constant(batch) + b1); };
    const auto layer2 = [&] { return sigmoid(W2 * layer1() + b2); };
    using Layer1 = decltype(layer1());
    using Layer2 = decltype(layer2());
    STATIC_REQUIRE(!std::is_same_v<Layer1, Layer2>);
    STATIC_REQUIRE(Layer1::Rows == 40);
    STATIC_REQUIRE(Layer2::Rows == 20);
    STATIC_REQUIRE(std::is_same_v<decltype(layer1().kernel_form()), decltype(layer2().kernel_form())>);
    // A small fixed shape keeps its extents (Eigen unrolls its loops), and an extent
    // of 1 stays 1 (a broadcast needs to know which axis it repeats).
    Param<double, 2, 3> small;
    STATIC_REQUIRE(decltype(sigmoid(small).kernel_form())::Rows == 2);
    STATIC_REQUIRE(decltype(sigmoid(small).kernel_form())::Cols == 3);
    STATIC_REQUIRE(decltype(sigmoid(b1).kernel_form())::Rows == Dynamic);
    STATIC_REQUIRE(decltype(sigmoid(b1).kernel_form())::Cols == 1);

    Var<double, 20, Dynamic> y = layer2();
    const Eigen::MatrixXd h = reference_sigmoid((W1.value() * batch).colwise() + b1.value().col(0));
    const Eigen::MatrixXd expected = reference_sigmoid((W2.value() * h).colwise() + b2.value().col(0));
    CHECK(y.value().isApprox(expected, 1e-14));
    CHECK(gradcheck([&] { return mean(square(layer2())); }, W1, b1, W2, b2) < gradient_tolerance);
}
