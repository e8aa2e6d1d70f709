// Binary elementwise operations of operands of one shape: values and gradients (broadcasting
// is test_broadcast.cpp).

#include <cmath>
#include <type_traits>

#include <catch2/catch.hpp>

#include "helpers.hpp"

using namespace tapestry;
using test::for_each_shape;
using test::gradient_tolerance;
using test::random_matrix;
using test::random_param;
using test::reference_sigmoid;

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
