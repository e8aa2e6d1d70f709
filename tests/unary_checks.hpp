// check_unary: a unary operation's values against a plain formula and its gradients
// against central finite differences, in fixed and Dynamic shapes (test_unary_ops.cpp,
// test_activations.cpp, test_scalar_arithmetic.cpp).

#pragma once

#include <catch2/catch.hpp>

#include "helpers.hpp"

namespace test {

// sum(w ∘ f(A)) with random weights w, so that every element's derivative is tested
// with a different weight and a transposition or mix-up of elements shows.
template <class Op, int R, int C>
void check_unary(Op op, double (*reference)(double), tapestry::Index rows, tapestry::Index cols, double lo, double hi) {
    using namespace tapestry;
    auto A = random_param<R, C>(rows, cols, lo, hi);
    const Eigen::MatrixXd weights = random_matrix(rows, cols);

    Var<double, R, C> y = op(A);
    for (Index i = 0; i < A.value().size(); ++i)
        CHECK(y.value().data()[i] == Approx(reference(A.value().data()[i])).epsilon(1e-12).margin(1e-14));

    const double err = gradcheck([&] { return sum(hadamard(op(A), constant(weights))); }, A);
    CHECK(err < gradient_tolerance);
}

template <class Op>
void check_unary_everywhere(Op op, double (*reference)(double), double lo = -2.0, double hi = 2.0) {
    for_each_shape([&]<int R, int C>(tapestry::Index rows, tapestry::Index cols) {
        INFO("shape " << rows << "x" << cols
                      << (R == tapestry::Dynamic || C == tapestry::Dynamic ? " (Dynamic)" : " (fixed)"));
        check_unary<Op, R, C>(op, reference, rows, cols, lo, hi);
    });
}

}  // namespace test
