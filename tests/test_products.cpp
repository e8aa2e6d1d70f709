// Matrix products with every transpose combination, Params used several times,
// products of expressions: values against Eigen, gradients against finite differences.

#include <cmath>

#include <catch2/catch.hpp>

#include "helpers.hpp"

using namespace tapestry;
using test::for_each_shape;
using test::gradient_tolerance;
using test::random_matrix;
using test::random_param;

namespace {

template <bool TransposeA, bool TransposeB, int M, int K, int N>
void check_product(Index m, Index k, Index n) {
    constexpr int AR = TransposeA ? K : M, AC = TransposeA ? M : K;
    constexpr int BR = TransposeB ? N : K, BC = TransposeB ? K : N;
    auto A = random_param<AR, AC>(TransposeA ? k : m, TransposeA ? m : k);
    auto B = random_param<BR, BC>(TransposeB ? n : k, TransposeB ? k : n);
    const Eigen::MatrixXd weights = random_matrix(m, n);

    auto product = [&] {
        if constexpr (TransposeA && TransposeB)
            return A.transpose() * B.transpose();
        else if constexpr (TransposeA)
            return A.transpose() * B;
        else if constexpr (TransposeB)
            return A * B.transpose();
        else
            return A * B;
    };
    Eigen::MatrixXd a = A.value(), b = B.value();
    if (TransposeA) a.transposeInPlace();
    if (TransposeB) b.transposeInPlace();
    const Eigen::MatrixXd expected = a * b;
    auto c = product();
    static_assert(decltype(c)::rows_at_compile_time == M && decltype(c)::cols_at_compile_time == N);
    CHECK(c.value().isApprox(expected, 1e-13));
    CHECK(gradcheck([&] { return sum(hadamard(product(), constant(weights))); }, A, B) < gradient_tolerance);
    // A product that is only summed or averaged receives a uniform gradient, which the
    // backward step turns into row and column sums instead of GEMMs; one element apart
    // from the rest (the last one compared) must take the GEMMs again.
    CHECK(gradcheck([&] { return sum(product()); }, A, B) < gradient_tolerance);
    CHECK(gradcheck([&] { return mean(product()) * -3.0; }, A, B) < gradient_tolerance);
    Eigen::MatrixXd ones_but_last = Eigen::MatrixXd::Ones(m, n);
    ones_but_last(m - 1, n - 1) = 2.0;
    CHECK(gradcheck([&] { return sum(hadamard(product(), constant(ones_but_last))); }, A, B) < gradient_tolerance);
}

template <bool TA, bool TB>
void check_product_shapes() {
    check_product<TA, TB, 3, 4, 5>(3, 4, 5);
    check_product<TA, TB, Dynamic, Dynamic, Dynamic>(4, 2, 6);
    check_product<TA, TB, 3, Dynamic, 1>(3, 5, 1);  // matrix-vector
    check_product<TA, TB, 1, 4, Dynamic>(1, 4, 3);  // row times matrix
    check_product<TA, TB, 2, 4, Dynamic>(2, 4, 1);  // a batch of one
    // The shapes above are tiny (rows + cols + depth < 20) and computed coefficient by
    // coefficient, as Eigen's own `*` does; these take the packed GEMM and GEMV kernels.
    check_product<TA, TB, Dynamic, Dynamic, Dynamic>(9, 7, 11);
    check_product<TA, TB, 12, Dynamic, 1>(12, 9, 1);
    check_product<TA, TB, 1, 13, Dynamic>(1, 13, 8);
}

}  // namespace

TEST_CASE("matrix products match Eigen and their gradients, with every transpose combination") {
    SECTION("A * B") { check_product_shapes<false, false>(); }
    SECTION("A^T * B") { check_product_shapes<true, false>(); }
    SECTION("A * B^T") { check_product_shapes<false, true>(); }
    SECTION("A^T * B^T") { check_product_shapes<true, true>(); }
}

TEST_CASE("a Param used several times receives the sum of its gradients") {
    auto A = random_param<3, 4>(3, 4);
    auto B = random_param<4, 3>(4, 3);
    SECTION("on both sides of one product, plain and transposed") {
        CHECK(gradcheck([&] { return sum(square(A * A.transpose())); }, A) < gradient_tolerance);
        CHECK(gradcheck([&] { return sum(sigmoid(A.transpose() * A)); }, A) < gradient_tolerance);
    }
    SECTION("on both sides of one product whose gradient is uniform") {
        CHECK(gradcheck([&] { return sum(A * A.transpose()); }, A) < gradient_tolerance);
        CHECK(gradcheck([&] { return mean(A.transpose() * A) + sum(B * A); }, A, B) < gradient_tolerance);
    }
    SECTION("several times within one fused elementwise chain") {
        CHECK(gradcheck([&] { return sum(hadamard(tanh(A), sigmoid(A)) + square(A) * 0.5 - A); }, A) <
              gradient_tolerance);
    }
    SECTION("in products and elementwise at once") {
        CHECK(gradcheck([&] { return mean(square(tanh(hadamard(B.transpose(), A) * B) + A * B)); }, A, B) <
              gradient_tolerance);
    }
    SECTION("through an intermediate Var used twice") {
        CHECK(gradcheck(
                  [&] {
                      Var<double, 3, 3> h = sigmoid(A * B);
                      return sum(h * h + hadamard(h, h.transpose()));
                  },
                  A, B) < gradient_tolerance);
    }
}

TEST_CASE("products of expressions and of transposed intermediates") {
    auto A = random_param<Dynamic, Dynamic>(3, 4);
    auto B = random_param<Dynamic, Dynamic>(4, 2);
    CHECK(gradcheck([&] { return sum(tanh(sigmoid(A) * (B * 2.0 + 1.0))); }, A, B) < gradient_tolerance);
    CHECK(gradcheck(
              [&] {
                  Var<double, Dynamic, Dynamic> h = tanh(A * B);
                  return sum(square(h.transpose() * A));
              },
              A, B) < gradient_tolerance);
    CHECK(gradcheck([&] { return sum(square((A + 1.0).transpose() * A)); }, A) < gradient_tolerance);
}
