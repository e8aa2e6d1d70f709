// Every operation's gradient against central finite differences, in double, at
// random points, over fixed and Dynamic shapes; values against plain formulas.

#include <cmath>

#include <catch2/catch.hpp>

#include "helpers.hpp"

using namespace tapestry;
using test::for_each_shape;
using test::gradient_tolerance;
using test::random_matrix;
using test::random_param;

namespace {

// sum(w ∘ f(A)) with random weights w, so that every element's derivative is tested
// with a different weight and a transposition or mix-up of elements shows.
template <class Op, int R, int C>
void check_unary(Op op, double (*reference)(double), Index rows, Index cols, double lo, double hi) {
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
    for_each_shape([&]<int R, int C>(Index rows, Index cols) {
        INFO("shape " << rows << "x" << cols << (R == Dynamic || C == Dynamic ? " (Dynamic)" : " (fixed)"));
        check_unary<Op, R, C>(op, reference, rows, cols, lo, hi);
    });
}

double ref_sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }
double ref_softplus(double x) { return std::log(1.0 + std::exp(x)); }
double ref_relu(double x) { return x > 0 ? x : 0.0; }
double ref_square(double x) { return x * x; }
double ref_tanh(double x) { return std::tanh(x); }
double ref_exp(double x) { return std::exp(x); }
double ref_log(double x) { return std::log(x); }
double ref_sqrt(double x) { return std::sqrt(x); }
double ref_abs(double x) { return std::abs(x); }

}  // namespace

TEST_CASE("activations match their formulas and their gradients match finite differences") {
    SECTION("sigmoid") { check_unary_everywhere([](auto& a) { return sigmoid(a); }, ref_sigmoid); }
    SECTION("tanh") { check_unary_everywhere([](auto& a) { return tanh(a); }, ref_tanh); }
    SECTION("relu") { check_unary_everywhere([](auto& a) { return relu(a); }, ref_relu); }
    SECTION("softplus") { check_unary_everywhere([](auto& a) { return softplus(a); }, ref_softplus); }
}

TEST_CASE("elementwise math matches its formulas and its gradients match finite differences") {
    SECTION("exp") { check_unary_everywhere([](auto& a) { return exp(a); }, ref_exp); }
    SECTION("log, on positive inputs") { check_unary_everywhere([](auto& a) { return log(a); }, ref_log, 0.2, 3.0); }
    SECTION("sqrt, on positive inputs") {
        check_unary_everywhere([](auto& a) { return sqrt(a); }, ref_sqrt, 0.2, 3.0);
    }
    SECTION("square") { check_unary_everywhere([](auto& a) { return square(a); }, ref_square); }
    SECTION("abs, away from its kink") {
        check_unary_everywhere([](auto& a) { return abs(a); }, ref_abs, 0.1, 2.0);
        check_unary_everywhere([](auto& a) { return abs(a); }, ref_abs, -2.0, -0.1);
    }
    SECTION("pow with a fractional exponent") {
        check_unary_everywhere([](auto& a) { return pow(a, 2.5); }, [](double x) { return std::pow(x, 2.5); },
                               0.2, 3.0);
    }
    SECTION("pow with a negative exponent") {
        check_unary_everywhere([](auto& a) { return pow(a, -1.5); }, [](double x) { return std::pow(x, -1.5); },
                               0.2, 3.0);
    }
}

TEST_CASE("scalar arithmetic on either side matches its formulas and its gradients") {
    SECTION("-a") { check_unary_everywhere([](auto& a) { return -a; }, [](double x) { return -x; }); }
    SECTION("a * s") { check_unary_everywhere([](auto& a) { return a * 1.75; }, [](double x) { return x * 1.75; }); }
    SECTION("s * a") { check_unary_everywhere([](auto& a) { return -0.5 * a; }, [](double x) { return -0.5 * x; }); }
    SECTION("a / s") { check_unary_everywhere([](auto& a) { return a / 3.0; }, [](double x) { return x / 3.0; }); }
    SECTION("s / a") {
        check_unary_everywhere([](auto& a) { return 2.0 / a; }, [](double x) { return 2.0 / x; }, 0.3, 2.0);
    }
    SECTION("a + s") { check_unary_everywhere([](auto& a) { return a + 0.25; }, [](double x) { return x + 0.25; }); }
    SECTION("s - a") { check_unary_everywhere([](auto& a) { return 1 - a; }, [](double x) { return 1 - x; }); }
    SECTION("a - s") { check_unary_everywhere([](auto& a) { return a - 4; }, [](double x) { return x - 4; }); }
}

namespace {

template <class Op, int R, int C>
void check_binary_same_shape(Op op, double (*reference)(double, double), Index rows, Index cols) {
    auto A = random_param<R, C>(rows, cols);
    auto B = random_param<R, C>(rows, cols, 0.5, 2.0);  // away from 0, for divide
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
}

namespace {

// op(M, v) where v broadcasts: its value must equal op(M, v repeated), and its
// gradient (summed over the repeated axis) must match finite differences.
template <int R, int C, int VR, int VC, class Op>
void check_broadcast(Op op, Index rows, Index cols) {
    const Index vrows = VR == 1 ? 1 : rows, vcols = VC == 1 ? 1 : cols;
    auto M = random_param<R, C>(rows, cols);
    auto v = random_param<VR, VC>(vrows, vcols, 0.5, 2.0);
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
    SECTION("a column and a row make an outer sum") {
        auto col = random_param<Dynamic, 1>(3, 1);
        auto row = random_param<1, Dynamic>(1, 4);
        Var<double, Dynamic, Dynamic> outer = col + row;
        CHECK(outer.rows() == 3);
        CHECK(outer.cols() == 4);
        CHECK(outer.value()(2, 1) == Approx(col.value()(2) + row.value()(1)));
        CHECK(gradcheck([&] { return sum(square(col + row)); }, col, row) < gradient_tolerance);
    }
}

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
}

template <bool TA, bool TB>
void check_product_shapes() {
    check_product<TA, TB, 3, 4, 5>(3, 4, 5);
    check_product<TA, TB, Dynamic, Dynamic, Dynamic>(4, 2, 6);
    check_product<TA, TB, 3, Dynamic, 1>(3, 5, 1);     // matrix-vector
    check_product<TA, TB, 1, 4, Dynamic>(1, 4, 3);     // row times matrix
    check_product<TA, TB, 2, 4, Dynamic>(2, 4, 1);     // a batch of one
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
