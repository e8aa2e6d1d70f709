// The activations whose second order test_hvp_elementwise.cpp checks (one binary,
// several files: tests/CMakeLists.txt says why).

#include <tapestry/tapestry.hpp>

#include "elementwise_ops.hpp"

using namespace tapestry;

namespace test {

ElementwiseOps activations(const ElementwiseOperands& operands) {
    // The lambdas capture the references: they refer to the test's Params ([expr.prim.lambda.capture]).
    auto& P = operands.P;
    auto& Q = operands.Q;
    return {
        {"sigmoid", [&] { return evaluate(sigmoid(hadamard(P, Q) - 1.0)); }},
        {"tanh", [&] { return evaluate(tanh(hadamard(P, Q) - 1.0)); }},
        {"relu", [&] { return evaluate(relu(hadamard(P, Q) - 1.5)); }},
        {"leaky_relu", [&] { return evaluate(leaky_relu(hadamard(P, Q) - 1.5, 0.1)); }},
        {"elu", [&] { return evaluate(elu(hadamard(P, Q) - 1.5, 0.7)); }},
        {"silu", [&] { return evaluate(silu(hadamard(P, Q) - 1.5)); }},
        {"softplus", [&] { return evaluate(softplus(hadamard(P, Q) - 1.5)); }},
        {"gelu", [&] { return evaluate(gelu(hadamard(P, Q) - 1.5)); }},
        {"gelu_tanh", [&] { return evaluate(gelu_tanh(hadamard(P, Q) - 1.5)); }},
    };
}

}  // namespace test
