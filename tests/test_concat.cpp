// concat_columns and concat_rows (views): values against Eigen's block assignment, gradients
// against central finite differences over fixed and Dynamic shapes (with a Param used
// twice and fused operands), the type of the result, and the run-time shape check.

#include <type_traits>

#include <catch2/catch.hpp>

#include "helpers.hpp"

using namespace tapestry;
using test::gradient_tolerance;
using test::MessageContains;
using test::random_matrix;
using test::random_param;

TEST_CASE("concat_columns puts b's columns after a's, concat_rows b's rows below a's") {
    auto A = random_param<3, 4>(3, 4);
    auto B = random_param<3, 2>(3, 2);
    auto C = random_param<2, 4>(2, 4);

    Eigen::MatrixXd side_by_side(3, 6);
    side_by_side << A.value(), B.value();
    Eigen::MatrixXd stacked(5, 4);
    stacked << A.value(), C.value();

    const auto columns = concat_columns(A, B);
    const auto rows = concat_rows(A, C);
    CHECK(columns.value() == side_by_side);
    CHECK(rows.value() == stacked);
}

TEMPLATE_TEST_CASE("concat read in place: vector packets that straddle the seam, row vectors, sums", "", float,
                   double) {
    using Matrix = Eigen::Matrix<TestType, Dynamic, Dynamic>;
    // 5 + 11 rows: with 4 or 8 values per packet, some packets hold rows of both operands.
    const Matrix a = Matrix::Random(5, 7), b = Matrix::Random(11, 7), c = Matrix::Random(5, 3);
    Param<TestType, Dynamic, Dynamic> A(a), B(b), C(c);
    Matrix stacked(16, 7), side_by_side(5, 10);
    stacked << a, b;
    side_by_side << a, c;
    CHECK(Matrix(Var<TestType, Dynamic, Dynamic>(concat_rows(A, B)).value()) == stacked);
    CHECK(Matrix(Var<TestType, Dynamic, Dynamic>(concat_columns(A, C)).value()) == side_by_side);
    CHECK(Matrix(Var<TestType, Dynamic, Dynamic>(exp(concat_rows(A, B))).value())
              .isApprox(stacked.array().exp().matrix()));
    CHECK(sum(concat_rows(A, B)).item() == Approx(stacked.sum()));

    // A fixed 1x4 row (Eigen stores it row-major: no packets down a column there).
    Param<TestType, 1, 2> r(Eigen::Matrix<TestType, 1, 2>(1, 2)), s(Eigen::Matrix<TestType, 1, 2>(3, 4));
    const Var<TestType, 1, 4> row = concat_columns(r, s) * TestType(2);
    CHECK(row.value() == Eigen::Matrix<TestType, 1, 4>(2, 4, 6, 8));
}

TEST_CASE("concat's result carries the summed fixed extent, or Dynamic if either is") {
    Param<double, 3, 4> A;
    Param<double, 3, 2> B;
    Param<double, 3, Dynamic> D(3, 5);
    using AB = decltype(concat_columns(A, B));
    using AD = decltype(concat_columns(A, D));
    using Stacked = decltype(concat_rows(A.transpose(), B.transpose()));
    STATIC_REQUIRE((AB::Rows == 3 && AB::Cols == 6));
    STATIC_REQUIRE((AD::Rows == 3 && AD::Cols == Dynamic));
    STATIC_REQUIRE((Stacked::Rows == 6 && Stacked::Cols == 3));
}

TEST_CASE("concat's gradients match finite differences, fixed and Dynamic, and a Param used twice") {
    SECTION("fixed operands, one of them a fused expression") {
        auto A = random_param<3, 4>(3, 4);
        auto B = random_param<3, 2>(3, 2);
        const Eigen::MatrixXd w = random_matrix(3, 6);
        CHECK(gradcheck([&] { return sum(hadamard(tanh(concat_columns(A, sigmoid(B))), constant(w))); }, A, B) <
              gradient_tolerance);
    }
    SECTION("Dynamic operands, stacked") {
        auto A = random_param<Dynamic, Dynamic>(2, 5);
        auto C = random_param<Dynamic, Dynamic>(4, 5);
        const Eigen::MatrixXd w = random_matrix(6, 5);
        CHECK(gradcheck([&] { return sum(hadamard(square(concat_rows(A, C * 2.0)), constant(w))); }, A, C) <
              gradient_tolerance);
    }
    SECTION("the same Param on both sides, and again transposed") {
        auto A = random_param<3, 3>(3, 3);
        const Eigen::MatrixXd w = random_matrix(3, 9);
        CHECK(gradcheck(
                  [&] { return sum(hadamard(exp(concat_columns(concat_columns(A, A), A.transpose())), constant(w))); },
                  A) < gradient_tolerance);
    }
    SECTION("a product of the concatenation, so its adjoint is a full matrix") {
        auto A = random_param<Dynamic, 2>(4, 2);
        auto B = random_param<Dynamic, 3>(4, 3);
        auto W = random_param<2, Dynamic>(2, 4);
        CHECK(gradcheck([&] { return mean(square(W * concat_columns(A, B))); }, A, B, W) < gradient_tolerance);
    }
}

TEST_CASE("concat of Dynamic operands that do not fit throws shape_error naming both shapes, recording nothing") {
    Param<double, Dynamic, Dynamic> A(3, 4), B(2, 4), C(3, 2);
    Tape tape;
    CHECK_THROWS_MATCHES(concat_columns(A, B), shape_error, MessageContains("3x4 and 2x4"));
    CHECK_THROWS_MATCHES(concat_rows(A, C), shape_error, MessageContains("3x4 and 3x2"));
    CHECK(tape.size() == 0);
}

TEST_CASE("anomaly mode names concat as the operation whose value is not finite") {
    Param<double, 1, 2> a(Eigen::RowVector2d(1.0, std::numeric_limits<double>::infinity()));
    Param<double, 1, 1> b(Eigen::Matrix<double, 1, 1>(2.0));
    DetectAnomaly detect;
    // A view computes nothing until it is read: here, into a Var.
    CHECK_THROWS_MATCHES((Var<double, 1, 3>(concat_columns(a, b))), anomaly_error,
                         MessageContains("concat_columns(Param 1x2, Param 1x1)"));
}
