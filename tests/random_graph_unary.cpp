// The random graphs' unary steps (one operand, elementwise or along an axis):
// the Runner's steps of this kind, in a file of their own (random_graph.hpp says why).

#include "random_graph.hpp"

namespace random_graph {
namespace {

// A mask of alternating true and false, for where.
Eigen::Array<bool, Dynamic, Dynamic> checkerboard(Index rows, Index cols) {
    return Eigen::Array<bool, Dynamic, Dynamic>::NullaryExpr(rows, cols,
                                                             [](Index i, Index j) { return (i + j) % 2 == 0; });
}
// Ids that repeat some columns and skip others (for an even count): j -> (2j + 1) mod n.
std::vector<int> shuffled_ids(Index n) {
    std::vector<int> ids(static_cast<std::size_t>(n));
    for (Index j = 0; j < n; ++j) ids[static_cast<std::size_t>(j)] = static_cast<int>((2 * j + 1) % n);
    return ids;
}

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
        case 19: return clamp(a, -0.5, 0.5);
        case 20: return softmax(a);
        case 21: return log_softmax(a, Each::Row);
        case 22: return layer_norm(a, 0.1);
        case 23: return where(checkerboard(as_expression(a).rows(), as_expression(a).cols()), a, square(a));
        case 24: return block(concat_rows(tanh(a), a), 1, 0, as_expression(a).rows(), as_expression(a).cols());
        case 25: return block(concat_columns(a, sigmoid(a)), 0, 1, as_expression(a).rows(), as_expression(a).cols());
        case 26: return reshape(flatten(a), as_expression(a).rows(), as_expression(a).cols());
        case 27: return gather_columns(a, shuffled_ids(as_expression(a).cols()));
        default: {  // the same mask at every evaluation, so finite differences see one function
            std::mt19937_64 rng(7);
            return dropout(a, 0.25, rng, Mode::Train);
        }
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
