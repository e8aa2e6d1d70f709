// jvp and hvp of the views block, concat and gather_columns, each Param read more than
// once, in fixed and Dynamic shapes. (The other operations: test_derivatives_of_ops.cpp.)

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

TEST_CASE("jvp and hvp of blocks, concatenations and gathered columns") {
    auto P = test::random_param<4, 5>(4, 5);
    Param<double, Dynamic, Dynamic> Q(test::random_matrix(4, 5));
    const nn::ParamSet<double> params{{"P", P}, {"Q", Q}};
    const std::vector<int> ids{4, 0, 4, 2};  // one column twice
    SECTION("of Params, read in place") {
        check_jvp([&] { return block<2, 3>(P, 1, 1) + tanh(block(Q, 2, 2, 2, 3)); }, params);
        check_jvp([&] { return concat_rows(P, Q) * 2.0; }, params);
        check_jvp([&] { return gather_columns(P, ids) - hadamard(gather_columns(Q, ids), gather_columns(P, ids)); },
                  params);
        check_hvp([&] { return scalar_of(block<2, 3>(P, 1, 1) + block(Q, 0, 2, 2, 3)); }, params);
        check_hvp([&] { return scalar_of(concat_columns(P, Q)) + sum(hadamard(col(P, 1), tanh(col(Q, 2)))); }, params);
        check_hvp([&] { return scalar_of(row(Q, 1)) * sum(row(P, 3)); }, params);
        check_hvp([&] { return scalar_of(gather_columns(P, ids)) + sum(square(gather_columns(Q, ids))); }, params);
    }
    SECTION("of computed values") {
        check_jvp([&] { return concat_columns(hadamard(P, Q), tanh(P)); }, params);
        check_hvp([&] { return scalar_of(concat_rows(hadamard(P, Q), tanh(P))); }, params);
        check_hvp([&] { return scalar_of(block<3, 2>(hadamard(P, Q), 1, 3)); }, params);
        check_hvp([&] { return scalar_of(gather_columns(tanh(P) + Q, ids)); }, params);
    }
}
