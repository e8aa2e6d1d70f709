// hvp through every transpose combination of a product, row broadcasts and one-sided
// binary ops, in float against double, and on a product large enough to be cut among
// threads: against central differences of the gradient along v. (hvp's other tests:
// test_hvp.cpp.)

#include <algorithm>
#include <cmath>
#include <cstddef>

#include <catch2/catch.hpp>

#include <tapestry/functional/hvp.hpp>
#include <tapestry/functional/jvp.hpp>
#include <tapestry/tapestry.hpp>

#include "derivative_checks.hpp"
#include "helpers.hpp"

using namespace tapestry;
using test::check_hvp;
using test::gradient_difference;
using test::MessageContains;
using test::relative_difference;

TEST_CASE("hvp through every transpose combination of a product, row broadcasts, one-sided binary ops") {
    auto W = test::random_param<3, 4>(3, 4);
    auto V = test::random_param<5, 4>(5, 4);
    auto r = test::random_param<1, 4>(1, 4, 0.5, 1.5);
    const Eigen::MatrixXd c = test::random_matrix(3, 4, 0.5, 1.5);
    const nn::ParamSet<double> params{{"W", W}, {"V", V}, {"r", r}};
    SECTION("W Vᵀ, W's product with a transposed Param") {
        check_hvp([&] { return sum(tanh(W * V.transpose())); }, params);
    }
    SECTION("Wᵀ times a computed value, inside which W Vᵀ") {
        check_hvp([&] { return sum(sigmoid(W.transpose() * (W * V.transpose()))); }, params);
    }
    SECTION("both operands transposed leaves") {
        check_hvp([&] { return sum(square(V.transpose().transpose() * W.transpose())) / 10.0; }, params);
    }
    SECTION("a row broadcast down the rows, and a 1x1 broadcast") {
        check_hvp([&] { return sum(softplus(hadamard(W, W) + r)) + sum(exp(W + sum(r) / 4.0)); }, params);
    }
    SECTION("binary ops where only one side takes a gradient") {
        check_hvp(
            [&] {
                return sum(divide(constant(c), W + 2.0)) + sum(divide(W, constant(c))) +
                       sigmoid_cross_entropy(constant(c), tanh(W) * 0.4 + 0.5) + sum(hadamard(constant(c), square(W)));
            },
            params);
    }
    SECTION("where with a constant branch") {
        const Eigen::Array<bool, 3, 4> mask = test::random_matrix(3, 4).array() > 0;
        check_hvp([&] { return sum(square(where(mask, exp(W), 2.0))); }, params);
    }
}

TEST_CASE("hvp in float agrees with double; a large product cut among threads agrees with differences") {
    SECTION("float") {
        const Eigen::MatrixXd w0 = test::random_matrix(4, 5), x = test::random_matrix(5, 3);
        Param<double, 4, 5> Wd(w0);
        Param<float, 4, 5> Wf(w0.cast<float>());
        const Eigen::VectorXd v = test::random_matrix(20, 1);
        const auto d = hvp([&] { return sum(sigmoid(Wd * constant(x))); }, nn::ParamSet<double>{{"W", Wd}}, v);
        const Eigen::MatrixXf xf = x.cast<float>();
        const auto f = hvp([&] { return sum(sigmoid(Wf * constant(xf))); }, nn::ParamSet<float>{{"W", Wf}},
                           Eigen::VectorXf(v.cast<float>()));
        CHECK((f.product.cast<double>() - d.product).cwiseAbs().maxCoeff() < 1e-5);
    }
    SECTION("300 x 200, in pieces for threads") {
        Param<double, Dynamic, Dynamic> W(test::random_matrix(300, 200, -0.1, 0.1));
        const Eigen::MatrixXd x = test::random_matrix(200, 40);
        const nn::ParamSet<double> params{{"W", W}};
        check_hvp([&] { return mean(softplus(W * constant(x))) + mean(square(W)); }, params);
    }
}
