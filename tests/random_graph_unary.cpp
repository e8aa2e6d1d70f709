// The random graphs' elementwise unary steps (one operand), and batch norm's: the
// Runner's steps of this kind, in a file of their own (random_graph.hpp says why). The
// unary steps along an axis or over a block: random_graph_structural_unary.cpp.

#include "random_graph.hpp"

namespace random_graph {
namespace {

auto apply_unary(int variant, const auto& a) -> Value {
    switch (variant) {
        case 0: return sigmoid(2.0 * a - 1.0);
        case 1: return tanh(a);
        case 2: return relu(a);
        case 3: return softplus(a);
        case 4: return exp(-square(a));
        case 5: return log(square(a) + 0.5);
        case 6: return sqrt(square(a) + 0.25);
        case 7: return pow(square(a) + 0.5, 1.5);
        case 8: return abs(a);
        case 9: return 3.0 / (square(a) + 1.0);
        case 10: return 0.5 - a / 4.0;
        case 11: return square(tanh(a));
        case 12: return exp(a);
        case 13: return leaky_relu(a, 0.1);
        case 14: return elu(a);
        case 15: return silu(a);
        case 16: return gelu(a);
        case 17: return log1p(square(a));
        case 18: return expm1(a / 2.0);
        default: return clamp(a, -0.5, 0.5);
    }
}

}  // namespace

// Batch norm's layer (its scale and shift Params) outlives the step's recording: one
// per step, kept across runs. Its running statistics change each run; its output in
// training mode does not depend on them.
Value Runner::batch_norm(const Step& step) {
    auto& layer = batch_norms_[&step];
    if (!layer) layer = std::make_unique<nn::BatchNorm<double, Dynamic>>(step.rows, 0.1, 0.1);
    return (*layer)(as_value(step.a), Mode::Train);
}

Value Runner::run_unary(const Step& step) {
    return with_operand(step.a, [&](const auto& a) { return apply_unary(step.variant, a); });
}

}  // namespace random_graph
