// The random graphs' elementwise steps (two operands of one shape):
// the Runner's steps of this kind, in a file of their own (random_graph.hpp says why).

#include "random_graph.hpp"

namespace random_graph {
namespace {

auto apply_elementwise(int variant, const auto& a, const auto& b) -> Value {
    switch (variant) {
        case 0: return a + b;
        case 1: return a - b;
        case 2: return hadamard(a, b);
        case 3: return divide(a, square(b) + 1.0);
        case 4: return tanh(hadamard(a, b) + a);
        case 5: return hadamard(softplus(a), exp(-square(b)));
        case 6: return maximum(a, b);
        default: return minimum(tanh(a), b);
    }
}

}  // namespace

Value Runner::run_elementwise(const Step& step) {
    return with_operand(step.a, [&](const auto& a) {
        return with_operand(step.b, [&](const auto& b) { return apply_elementwise(step.variant, a, b); });
    });
}

}  // namespace random_graph
