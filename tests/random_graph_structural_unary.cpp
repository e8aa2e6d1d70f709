// The random graphs' unary steps that work along an axis or over a block (softmax,
// layer_norm, where, blocks and concatenations, reshape, gather_columns, dropout): the
// Runner's steps of this kind, in a file of their own (random_graph.hpp says why).

#include <random>
#include <vector>

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

auto apply_structural_unary(int variant, const auto& a) -> Value {
    switch (variant) {
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

Value Runner::run_structural_unary(const Step& step) {
    return with_operand(step.a, [&](const auto& a) { return apply_structural_unary(step.variant, a); });
}

}  // namespace random_graph
