// block, row, col, middle_rows, middle_cols, reshape, flatten and gather_columns:
// values against Eigen's, gradients against finite differences (fixed and Dynamic, a
// Param used twice), gradients landing in just the block or the gathered columns, and
// index_error / shape_error before anything is recorded.

#include <limits>
#include <type_traits>
#include <vector>

#include <catch2/catch.hpp>

#include "helpers.hpp"

using namespace tapestry;

template <class E, int R, int C>
constexpr bool has_shape = E::Rows == R && E::Cols == C;
using test::gradient_tolerance;
using test::MessageContains;
using test::random_matrix;
using test::random_param;

TEST_CASE("blocks read what Eigen's blocks read, with fixed extents in the type where given") {
    auto X = random_param<5, 6>(5, 6);
    CHECK(block<2, 3>(X, 1, 2).value() == X.value().block<2, 3>(1, 2));
    CHECK(block(X, 3, 0, 2, 6).value() == X.value().block(3, 0, 2, 6));
    CHECK(row(X, 4).value() == X.value().row(4));
    CHECK(col(X, 5).value() == X.value().col(5));
    CHECK(middle_rows(X, 1, 3).value() == X.value().middleRows(1, 3));
    CHECK(middle_cols(X, 2, 4).value() == X.value().middleCols(2, 4));
    STATIC_REQUIRE(has_shape<decltype(block<2, 3>(X, 1, 2)), 2, 3>);
    STATIC_REQUIRE(has_shape<decltype(block(X, 1, 2, 2, 3)), Dynamic, Dynamic>);
    STATIC_REQUIRE(has_shape<decltype(row(X, 0)), 1, 6>);
    STATIC_REQUIRE(has_shape<decltype(col(X, 0)), 5, 1>);
    STATIC_REQUIRE(has_shape<decltype(middle_cols(X, 0, 2)), 5, Dynamic>);
}

TEST_CASE("a block is a view: it reads the operand's numbers in place, with its stride") {
    auto X = random_param<Dynamic, Dynamic>(7, 5);
    const auto middle = block(X, 1, 1, 5, 3);
    X.value()(2, 2) = 42.0;  // written after the view was made: the view sees it
    CHECK(middle.value()(1, 1) == 42.0);
    // Packets down a column of a strided block, in float: 13 rows of a 16-row operand.
    Param<float, Dynamic, Dynamic> F(Eigen::MatrixXf::Random(16, 4));
    CHECK(Eigen::MatrixXf(Var<float, Dynamic, Dynamic>(exp(middle_rows(F, 2, 13))).value())
              .isApprox(F.value().middleRows(2, 13).array().exp().matrix()));
}

TEST_CASE("a block's gradient is added into just that block") {
    auto X = random_param<4, 5>(4, 5);
    Tape tape;
    tape.backward(sum(block<2, 2>(X, 1, 3) * 3.0));
    Eigen::Matrix<double, 4, 5> expected = Eigen::Matrix<double, 4, 5>::Zero();
    expected.block<2, 2>(1, 3).setConstant(3.0);
    CHECK(X.grad() == expected);
}

TEST_CASE("blocks' gradients match finite differences, overlapping blocks of one Param included") {
    SECTION("fixed") {
        auto X = random_param<4, 5>(4, 5);
        auto W = random_param<3, 2>(3, 2);
        CHECK(gradcheck([&] { return sum(square(W * block<2, 4>(X, 1, 0) + block<3, 4>(X, 0, 1))); }, X, W) <
              gradient_tolerance);
    }
    SECTION("Dynamic, of a fused expression, and the Param again outside the block") {
        auto X = random_param<Dynamic, Dynamic>(5, 3);
        const Eigen::MatrixXd w = random_matrix(2, 3);
        CHECK(gradcheck(
                  [&] {
                      return sum(hadamard(tanh(middle_rows(sigmoid(X) * 2.0, 2, 2)), constant(w))) +
                             sum(square(row(X, 4))) + mean(X);
                  },
                  X) < gradient_tolerance);
    }
    SECTION("columns of a Var on the tape") {
        auto X = random_param<3, Dynamic>(3, 4);
        CHECK(gradcheck(
                  [&] {
                      Var<double, 3, Dynamic> h = tanh(X);
                      return sum(hadamard(col(h, 0), col(h, 3))) + sum(middle_cols(h, 1, 2));
                  },
                  X) < gradient_tolerance);
    }
}

TEST_CASE("a block that does not fit throws index_error naming both shapes, recording nothing") {
    Param<double, Dynamic, Dynamic> X(3, 4);
    Tape tape;
    CHECK_THROWS_MATCHES(block(X, 2, 2, 2, 2), index_error,
                         MessageContains("a 2x2 block at (2, 2) does not fit inside a 3x4 operand"));
    CHECK_THROWS_AS(row(X, 3), index_error);
    CHECK_THROWS_AS(col(X, -1), index_error);
    CHECK_THROWS_AS(middle_cols(X, 3, 2), index_error);
    CHECK_THROWS_AS((block<1, 1>(X, 0, 4)), index_error);
    CHECK(tape.size() == 0);
}

TEST_CASE("reshape and flatten read elements in column-major order, as Eigen's reshaped()") {
    auto X = random_param<3, 4>(3, 4);
    const Eigen::Matrix<double, 2, 6> expected = X.value().reshaped(2, 6);
    CHECK(reshape<2, 6>(X).value() == expected);
    CHECK(reshape(X, 6, 2).value() == X.value().reshaped(6, 2));
    CHECK(flatten(X).value() == X.value().reshaped());
    STATIC_REQUIRE(std::is_same_v<decltype(reshape<2, 6>(X)), Var<double, 2, 6>>);
    STATIC_REQUIRE(std::is_same_v<decltype(flatten(X)), Var<double, 12, 1>>);
    Param<double, Dynamic, 4> D(2, 4);
    STATIC_REQUIRE(std::is_same_v<decltype(flatten(D)), Var<double, Dynamic, 1>>);
}

TEST_CASE("reshape's gradient matches finite differences, and a wrong size throws shape_error") {
    auto X = random_param<3, 4>(3, 4);
    auto W = random_param<2, Dynamic>(2, 6);
    CHECK(gradcheck([&] { return sum(square(W * reshape<6, 2>(X) + reshape(X, 2, 6) * reshape(W, 6, 2))); }, X, W) <
          gradient_tolerance);
    CHECK(gradcheck([&] { return sum(hadamard(flatten(X), flatten(exp(X)))); }, X) < gradient_tolerance);

    Tape tape;
    CHECK_THROWS_MATCHES(reshape(X, 5, 2), shape_error, MessageContains("3x4 and 5x2"));
    CHECK(tape.size() == 0);
}

TEST_CASE("gather_columns picks the table's columns by id, repeats included") {
    auto E = random_param<3, 5>(3, 5);
    const std::vector<int> ids{4, 0, 4, 2};
    Eigen::MatrixXd expected(3, 4);
    expected << E.value().col(4), E.value().col(0), E.value().col(4), E.value().col(2);
    CHECK(gather_columns(E, ids).value() == expected);
    CHECK(gather_columns(E, Eigen::Vector4i(4, 0, 4, 2)).value() == expected);
    using Gathered = decltype(gather_columns(E, ids));
    STATIC_REQUIRE((Gathered::Rows == 3 && Gathered::Cols == Dynamic));
}

TEMPLATE_TEST_CASE("gather_columns read in place: columns of a length that packets do not divide", "", float, double) {
    using Matrix = Eigen::Matrix<TestType, Dynamic, Dynamic>;
    const Matrix table = Matrix::Random(13, 9);
    Param<TestType, 13, Dynamic> E(table);
    const std::vector<int> ids{8, 0, 3, 3, 7};
    Matrix expected(13, 5);
    for (int k = 0; k < 5; ++k) expected.col(k) = table.col(ids[static_cast<std::size_t>(k)]);
    CHECK(Matrix(Var<TestType, 13, Dynamic>(gather_columns(E, ids)).value()) == expected);
    CHECK(Matrix(Var<TestType, 13, Dynamic>(gather_columns(E, ids) + TestType(1)).value()) ==
          (expected.array() + TestType(1)).matrix());
    CHECK(sum(gather_columns(E, ids)).item() == Approx(expected.sum()));
}

TEST_CASE("gather_columns keeps its ids: the caller's may be gone before backward") {
    auto E = random_param<4, Dynamic>(4, 6);
    Tape tape;
    Var<double, 1, 1> loss;
    {
        std::vector<int> ids{5, 1, 5};
        loss = sum(square(gather_columns(E, ids)));
        ids.assign(3, 0);  // the caller reuses its buffer
    }
    E.zero_grad();
    tape.backward(loss);
    Eigen::MatrixXd expected = Eigen::MatrixXd::Zero(4, 6);
    expected.col(1) = 2 * E.value().col(1);
    expected.col(5) = 4 * E.value().col(5);
    CHECK(E.grad().isApprox(expected));
}

TEST_CASE("gather_columns' gradient matches finite differences and reaches only the columns used") {
    auto E = random_param<3, 6>(3, 6);
    auto W = random_param<2, 3>(2, 3);
    const std::vector<int> ids{5, 1, 5, 3, 1};
    CHECK(gradcheck([&] { return sum(square(W * gather_columns(E, ids))) + sum(gather_columns(tanh(E), ids)); }, E, W) <
          gradient_tolerance);

    Tape tape;
    E.zero_grad();
    tape.backward(sum(square(gather_columns(E, ids))));
    CHECK(E.grad().col(0).isZero());
    CHECK(E.grad().col(2).isZero());
    CHECK(E.grad().col(4).isZero());
    CHECK(E.grad().col(5) == 4.0 * E.value().col(5));  // used twice
}

TEST_CASE("an id outside the table throws index_error naming the id, its position and the size") {
    Param<double, 3, 6> E;
    Tape tape;
    CHECK_THROWS_MATCHES(gather_columns(E, std::vector<int>{1, 6}), index_error,
                         MessageContains("id 6 at position 1 is outside the table's 6 columns"));
    CHECK_THROWS_AS(gather_columns(E, std::vector<int>{-2}), index_error);
    CHECK(tape.size() == 0);
}

TEST_CASE("blocks, reshapes and lookups of an expression are checked before it is evaluated, and never overflow") {
    auto X = random_param<Dynamic, Dynamic>(3, 4);
    Tape tape;
    const Index huge = std::numeric_limits<Index>::max();
    CHECK_THROWS_AS(block(tanh(X), 2, 0, 2, 1), index_error);
    CHECK_THROWS_AS(block(X, 0, huge, 1, 1), index_error);
    CHECK_THROWS_AS(block(X, 1, 1, huge, huge), index_error);
    CHECK_THROWS_AS(reshape(tanh(X), 5, 2), shape_error);
    CHECK_THROWS_AS(reshape(X, huge, 2), shape_error);
    CHECK_THROWS_AS(reshape(X, 1L << 32, 1L << 32), shape_error);
    CHECK_THROWS_AS(gather_columns(tanh(X), std::vector<int>{7}), index_error);
    CHECK(tape.size() == 0);
}
