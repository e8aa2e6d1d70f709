// The scalar arithmetic, the binary elementwise operations, maximum, minimum and where
// whose second order test_hvp_elementwise.cpp checks (one binary, several files:
// tests/CMakeLists.txt says why).

#include <tapestry/tapestry.hpp>

#include "elementwise_ops.hpp"

using namespace tapestry;

namespace test {

ElementwiseOps arithmetic_and_selection(const ElementwiseOperands& operands) {
    // The lambdas capture the references: they refer to the test's Params ([expr.prim.lambda.capture]).
    auto& P = operands.P;
    auto& Q = operands.Q;
    const auto& mask = operands.mask;
    return {
        {"negate", [&] { return evaluate(-hadamard(P, Q)); }},
        {"scale", [&] { return evaluate(3.0 * hadamard(P, Q)); }},
        {"divide_by_scalar", [&] { return evaluate(hadamard(P, Q) / 3.0); }},
        {"scalar_over", [&] { return evaluate(2.0 / hadamard(P, Q)); }},
        {"shift and scalar_minus", [&] { return evaluate(2.0 - (hadamard(P, Q) + 1.0)); }},
        {"divide", [&] { return evaluate(divide(P + 0.5, Q)); }},
        {"maximum", [&] { return evaluate(maximum(P, Q)); }},
        {"minimum", [&] { return evaluate(minimum(P, Q) - P); }},
        {"where", [&] { return evaluate(where(mask, hadamard(P, P), exp(Q))); }},
    };
}

}  // namespace test
