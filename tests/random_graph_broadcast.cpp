// The random graphs' broadcast steps (an RxC operand with a column, a row or a 1x1):
// the Runner's steps of this kind, in a file of their own (random_graph.hpp says why).

#include "random_graph.hpp"

namespace random_graph {
namespace {

auto apply_broadcast(int variant, const auto& a, const auto& b) -> Value {
    switch (variant) {
        case 0: return a + b;
        case 1: return a - b;
        case 2: return hadamard(a, b);
        case 3: return sigmoid(a + b);
        case 4: return divide(a, square(b) + 1.0);
        default:
            // (Compiled for every pair of types; drawn only for a column of a's rows.)
            if constexpr (expression_t<decltype(b)>::Cols == 1 &&
                          shape_rules::agree(expression_t<decltype(a)>::Rows, expression_t<decltype(b)>::Rows))
                return layer_norm(a, b, tanh(b), 0.1);
            else
                throw std::logic_error("layer_norm's scale and shift must be columns");
    }
}

}  // namespace

Value Runner::run_broadcast(const Step& step) {
    return with_operand(step.a, [&](const auto& a) {
        return with_repeated(step.b, step.rows, step.cols,
                             [&](const auto& b) { return apply_broadcast(step.variant, a, b); });
    });
}

}  // namespace random_graph
