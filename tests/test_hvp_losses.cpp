// hvp of the losses and reductions, with a target that takes a gradient: against central
// differences of the gradient along v. (hvp's other tests: test_hvp.cpp.)

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

TEST_CASE("hvp of the losses and reductions, with a target that takes a gradient") {
    auto P = test::random_param<3, 4>(3, 4);
    auto T = test::random_param<3, 4>(3, 4, 0.1, 0.9);
    auto b = test::random_param<3, 1>(3, 1);
    const nn::ParamSet<double> params{{"P", P}, {"T", T}, {"b", b}};
    SECTION("sigmoid_cross_entropy, the target a Param") {
        check_hvp([&] { return sigmoid_cross_entropy(hadamard(P, T) + b, T); }, params);
    }
    SECTION("sigmoid_cross_entropy per example, summed") {
        check_hvp([&] { return sum(sigmoid_cross_entropy(P + b, T, Reduction::None)); }, params);
    }
    SECTION("mse") {
        check_hvp([&] { return mse(tanh(P + b), hadamard(T, T)); }, params);
    }
    SECTION("row_sum and col_sum, squared") {
        check_hvp([&] { return sum(square(row_sum(hadamard(P, T)))) + sum(exp(col_sum(tanh(P + b)))); }, params);
    }
    SECTION("mean") {
        check_hvp([&] { return mean(square(hadamard(P, T) + b)); }, params);
    }
}
