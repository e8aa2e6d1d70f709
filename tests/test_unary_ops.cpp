// Unary operations (activations, math, scalar arithmetic): values against plain
// formulas, gradients against central finite differences, fixed and Dynamic shapes.

#include <algorithm>
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
double ref_logistic(double x) { return 1.0 / (1.0 + std::exp(-x)); }
double ref_leaky_relu(double x) { return x > 0 ? x : 0.01 * x; }
double ref_elu(double x) { return x > 0 ? x : 1.5 * std::expm1(x); }
double ref_silu(double x) { return x * ref_logistic(x); }
double ref_log1p(double x) { return std::log1p(x); }
double ref_expm1(double x) { return std::expm1(x); }
double ref_clamp(double x) { return std::clamp(x, -0.5, 0.75); }
double ref_gelu(double x) { return 0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0))); }
double ref_gelu_tanh(double x) {
    return 0.5 * x * (1.0 + std::tanh(std::sqrt(2.0 / 3.14159265358979323846) * (x + 0.044715 * x * x * x)));
}

}  // namespace

TEST_CASE("activations match their formulas and their gradients match finite differences") {
    SECTION("sigmoid") {
        check_unary_everywhere([](auto& a) { return sigmoid(a); }, ref_sigmoid);
    }
    SECTION("tanh") {
        check_unary_everywhere([](auto& a) { return tanh(a); }, ref_tanh);
    }
    SECTION("relu") {
        check_unary_everywhere([](auto& a) { return relu(a); }, ref_relu);
    }
    SECTION("softplus") {
        check_unary_everywhere([](auto& a) { return softplus(a); }, ref_softplus);
    }
    SECTION("leaky_relu, away from its kink") {
        check_unary_everywhere([](auto& a) { return leaky_relu(a); }, ref_leaky_relu, 0.1, 2.0);
        check_unary_everywhere([](auto& a) { return leaky_relu(a); }, ref_leaky_relu, -2.0, -0.1);
    }
    SECTION("elu with alpha 1.5, away from its kink") {
        check_unary_everywhere([](auto& a) { return elu(a, 1.5); }, ref_elu, 0.1, 2.0);
        check_unary_everywhere([](auto& a) { return elu(a, 1.5); }, ref_elu, -3.0, -0.1);
    }
    SECTION("silu") {
        check_unary_everywhere([](auto& a) { return silu(a); }, ref_silu, -4.0, 4.0);
    }
    SECTION("gelu") {
        check_unary_everywhere([](auto& a) { return gelu(a); }, ref_gelu, -4.0, 4.0);
    }
    SECTION("gelu_tanh") {
        check_unary_everywhere([](auto& a) { return gelu_tanh(a); }, ref_gelu_tanh, -4.0, 4.0);
    }
}

TEST_CASE("elementwise math matches its formulas and its gradients match finite differences") {
    SECTION("exp") {
        check_unary_everywhere([](auto& a) { return exp(a); }, ref_exp);
    }
    SECTION("log, on positive inputs") {
        check_unary_everywhere([](auto& a) { return log(a); }, ref_log, 0.2, 3.0);
    }
    SECTION("log1p, above -1") {
        check_unary_everywhere([](auto& a) { return log1p(a); }, ref_log1p, -0.8, 3.0);
    }
    SECTION("expm1") {
        check_unary_everywhere([](auto& a) { return expm1(a); }, ref_expm1);
    }
    SECTION("clamp to [-0.5, 0.75], away from its bounds") {
        // Inputs in [-2, 2] fall within 1e-6 of a bound with probability about 1e-6 each.
        check_unary_everywhere([](auto& a) { return clamp(a, -0.5, 0.75); }, ref_clamp);
    }
    SECTION("sqrt, on positive inputs") {
        check_unary_everywhere([](auto& a) { return sqrt(a); }, ref_sqrt, 0.2, 3.0);
    }
    SECTION("square") {
        check_unary_everywhere([](auto& a) { return square(a); }, ref_square);
    }
    SECTION("abs, away from its kink") {
        check_unary_everywhere([](auto& a) { return abs(a); }, ref_abs, 0.1, 2.0);
        check_unary_everywhere([](auto& a) { return abs(a); }, ref_abs, -2.0, -0.1);
    }
    SECTION("pow with a fractional exponent") {
        check_unary_everywhere([](auto& a) { return pow(a, 2.5); }, [](double x) { return std::pow(x, 2.5); }, 0.2,
                               3.0);
    }
    SECTION("pow with a negative exponent") {
        check_unary_everywhere([](auto& a) { return pow(a, -1.5); }, [](double x) { return std::pow(x, -1.5); }, 0.2,
                               3.0);
    }
}

TEST_CASE("scalar arithmetic on either side matches its formulas and its gradients") {
    SECTION("-a") {
        check_unary_everywhere([](auto& a) { return -a; }, [](double x) { return -x; });
    }
    SECTION("a * s") {
        check_unary_everywhere([](auto& a) { return a * 1.75; }, [](double x) { return x * 1.75; });
    }
    SECTION("s * a") {
        check_unary_everywhere([](auto& a) { return -0.5 * a; }, [](double x) { return -0.5 * x; });
    }
    SECTION("a / s") {
        check_unary_everywhere([](auto& a) { return a / 3.0; }, [](double x) { return x / 3.0; });
    }
    SECTION("s / a") {
        check_unary_everywhere([](auto& a) { return 2.0 / a; }, [](double x) { return 2.0 / x; }, 0.3, 2.0);
    }
    SECTION("a + s") {
        check_unary_everywhere([](auto& a) { return a + 0.25; }, [](double x) { return x + 0.25; });
    }
    SECTION("s - a") {
        check_unary_everywhere([](auto& a) { return 1 - a; }, [](double x) { return 1 - x; });
    }
    SECTION("a - s") {
        check_unary_everywhere([](auto& a) { return a - 4; }, [](double x) { return x - 4; });
    }
}

TEST_CASE("clamp with its bounds the wrong way round throws value_error before recording") {
    auto A = random_param<2, 2>(2, 2);
    Tape tape;
    CHECK_THROWS_AS(clamp(A, 1.0, -1.0), value_error);
    CHECK(tape.size() == 0);
}
