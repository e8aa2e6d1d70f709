// The random graphs' products, reductions and losses:
// the Runner's steps of this kind, in a file of their own (random_graph.hpp says why).

#include "random_graph.hpp"

namespace random_graph {
namespace {

auto apply_reduction(int variant, const auto& a) -> Value {
    switch (variant) {
        case 0: return sum(a);
        case 1: return mean(a);
        case 2: return row_sum(a);
        case 3: return col_sum(a);
        case 4: return row_sum(square(a));
        case 5: return mean(sigmoid(a));
        case 6: return col_max(a);
        default: return row_min(a);
    }
}

}  // namespace

Value Runner::as_value(const Operand& o) {
    return with_gemm_operand(o, [](const auto& x) -> Value { return x; });
}

Value Runner::run_product(const Step& step) {
    return with_gemm_operand(step.a, [&](const auto& a) {
        return with_gemm_operand(step.b, [&](const auto& b) -> Value { return a * b; });
    });
}

Value Runner::run_reduction(const Step& step) {
    return with_operand(step.a, [&](const auto& a) { return apply_reduction(step.variant, a); });
}

Value Runner::run_loss(const Step& step) {
    const Value a = as_value(step.a);
    if (step.variant == loss_with_labels)
        return softmax_cross_entropy(a, graph_.labels[static_cast<std::size_t>(step.b.index)]);
    if (step.variant == nll_loss_with_labels)
        return nll_loss(log_softmax(a), graph_.labels[static_cast<std::size_t>(step.b.index)]);
    if (step.variant == loss_with_trainable_target)
        return with_operand(step.b, [&](const auto& b) -> Value { return mse(a, b); });
    const Matrix& b = graph_.constants[static_cast<std::size_t>(step.b.index)];
    switch (step.variant) {
        case 0: return mse(a, b);
        case 2: return sigmoid_cross_entropy(a, b);
        default: return sum(hadamard(a, constant(b)));
    }
}

}  // namespace random_graph
