// col_max, col_min, row_max, row_min and their argmax/argmin: values against Eigen's
// own reductions, gradients against finite differences (fixed and Dynamic, a Param used
// twice), the first of tied maxima taking the whole gradient, and NaN.

#include <cmath>
#include <limits>

#include <catch2/catch.hpp>

#include "helpers.hpp"

using namespace tapestry;
using test::for_each_shape;
using test::gradient_tolerance;
using test::MessageContains;
using test::random_matrix;
using test::random_param;

TEST_CASE("col_max, col_min, row_max and row_min match Eigen's, with their shapes in the type") {
    for_each_shape([]<int R, int C>(Index rows, Index cols) {
        INFO("shape " << rows << "x" << cols);
        auto X = random_param<R, C>(rows, cols);
        CHECK(col_max(X).value() == X.value().colwise().maxCoeff());
        CHECK(col_min(X).value() == X.value().colwise().minCoeff());
        CHECK(row_max(X).value() == X.value().rowwise().maxCoeff());
        CHECK(row_min(X).value() == X.value().rowwise().minCoeff());
        STATIC_REQUIRE(std::is_same_v<decltype(col_max(X)), Var<double, 1, C>>);
        STATIC_REQUIRE(std::is_same_v<decltype(row_min(X)), Var<double, R, 1>>);
        for (Index j = 0; j < cols; ++j) {
            Index at = 0;
            X.value().col(j).maxCoeff(&at);
            CHECK(col_argmax(X)(j) == at);
            X.value().col(j).minCoeff(&at);
            CHECK(col_argmin(X)(j) == at);
        }
        for (Index i = 0; i < rows; ++i) {
            Index at = 0;
            X.value().row(i).maxCoeff(&at);
            CHECK(row_argmax(X)(i) == at);
            X.value().row(i).minCoeff(&at);
            CHECK(row_argmin(X)(i) == at);
        }
    });
}

TEST_CASE("the extremes' gradients match finite differences, with a Param used twice") {
    for_each_shape([]<int R, int C>(Index rows, Index cols) {
        INFO("shape " << rows << "x" << cols);
        auto X = random_param<R, C>(rows, cols);
        const Eigen::MatrixXd w_row = random_matrix(1, cols), w_col = random_matrix(rows, 1);
        CHECK(gradcheck([&] { return sum(hadamard(col_max(hadamard(X, X) + X), constant(w_row))); }, X) <
              gradient_tolerance);
        CHECK(gradcheck([&] { return sum(hadamard(col_min(tanh(X)), constant(w_row))) + sum(square(X)); }, X) <
              gradient_tolerance);
        CHECK(gradcheck([&] { return sum(hadamard(row_max(X), constant(w_col))); }, X) < gradient_tolerance);
        CHECK(gradcheck([&] { return sum(hadamard(row_min(X * 3.0), constant(w_col))); }, X) < gradient_tolerance);
    });
}

TEST_CASE("of tied maxima the first takes the whole gradient, as in PyTorch") {
    Eigen::Matrix<double, 3, 2> x;
    x << 2.0, 1.0, 5.0, 1.0, 5.0, 1.0;
    Param<double, 3, 2> X(x);
    Tape tape;
    tape.backward(sum(col_max(X)));
    Eigen::Matrix<double, 3, 2> expected;
    expected << 0.0, 1.0, 1.0, 0.0, 0.0, 0.0;
    CHECK(X.grad() == expected);
    CHECK(col_argmax(X) == Eigen::RowVector2i(1, 0));
}

TEST_CASE("a line holding a NaN has a NaN extreme, and its argmax is the NaN") {
    const double nan = std::numeric_limits<double>::quiet_NaN();
    Param<double, 1, 4> x(Eigen::RowVector4d(1.0, nan, 7.0, 2.0));
    CHECK(std::isnan(row_max(x).value()(0, 0)));
    CHECK(std::isnan(row_min(x).value()(0, 0)));
    CHECK(row_argmax(x)(0) == 1);
}

TEST_CASE("an extreme along empty lines throws value_error") {
    Param<double, Dynamic, Dynamic> X(0, 3);
    CHECK_THROWS_MATCHES(col_max(X), value_error, MessageContains("0x3"));
    CHECK_THROWS_AS(col_argmax(X), value_error);
    CHECK(row_max(X).rows() == 0);
}

TEST_CASE("argmax of an expression reads its values and records nothing") {
    auto X = random_param<4, 5>(4, 5);
    Tape tape;
    const Eigen::RowVectorXi predicted = col_argmax(X * -1.0);
    CHECK(predicted == col_argmin(X));
    CHECK(tape.size() == 0);
}

TEST_CASE("an extreme of an expression with empty lines throws before the expression is evaluated") {
    Param<double, Dynamic, Dynamic> X(0, 3);
    Tape tape;
    CHECK_THROWS_AS(col_max(tanh(X)), value_error);
    CHECK(tape.size() == 0);
}
