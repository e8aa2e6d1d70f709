// jvp and hvp of layer_norm, with and without its scale and shift, and of batch_norm in
// training, each Param read more than once. (The other operations:
// test_derivatives_of_ops.cpp.)

#include <random>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include <tapestry/functional/gnvp.hpp>
#include <tapestry/nn/batch_norm.hpp>
#include <tapestry/tapestry.hpp>

#include "derivative_checks.hpp"
#include "helpers.hpp"

using namespace tapestry;
using test::check_hvp;
using test::check_jvp;
using test::relative_difference;
using test::scalar_of;

TEST_CASE("jvp and hvp of layer_norm, with and without its scale and shift, and of batch_norm in training") {
    auto P = test::random_param<5, 4>(5, 4);
    Param<double, Dynamic, Dynamic> Q(test::random_matrix(5, 4));
    Param<double, 5, 1> gamma(test::random_matrix(5, 1, 0.5, 1.5));
    Param<double, Dynamic, 1> beta(test::random_matrix(5, 1));
    const nn::ParamSet<double> params{{"P", P}, {"Q", Q}, {"gamma", gamma}, {"beta", beta}};
    check_jvp([&] { return layer_norm(hadamard(P, Q) + P); }, params);
    check_jvp([&] { return layer_norm(hadamard(P, Q) + P, gamma, beta, 0.1); }, params);
    check_hvp([&] { return scalar_of(layer_norm(hadamard(P, Q) + P)); }, params);
    check_hvp([&] { return scalar_of(layer_norm(hadamard(P, Q) + P, gamma, beta, 0.1)); }, params);
    // gamma read by the norm and beside it.
    check_hvp([&] { return sum(hadamard(layer_norm(tanh(P) + Q, gamma, beta), P)) + sum(square(gamma)); }, params);
    nn::BatchNorm<double, 5> norm(5);
    const nn::ParamSet<double> with_norm{{"P", P}, {"Q", Q}, {"scale", norm.scale}, {"shift", norm.shift}};
    norm.scale.value() = test::random_matrix(5, 1, 0.5, 1.5);
    norm.shift.value() = test::random_matrix(5, 1);
    check_jvp([&] { return norm(hadamard(P, Q) + P, Mode::Train); }, with_norm);
    check_hvp([&] { return scalar_of(norm(hadamard(P, Q) + P, Mode::Train)); }, with_norm);
}
