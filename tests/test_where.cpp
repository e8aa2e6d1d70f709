// where(mask, a, b): values, gradients against finite differences (fixed and Dynamic,
// a Param in both branches, a number as a branch), the untaken branch's gradient
// exactly zero even where that branch is NaN or infinite, and the shape checks.

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

TEST_CASE("where takes a where the mask is set and b elsewhere, and its gradients match finite differences") {
    for_each_shape([]<int R, int C>(Index rows, Index cols) {
        INFO("shape " << rows << "x" << cols);
        auto A = random_param<R, C>(rows, cols);
        auto B = random_param<R, C>(rows, cols);
        const Eigen::ArrayXXd draw = random_matrix(rows, cols).array();
        const Eigen::Array<bool, Eigen::Dynamic, Eigen::Dynamic> mask = draw > 0.0;
        const Eigen::MatrixXd w = random_matrix(rows, cols);

        Var<double, R, C> y = where(mask, A, tanh(B));
        const Eigen::MatrixXd expected = mask.select(A.value().array(), B.value().array().tanh()).matrix();
        CHECK(y.value().isApprox(expected, 1e-14));

        // The same Param in both branches, once through a product with itself elementwise.
        CHECK(gradcheck([&] { return sum(hadamard(where(mask, hadamard(A, B), exp(A)), constant(w))); }, A, B) <
              gradient_tolerance);
    });
}

TEST_CASE("either branch of where may be a number") {
    auto A = random_param<3, 4>(3, 4);
    const Eigen::Array<bool, 3, 4> mask = random_matrix(3, 4).array() > 0.0;
    Var<double, 3, 4> masked = where(mask, A, 0.0);
    Var<double, 3, 4> flipped = where(mask, 1.5, A);
    CHECK(masked.value() == mask.select(A.value().array(), 0.0).matrix());
    CHECK(flipped.value() == mask.select(1.5, A.value().array()).matrix());
    CHECK(gradcheck([&] { return sum(square(where(mask, sigmoid(A), -2))); }, A) < gradient_tolerance);
}

TEST_CASE("the branch where does not take gets exactly zero gradient, even where it is NaN or infinite") {
    const double nan = std::numeric_limits<double>::quiet_NaN(), inf = std::numeric_limits<double>::infinity();
    Param<double, 1, 4> a(Eigen::RowVector4d(1.0, nan, 3.0, inf));
    Param<double, 1, 4> b(Eigen::RowVector4d(-inf, 2.0, nan, 4.0));
    Eigen::Array<bool, 1, 4> mask;
    mask << true, false, true, false;
    Tape tape;
    Var<double, 1, 1> loss = sum(square(where(mask, a, b)));
    tape.backward(loss);
    CHECK(loss.value()(0, 0) == 1.0 + 4.0 + 9.0 + 16.0);
    CHECK(a.grad() == Eigen::RowVector4d(2.0, 0.0, 6.0, 0.0));
    CHECK(b.grad() == Eigen::RowVector4d(0.0, 4.0, 0.0, 8.0));
}

TEST_CASE("a log's NaN in the untaken branch of where reaches neither the value nor the gradient") {
    Param<double, 1, 3> x(Eigen::RowVector3d(-1.0, 0.5, 2.0));
    const Eigen::Array<bool, 1, 3> positive = x.value().array() > 0.0;
    Tape tape;
    Var<double, 1, 1> loss = sum(where(positive, log(x), 0.0));
    tape.backward(loss);
    CHECK(std::isfinite(loss.value()(0, 0)));
    CHECK(x.grad() == Eigen::RowVector3d(0.0, 2.0, 0.5));
}

TEST_CASE("where with a mask or branches of other Dynamic shapes throws shape_error, recording nothing") {
    Param<double, Dynamic, Dynamic> A(3, 4), B(3, 4), C(4, 3);
    const Eigen::Array<bool, Eigen::Dynamic, Eigen::Dynamic> right = Eigen::ArrayXXd::Zero(3, 4) > 0.0;
    const Eigen::Array<bool, Eigen::Dynamic, Eigen::Dynamic> wrong = Eigen::ArrayXXd::Zero(2, 4) > 0.0;
    Tape tape;
    CHECK_THROWS_MATCHES(where(wrong, A, B), shape_error, MessageContains("2x4 and 3x4"));
    CHECK_THROWS_MATCHES(where(right, A, C), shape_error, MessageContains("3x4 and 4x3"));
    CHECK(tape.size() == 0);
}
