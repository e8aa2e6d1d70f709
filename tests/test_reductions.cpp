// Reductions, and float alongside double.

#include <cmath>
#include <limits>
#include <utility>

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

TEST_CASE("prod and log_sum_exp match Eigen and their gradients, also with the operand used twice") {
    for_each_shape([]<int R, int C>(Index rows, Index cols) {
        auto A = random_param<R, C>(rows, cols, 0.5, 1.5);
        const Eigen::ArrayXXd a = A.value().array();
        INFO("shape " << rows << "x" << cols);
        CHECK(prod(A).value()(0, 0) == Approx(a.prod()).epsilon(1e-14));
        CHECK(log_sum_exp(A).value()(0, 0) == Approx(std::log(a.exp().sum())).epsilon(1e-14));
        CHECK(gradcheck([&] { return prod(A); }, A) < gradient_tolerance);
        CHECK(gradcheck([&] { return log_sum_exp(A); }, A) < gradient_tolerance);
        // A non-leaf operand, and the same Param inside and outside
        CHECK(gradcheck([&] { return prod(sigmoid(A)) + log_sum_exp(hadamard(A, A)) * sum(A); }, A) <
              gradient_tolerance);
    });
}

TEST_CASE("prod's gradient is the product of the other elements, also at zeros") {
    const Eigen::VectorXd base = test::random_away_from_zero(6, 1);
    const auto product_of_others = [](const Eigen::VectorXd& v, Index skip) {
        double p = 1;
        for (Index i = 0; i < v.size(); ++i)
            if (i != skip) p *= v(i);
        return p;
    };
    for (int zeros = 0; zeros <= 3; ++zeros) {
        Eigen::VectorXd v = base;
        for (int z = 0; z < zeros; ++z) v(2 * z + 1) = 0.0;
        Param<double, Dynamic, 1> x(v);
        {
            Tape tape;
            tape.backward(prod(x) * 3.0);
        }
        INFO(zeros << " zeros");
        for (Index i = 0; i < v.size(); ++i) CHECK(x.grad()(i) == Approx(3.0 * product_of_others(v, i)).margin(1e-15));
    }
}

TEST_CASE("prod and its gradient hold where the running product underflows or overflows") {
    // No element is 0, yet 1e-200 * 1e-200 underflows: the product of the others of
    // element 0 is 1e-200 * 3, representable. Below: the other way round, and a zero
    // among factors whose running product overflows (inf * 0 would be NaN).
    {
        Param<double, 3, 1> x(Eigen::Vector3d(1e-200, 1e-200, 3.0));
        Tape tape;
        auto p = prod(x);
        CHECK(p.value()(0, 0) == 0.0);  // 3e-400 is below the smallest double
        tape.backward(p);
        CHECK(x.grad()(0) == Approx(3e-200).epsilon(1e-14));
        CHECK(x.grad()(1) == Approx(3e-200).epsilon(1e-14));
        CHECK(x.grad()(2) == 0.0);  // 1e-400
    }
    {
        Param<double, 3, 1> x(Eigen::Vector3d(1e300, -1e300, 1e-300));
        Tape tape;
        auto p = prod(x);
        CHECK(p.value()(0, 0) == Approx(-1e300).epsilon(1e-14));
        tape.backward(p * 2.0);
        CHECK(x.grad()(0) == Approx(-2.0).epsilon(1e-14));
        CHECK(x.grad()(1) == Approx(2.0).epsilon(1e-14));
        CHECK(x.grad()(2) == -std::numeric_limits<double>::infinity());  // -2e600
    }
    {
        // 7e-320 is subnormal (about 14 significant bits): p / x_i would give the
        // gradients of elements 0 and 1 (7e-20 and 7e-300) with relative errors near 1e-4.
        Param<double, 3, 1> x(Eigen::Vector3d(1e-300, 1e-20, 7.0));
        Tape tape;
        auto p = prod(x);
        CHECK(p.value()(0, 0) == Approx(7e-320).epsilon(1e-3));
        tape.backward(p);
        CHECK(x.grad()(0) == Approx(1e-20 * 7.0).epsilon(1e-14));
        CHECK(x.grad()(1) == Approx(1e-300 * 7.0).epsilon(1e-14));
        CHECK(x.grad()(2) == Approx(1e-300 * 1e-20).epsilon(1e-3));  // subnormal itself
    }
    {
        Eigen::VectorXf v(5);
        v << 1e30f, 1e30f, 0.0f, 1e-30f, 4e-30f;
        Param<float, Dynamic, 1> x(v);
        Tape tape;
        auto p = prod(x);
        CHECK(p.value()(0, 0) == 0.0f);
        tape.backward(p);
        CHECK(x.grad()(2) == Approx(4.0f).epsilon(1e-6));
        for (Index i : {0, 1, 3, 4}) CHECK(x.grad()(i) == 0.0f);
    }
}

TEST_CASE("log_sum_exp is stable at extreme inputs and its gradient is the softmax") {
    for (double big : {1e4, -1e4, 700.0, -745.0}) {
        Eigen::VectorXd v(4);
        v << big, big, big - 1.0, big + 2.0;
        Param<double, 4, 1> x(v);
        Tape tape;
        auto f = log_sum_exp(x);
        const double shifted = std::log(std::exp(-2.0) + std::exp(-2.0) + std::exp(-3.0) + 1.0);
        INFO("inputs near " << big);
        CHECK(f.value()(0, 0) == Approx(big + 2.0 + shifted).epsilon(1e-15));
        tape.backward(f);
        const Eigen::ArrayXd softmax = (v.array() - (big + 2.0)).exp() / std::exp(shifted);
        CHECK(x.grad().array().isApprox(softmax, 1e-14));
    }
    Param<float, 3, 1> all_minus_infinity(Eigen::Vector3f::Constant(-std::numeric_limits<float>::infinity()));
    CHECK(log_sum_exp(all_minus_infinity).value()(0, 0) == -std::numeric_limits<float>::infinity());
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

TEMPLATE_TEST_CASE(
    "a sum of a transcendental per element, read once into one accumulator, is the sum at every column length", "",
    float, double) {
    // Columns of 1 to 100 rows reach every end of kernels/parallel.hpp's column loop
    // (whole packets and, where the instruction set has them, a half and a quarter
    // packet, then single values) for packets of 2 to 16 values; columns of fewer than
    // four packets are read as one column. The reference sums the C library's values in
    // long double.
    using T = TestType;
    for (Index rows = 1; rows <= 100; ++rows) {
        const Index cols = 3;
        const Eigen::Matrix<T, Dynamic, Dynamic> w = random_matrix(rows, cols).template cast<T>();
        Param<T, Dynamic, Dynamic> p(w);
        Tape tape;
        auto loss = sum(log1p(exp(p)));
        static_assert(detail::costly_to_recompute<decltype(as_expression(log1p(exp(p))).array())>);
        long double expected = 0;
        for (Index j = 0; j < cols; ++j)
            for (Index i = 0; i < rows; ++i) expected += std::log1p(std::exp(static_cast<long double>(w(i, j))));
        INFO(rows << " rows");
        const T tolerance = T(8) * std::numeric_limits<T>::epsilon() * static_cast<T>(expected);
        CHECK(std::abs(static_cast<long double>(loss.value()(0, 0)) - expected) <= tolerance);
        tape.backward(loss);
        const Eigen::Matrix<T, Dynamic, Dynamic> logistic = (T(1) / (T(1) + (-w.array()).exp())).matrix();
        CHECK(p.grad().isApprox(logistic, T(16) * std::numeric_limits<T>::epsilon()));
    }
}

TEST_CASE("a float sum of ten million elements keeps its digits, in every shape the kernel reads") {
    // Summed element after element in 16 to 64 lanes, 10^7 times 0.1f came out 0.07% low;
    // the blocks of a cascade (kernels/cascade_sum.hpp) keep the error near a block's.
    // Tall columns (blocks within a column), short columns (blocks across columns), a row
    // (read as one column) and a transcendental per element (one accumulator); row_sum and
    // col_sum along rows and columns of up to 10^7 elements.
    const Index count = 10'000'000;
    const auto relative_error = [](float value, double expected) { return std::abs(value - expected) / expected; };
    for (const auto& [rows, cols] : {std::pair<Index, Index>{count, 1}, {10'000, 1'000}, {10, 1'000'000}, {1, count}}) {
        INFO(rows << " x " << cols);
        const Eigen::MatrixXf tenths = Eigen::MatrixXf::Constant(rows, cols, 0.1f);
        const double expected = double(0.1f) * double(count);
        CHECK(relative_error(sum(constant(tenths)).value()(0, 0), expected) < 1e-6);
        CHECK(relative_error(mean(constant(tenths)).value()(0, 0), double(0.1f)) < 1e-6);
        const auto worst_error = [](const auto& sums, double expected) {
            return ((sums.template cast<double>().array() - expected).abs() / expected).maxCoeff();
        };
        CHECK(worst_error(row_sum(constant(tenths)).value(), double(0.1f) * double(cols)) < 1e-6);
        CHECK(worst_error(col_sum(constant(tenths)).value(), double(0.1f) * double(rows)) < 1e-6);
        // Random values of both signs: the reference in double.
        Eigen::MatrixXf mixed = Eigen::MatrixXf::Random(rows, cols).array() + 0.25f;
        const double mixed_expected = mixed.cast<double>().sum();
        CHECK(relative_error(sum(constant(mixed)).value()(0, 0), mixed_expected) < 1e-6);
        // exp: a transcendental per element, summed into one accumulator as it is read
        const Eigen::MatrixXf logs = tenths.array().log();
        const double exp_expected = logs.array().exp().cast<double>().sum();
        CHECK(relative_error(sum(exp(constant(logs))).value()(0, 0), exp_expected) < 1e-6);
        // A transposed view (row-major: summed through its transpose), the column sums of
        // one as its transpose's row sums, and columns without linear access (a broadcast
        // column added) whose single elements are added one at a time.
        const auto tenths_var = constant(tenths);
        CHECK(relative_error(sum(tenths_var.transpose()).value()(0, 0), expected) < 1e-6);
        CHECK(worst_error(col_sum(tenths_var.transpose()).value(), double(0.1f) * double(cols)) < 1e-6);
        const auto zero_column = constant(Eigen::VectorXf::Zero(rows));
        CHECK(relative_error(sum(tenths_var + zero_column).value()(0, 0), expected) < 1e-6);
        // sigmoid_cross_entropy's own kernel (kernels/logistic_loss.hpp): log(2) per element
        const Eigen::MatrixXf zeros = Eigen::MatrixXf::Zero(rows, cols);
        const double log_2_each =
            sigmoid_cross_entropy(constant(zeros.block(0, 0, 1, 1)), zeros.block(0, 0, 1, 1)).value()(0, 0);
        CHECK(relative_error(sigmoid_cross_entropy(constant(zeros), zeros, Reduction::Sum).value()(0, 0),
                             log_2_each * double(count)) < 1e-6);
    }
}
