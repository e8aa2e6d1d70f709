// Tape::backward(output, seed), the vector-Jacobian product, and jacobian(f, params):
// against central differences of the values in double, against the scalar backward of
// sum(seed ∘ output), and what they do with a seed of the wrong shape.

#include <vector>

#include <catch2/catch.hpp>

#include <tapestry/functional/jacobian.hpp>
#include <tapestry/tapestry.hpp>

#include "helpers.hpp"

using namespace tapestry;
using test::MessageContains;

namespace {

// The Jacobian by central differences of f's value, in jacobian()'s layout.
template <class F>
Eigen::MatrixXd numeric_jacobian(F&& f, const nn::ParamSet<double>& params, double step = 1e-6) {
    InferenceMode no_recording;
    const Eigen::MatrixXd at = evaluate(f()).value();
    Index columns = 0;
    for (const auto& p : params) columns += p.rows * p.cols;
    Eigen::MatrixXd result(at.size(), columns);
    Index column = 0;
    for (const auto& p : params)
        for (Index i = 0; i < p.rows * p.cols; ++i, ++column) {
            double& x = p.value().data()[i];
            const double saved = x;
            x = saved + step;
            const Eigen::MatrixXd up = evaluate(f()).value();
            x = saved - step;
            const Eigen::MatrixXd down = evaluate(f()).value();
            x = saved;
            result.col(column) = (up - down).reshaped() / (2 * step);
        }
    return result;
}

double relative_difference(const Eigen::MatrixXd& a, const Eigen::MatrixXd& b) {
    return (a - b).cwiseAbs().maxCoeff() / std::max(1.0, b.cwiseAbs().maxCoeff());
}

}  // namespace

TEST_CASE("jacobian matches central differences, with a Param used more than once") {
    auto W = test::random_param<3, 4>(3, 4);
    auto b = test::random_param<3, 1>(3, 1);
    const Eigen::Matrix<double, 4, 2> x = test::random_matrix(4, 2);
    const nn::ParamSet<double> params{{"W", W}, {"b", b}};
    // W read three times: in two products and through its transpose.
    auto f = [&] { return sigmoid(W * constant(x) + b) + hadamard(tanh(W * constant(x)), W * (W.transpose() * b)); };
    const Eigen::MatrixXd exact = jacobian(f, params);
    REQUIRE(exact.rows() == 6);
    REQUIRE(exact.cols() == 15);
    CHECK(relative_difference(exact, numeric_jacobian(f, params)) < 1e-8);
    CHECK(exact == jacobian(f, W, b));  // the listed form, same order
}

TEST_CASE("jacobian of a Dynamic-shaped value, of a 1x1 value, and of a value no Param reaches") {
    Param<double, Dynamic, Dynamic> A(test::random_matrix(2, 3));
    Param<double, Dynamic, 1> v(test::random_matrix(3, 1));
    const nn::ParamSet<double> params{{"A", A}, {"v", v}};
    auto product = [&] { return exp(A * v); };
    CHECK(relative_difference(jacobian(product, params), numeric_jacobian(product, params)) < 1e-8);

    // A 1x1 value: its one row is the gradient.
    auto scalar = [&] { return sum(square(A * v)); };
    const Eigen::MatrixXd row = jacobian(scalar, params);
    {
        A.zero_grad();
        v.zero_grad();
        Tape tape;
        tape.backward(scalar());
    }
    CHECK(row.leftCols(6) == A.grad().reshaped().transpose());
    CHECK(row.rightCols(3) == v.grad().transpose());

    auto constant_only = [&] { return constant(Eigen::MatrixXd::Ones(2, 2)) * 3.0; };
    CHECK(jacobian(constant_only, params).isZero());
}

TEST_CASE("jacobian leaves the Params' gradients as they were") {
    auto W = test::random_param<2, 2>(2, 2);
    W.grad().setConstant(7.0);
    jacobian([&] { return tanh(W); }, W);
    CHECK((W.grad().array() == 7.0).all());
}

TEST_CASE("backward(output, seed) adds the gradient of sum(seed ∘ output)") {
    auto W = test::random_param<3, 4>(3, 4);
    auto b = test::random_param<3, 1>(3, 1);
    const Eigen::MatrixXd x = test::random_matrix(4, 5);
    const Eigen::Matrix<double, 3, 5> seed = test::random_matrix(3, 5);
    auto f = [&] { return tanh(W * constant(x) + b) * 2.0 + W * constant(x); };

    Eigen::MatrixXd seeded_W, seeded_b;
    {
        Tape tape;
        auto y = evaluate(f());
        tape.backward(y, seed);
        seeded_W = W.grad();
        seeded_b = b.grad();
        // A second sweep adds the same again, as backward(loss) does.
        tape.backward(y, seed);
        CHECK(relative_difference(W.grad(), 2 * seeded_W) < 1e-15);
    }
    W.zero_grad();
    b.zero_grad();
    {
        Tape tape;
        tape.backward(sum(hadamard(f(), constant(seed))));
    }
    CHECK(relative_difference(seeded_W, W.grad()) < 1e-14);
    CHECK(relative_difference(seeded_b, b.grad()) < 1e-14);

    // The seed may be an Eigen expression; ones give the gradient of sum(output).
    W.zero_grad();
    {
        Tape tape;
        tape.backward(f(), Eigen::Matrix<double, 3, 5>::Ones());
    }
    const Eigen::MatrixXd ones_W = W.grad();
    W.zero_grad();
    {
        Tape tape;
        tape.backward(sum(f()));
    }
    CHECK(relative_difference(ones_W, W.grad()) < 1e-14);
}

TEST_CASE("backward(output, seed) refuses a seed of another run-time shape before recording anything") {
    Param<double, Dynamic, Dynamic> A(test::random_matrix(2, 3));
    Tape tape;
    auto y = evaluate(tanh(A));
    const std::size_t recorded = tape.size();
    CHECK_THROWS_MATCHES(
        tape.backward(exp(A), Eigen::MatrixXd::Ones(3, 2)), shape_error,
        MessageContains("backward: shapes 2x3 and 3x2 do not agree (the seed must have the output's shape)"));
    CHECK(tape.size() == recorded);
    CHECK(A.grad().isZero());
    CHECK_THROWS_AS(tape.backward(y, Eigen::MatrixXd::Ones(2, 2)), shape_error);
}

TEST_CASE("a tape made for forward mode or second order by hand, in a program compiled without them, names the macro") {
    // This program defines neither TAPESTRY_FORWARD_MODE nor TAPESTRY_SECOND_ORDER.
    Param<double, 2, 2> W(Eigen::Matrix2d::Identity());
    {
        Tape tape(Tape::WithTangents{});
        const Var<double, 2, 2> y = tanh(W);
        CHECK_THROWS_MATCHES(detail::Recording::active()->sweep_tangents(tape.size()), tape_error,
                             MessageContains("forward mode is not compiled into this program: define "
                                             "TAPESTRY_FORWARD_MODE for every file"));
    }
    {
        Tape tape(Tape::WithSecondOrder{});
        const Var<double, 1, 1> y = sum(tanh(W));
        CHECK_THROWS_MATCHES(detail::Recording::active()->sweep_backward_with_tangents(tape.size()), tape_error,
                             MessageContains("second order is not compiled into this program: define "
                                             "TAPESTRY_SECOND_ORDER for every file"));
    }
}
