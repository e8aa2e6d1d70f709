// The backward step of a fused elementwise expression in one pass for all its operands
// (expr/one_pass.hpp): against finite differences, and against the recursive path, which
// the same expression takes when one operand is read through a double transpose (a node
// the walk does not take). Column lengths leave tiles of a packet and single rows at the
// end of each column, in float and double.

#include <vector>

#include <catch2/catch.hpp>

#include "helpers.hpp"

using namespace tapestry;
using test::gradient_tolerance;
using test::random_matrix;

namespace {

// Every Param's gradient after one backward sweep of f() on a fresh tape, concatenated.
template <class F, class... P>
Eigen::VectorXd gradients_after_one_sweep(F&& f, P&... params) {
    Tape tape;
    (params.zero_grad(), ...);
    tape.backward(f());
    std::vector<double> all;
    (
        [&] {
            for (Index i = 0; i < params.grad().size(); ++i) all.push_back(double(params.grad().data()[i]));
        }(),
        ...);
    return Eigen::Map<const Eigen::VectorXd>(all.data(), Index(all.size()));
}

// The dense operands are read as they are (the walk takes the expression), or each
// through a view the walk does not take, so that every node above it takes the recursive
// path (a subtree without a dense operand may still be walked).
const auto as_it_is = [](const auto& x) -> const auto& { return x; };
const auto through_a_double_transpose = [](const auto& x) { return x.transpose().transpose(); };

}  // namespace

TEST_CASE("one pass: a normal log-density, with y used twice and 1x1s broadcast, as the recursive path") {
    for (const Index n : {1, 5, 16, 1003}) {
        Param<double, Dynamic, 1> y(random_matrix(n, 1, -2, 2));
        Param<double, 1, 1> mu(random_matrix(1, 1)), sigma(random_matrix(1, 1, 0.5, 2));
        const auto density = [&](const auto& read) {
            return sum(square(hadamard(read(y) - mu, 1.0 / sigma)) + hadamard(read(y), read(y)) * 0.25) -
                   log(sigma) * 2.0;
        };
        const auto walked = gradients_after_one_sweep([&] { return density(as_it_is); }, y, mu, sigma);
        const auto recursive =
            gradients_after_one_sweep([&] { return density(through_a_double_transpose); }, y, mu, sigma);
        CHECK(walked.isApprox(recursive, 1e-13));
        // Over 1003 values, finite differences of the sum are too coarse for the tolerance.
        if (n < 100) CHECK(gradcheck([&] { return density(as_it_is); }, y, mu, sigma) < gradient_tolerance);
    }
}

TEST_CASE("one pass: a bias column and a row broadcast over a computed Var used twice, as the recursive path") {
    for (const auto& [rows, cols] : {std::pair<Index, Index>{2, 3}, {9, 4}, {37, 5}}) {
        Param<double, Dynamic, Dynamic> W(random_matrix(rows, 6)), x(random_matrix(6, cols));
        Param<double, Dynamic, 1> b(random_matrix(rows, 1));
        Param<double, 1, Dynamic> r(random_matrix(1, cols));
        const Eigen::MatrixXd weights = random_matrix(rows, cols);
        const auto loss = [&](const auto& read) {
            Var<double, Dynamic, Dynamic> h = W * x;  // its adjoint is written first by the walk
            return sum(hadamard(tanh(read(h) + b) + hadamard(read(h), read(h)) - hadamard(r, read(h)),
                                constant(weights))) +
                   sum(h) * 0.5;
        };
        const auto walked = gradients_after_one_sweep([&] { return loss(as_it_is); }, W, x, b, r);
        const auto recursive = gradients_after_one_sweep([&] { return loss(through_a_double_transpose); }, W, x, b, r);
        CHECK(walked.isApprox(recursive, 1e-13));
        // The loss sums up to 185 terms: at the default step of 1e-6 its rounding is noise
        // of about 1e-6 of a gradient of 1e-3 (1.2e-6 in a -O3 -march=native build, whose
        // contracted multiply-adds round f differently).
        GradcheckOptions wider_step;
        wider_step.step = 1e-5;
        CHECK(gradcheck(
                  wider_step, [&] { return loss(as_it_is); }, W, x, b, r) < gradient_tolerance);
    }
}

TEST_CASE("one pass: constants take nothing, and a second sweep without zero_grad adds to the first") {
    Param<double, Dynamic, Dynamic> P(random_matrix(11, 3));
    Param<double, 1, 1> s(random_matrix(1, 1));
    const Eigen::MatrixXd M = random_matrix(11, 3);
    const auto loss = [&] { return sum(hadamard(square(P - constant(M)), s + constant(M))); };
    const auto once = gradients_after_one_sweep(loss, P, s);
    CHECK(gradcheck(loss, P, s) < gradient_tolerance);
    Tape tape;
    tape.backward(loss());  // P and s hold `once`: this sweep adds to it
    Eigen::VectorXd twice(once.size());
    twice << P.grad().reshaped(), s.grad().reshaped();
    CHECK(twice.isApprox(2 * once, 1e-14));
}

TEST_CASE("one pass: float, with tails of each packet width, as double") {
    for (const Index rows : {3, 17, 35}) {
        const Eigen::MatrixXd a = random_matrix(rows, 3), m = random_matrix(1, 1);
        Param<float, Dynamic, Dynamic> Af(a.cast<float>());
        Param<float, 1, 1> mf(m.cast<float>());
        Param<double, Dynamic, Dynamic> Ad(a);
        Param<double, 1, 1> md(m);
        Tape tape;
        tape.backward(sum(sigmoid(hadamard(Af - mf, Af))));
        tape.clear();
        tape.backward(sum(sigmoid(hadamard(Ad - md, Ad))));
        CHECK(Af.grad().cast<double>().isApprox(Ad.grad(), 1e-5));
        CHECK(double(mf.grad()(0, 0)) == Approx(md.grad()(0, 0)).epsilon(1e-5));
    }
}

TEST_CASE("one pass: a fused node's unary root uses its stored value, as the recursive path") {
    for (const Index rows : {4, 33, 70}) {
        Param<double, Dynamic, Dynamic> A(random_matrix(rows, 3));
        Param<double, 1, 1> m(random_matrix(1, 1));
        const Eigen::MatrixXd weights = random_matrix(rows, 3);
        const auto loss = [&](const auto& read) {
            Var<double, Dynamic, Dynamic> v = sigmoid(hadamard(read(A) - m, read(A)));  // one node
            return sum(hadamard(v, constant(weights)));
        };
        const auto walked = gradients_after_one_sweep([&] { return loss(as_it_is); }, A, m);
        const auto recursive = gradients_after_one_sweep([&] { return loss(through_a_double_transpose); }, A, m);
        CHECK(walked.isApprox(recursive, 1e-13));
        CHECK(gradcheck([&] { return loss(as_it_is); }, A, m) < gradient_tolerance);
    }
}

TEST_CASE("one pass: empty batches, with a row and a column repeated over them") {
    Param<double, Dynamic, Dynamic> A(Eigen::MatrixXd(40, 0));
    Param<double, 1, Dynamic> r(Eigen::MatrixXd(1, 0));
    Param<double, Dynamic, 1> b(random_matrix(40, 1));
    Param<double, 1, 1> s(random_matrix(1, 1));
    Tape tape;
    tape.backward(sum(hadamard(A + r, A) + hadamard(hadamard(A + b, A), s)));
    CHECK(A.grad().size() == 0);
    CHECK(r.grad().size() == 0);
    CHECK(b.grad().isZero());
    CHECK(s.grad().isZero());
}

TEST_CASE("one pass: gelu inside a walked expression, as the recursive path") {
    for (const Index rows : {5, 40}) {
        Param<double, Dynamic, Dynamic> A(random_matrix(rows, 3, -3, 3)), B(random_matrix(rows, 3, 0.5, 1.5));
        Param<double, Dynamic, Dynamic> C(random_matrix(rows, 3)), D(random_matrix(rows, 3));
        const auto loss = [&](const auto& read) {
            return sum(hadamard(gelu(hadamard(read(A), read(B)) + read(C)), read(D)));  // four leaves: walked
        };
        const auto walked = gradients_after_one_sweep([&] { return loss(as_it_is); }, A, B, C, D);
        const auto recursive = gradients_after_one_sweep([&] { return loss(through_a_double_transpose); }, A, B, C, D);
        CHECK(walked.isApprox(recursive, 1e-13));
        CHECK(gradcheck([&] { return loss(as_it_is); }, A, B, C, D) < gradient_tolerance);
    }
}

// In the walk, a rule given its value is taken at a stored root, and not for a value the
// walk computed (which would cost f where the parent's rule may not read it).
TEST_CASE("one pass: backward_given_value at a stored root only") {
    Param<double, Dynamic, Dynamic> A(random_matrix(40, 3)), B(random_matrix(40, 3));
    Param<double, Dynamic, Dynamic> C(random_matrix(40, 3)), D(random_matrix(40, 3));
    const auto slope_of_A = [&](bool stored) {
        (A.zero_grad(), B.zero_grad(), C.zero_grad(), D.zero_grad());
        Tape tape;
        if (stored) {
            Var<double, Dynamic, Dynamic> y = test::two_rules(hadamard(A, B) + hadamard(C, D));  // four leaves: walked
            tape.backward(sum(y));
        } else {
            tape.backward(
                sum(test::two_rules(hadamard(A, B) + hadamard(C, D)) + hadamard(C, D)));  // computed in the walk
        }
        return Eigen::ArrayXXd(A.grad().array() / B.value().array());
    };
    CHECK(slope_of_A(true).isApprox(Eigen::ArrayXXd::Constant(40, 3, 3.0), 1e-12));
    CHECK(slope_of_A(false).isApprox(Eigen::ArrayXXd::Constant(40, 3, 2.0), 1e-12));
}
