// Reductions, and float alongside double.

#include <cmath>

#include <catch2/catch.hpp>

#include "helpers.hpp"

using namespace tapestry;
using test::for_each_shape;
using test::gradient_tolerance;
using test::random_matrix;
using test::random_param;

TEST_CASE("reductions match Eigen and their gradients") {
    for_each_shape([]<int R, int C>(Index rows, Index cols) {
        auto A = random_param<R, C>(rows, cols);
        const Eigen::MatrixXd a = A.value();
        INFO("shape " << rows << "x" << cols);
        CHECK(sum(A).value()(0, 0) == Approx(a.sum()));
        CHECK(mean(A).value()(0, 0) == Approx(a.mean()));
        auto rs = row_sum(A);
        auto cs = col_sum(A);
        static_assert(decltype(rs)::rows_at_compile_time == R && decltype(rs)::cols_at_compile_time == 1);
        static_assert(decltype(cs)::rows_at_compile_time == 1 && decltype(cs)::cols_at_compile_time == C);
        CHECK(rs.value().isApprox(a.rowwise().sum(), 1e-14));
        CHECK(cs.value().isApprox(a.colwise().sum(), 1e-14));

        const Eigen::MatrixXd wr = random_matrix(rows, 1), wc = random_matrix(1, cols);
        CHECK(gradcheck([&] { return sum(square(A)); }, A) < gradient_tolerance);
        CHECK(gradcheck([&] { return mean(tanh(A)); }, A) < gradient_tolerance);
        CHECK(gradcheck([&] { return sum(hadamard(row_sum(sigmoid(A)), constant(wr))); }, A) < gradient_tolerance);
        CHECK(gradcheck([&] { return sum(hadamard(col_sum(square(A)), constant(wc))); }, A) < gradient_tolerance);
    });
}

TEST_CASE("float works throughout, with gradients close to double's") {
    Eigen::MatrixXd a = random_matrix(5, 3), x = random_matrix(3, 4, 0.0, 1.0);
    Param<double, 5, 3> Wd(a);
    Param<float, 5, 3> Wf(Eigen::MatrixXf(a.cast<float>()));
    {
        Tape tape;
        tape.backward(sigmoid_cross_entropy(Wd * constant(x), Eigen::MatrixXd::Constant(5, 4, 0.5)));
    }
    {
        Tape tape;
        const Eigen::MatrixXf xf = x.cast<float>();
        tape.backward(sigmoid_cross_entropy(Wf * constant(xf), Eigen::MatrixXf::Constant(5, 4, 0.5f)));
    }
    CHECK(Wf.grad().cast<double>().isApprox(Wd.grad(), 1e-5));
}
