// Second order through every elementwise operation: hvp(f, params, v) against central
// differences of the gradient along v, each op reading a Param twice, in fixed and
// Dynamic shapes. The operations are listed in three files (elementwise_ops.hpp); the
// math ones here. (hvp's other tests: test_hvp.cpp.)

#include <catch2/catch.hpp>

#include <tapestry/functional/hvp.hpp>
#include <tapestry/tapestry.hpp>

#include "derivative_checks.hpp"
#include "elementwise_ops.hpp"
#include "helpers.hpp"

using namespace tapestry;
using test::check_hvp;

namespace test {

ElementwiseOps math_operations(const ElementwiseOperands& operands) {
    // The lambdas capture the references: they refer to the test's Params ([expr.prim.lambda.capture]).
    auto& P = operands.P;
    auto& Q = operands.Q;
    return {
        {"exp", [&] { return evaluate(exp(hadamard(P, Q) - 1.0)); }},
        {"log", [&] { return evaluate(log(hadamard(P, Q))); }},
        {"log1p", [&] { return evaluate(log1p(hadamard(P, Q) - 0.2)); }},
        {"expm1", [&] { return evaluate(expm1(hadamard(P, Q) - 1.0)); }},
        {"sqrt", [&] { return evaluate(sqrt(hadamard(P, Q))); }},
        {"square", [&] { return evaluate(square(hadamard(P, Q) - 1.0)); }},
        {"abs", [&] { return evaluate(abs(hadamard(P, Q) - 1.5)); }},
        {"pow", [&] { return evaluate(pow(hadamard(P, Q), 2.5)); }},
        {"clamp", [&] { return evaluate(clamp(hadamard(P, Q), 0.8, 2.0)); }},
    };
}

}  // namespace test

TEST_CASE("hvp of every elementwise op, each reading a Param twice, in fixed and Dynamic shapes") {
    // Positive values for the ops defined on them; each f reads P in the op and again beside it.
    auto P = test::random_param<3, 4>(3, 4, 0.5, 2.0);
    Param<double, Dynamic, Dynamic> Q(test::random_matrix(3, 4, 0.5, 2.0));
    const nn::ParamSet<double> params{{"P", P}, {"Q", Q}};
    const Eigen::Array<bool, 3, 4> mask = test::random_matrix(3, 4).array() > 0;
    const test::ElementwiseOperands operands{P, Q, mask};
    test::ElementwiseOps ops = test::activations(operands);
    for (auto& more : {test::math_operations(operands), test::arithmetic_and_selection(operands)})
        ops.insert(ops.end(), more.begin(), more.end());
    REQUIRE(ops.size() == 27);
    for (const auto& [name, make] : ops) {
        SECTION(name) {
            // The op's value times a function of P: its curvature meets the product's.
            const auto& op = make;  // a structured binding cannot be captured before C++20's P1091 in clang 14
            check_hvp([&] { return sum(hadamard(op(), tanh(P)) + square(op())); }, params);
        }
    }
}
