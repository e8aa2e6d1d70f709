#pragma once
// nll_loss(log_probs, labels): minus the log-probability of each column's label (one
// example per column), averaged by default, summed with Reduction::Sum, or one per
// example (a 1 x B row) with Reduction::None. With log_softmax it is
// softmax_cross_entropy in two steps, for models that read the probabilities too.

#include <span>
#include <type_traits>
#include <utility>

#include "tapestry/graph/evaluate.hpp"
#include "tapestry/graph/node.hpp"
#include "tapestry/operand.hpp"
#include "tapestry/ops/class_labels.hpp"
#include "tapestry/ops/loss_reduction.hpp"
#include "tapestry/tape/anomaly.hpp"

namespace tapestry {
namespace ops {

template <class T, bool PerExample>
struct NllLoss {
    static constexpr const char* name = "nll_loss";
    static constexpr bool piecewise_linear = true;  // linear in log_probs; second order: graph/leaf_views.hpp
    std::span<const int> labels;                    // the caller's until forward keeps a copy for backward
    T scale;
    // The step that may have made log_probs, which backward offers its gradient first
    // (log_softmax sends it straight to the logits: Node::take_one_entry_per_column).
    detail::Node* maker = nullptr;

    void forward(const auto& out, const auto& log_probs) {
        if constexpr (requires { log_probs.parts(); }) maker = out.step_that_may_have_made(log_probs.parts());
        const auto values = log_probs.array();
        const Index examples = values.cols();
        int* kept = out.template keep<int>(examples);
        T total = 0;
        for (Index j = 0; j < examples; ++j) {
            kept[j] = labels[j];
            if constexpr (PerExample)
                out.data()[j] = -values(labels[j], j);
            else
                total -= values(labels[j], j);
        }
        if constexpr (!PerExample) out.data()[0] = scale * total;
        labels = {kept, labels.size()};
    }

    // Only the labelled entries receive a gradient, -(the example's weight): added into
    // those alone (the operand is a leaf), not as a pass of mostly zeros over every class.
    template <class L>
    void backward(const auto& dy, const auto&, const L& log_probs) const {
        if constexpr (requires { log_probs.parts(); }) {  // a Var, not a view of one in second order
            if (maker != nullptr && hand_to_maker(dy, log_probs.parts())) return;
        }
        const detail::GradientSink<T> sink = log_probs.gradient_sink();
        if (!sink.wanted()) return;
        T* gradient = sink.memory_to_add_into();
        const Index classes = log_probs.rows();
        for (Index j = 0; j < log_probs.cols(); ++j)
            gradient[j * classes + labels[j]] -= detail::example_weight<PerExample>(dy, scale, j);
    }
    // Forward mode: minus the labelled entries' tangents, reduced as the loss is.
    void tangent(const auto& out, const auto&, const auto& log_probs) const {
        const auto dx = log_probs.tangent();
        T total = 0;
        for (Index j = 0; j < dx.cols(); ++j) {
            if constexpr (PerExample)
                out.data()[j] = -dx(labels[j], j);
            else
                total -= dx(labels[j], j);
        }
        if constexpr (!PerExample) out.data()[0] = scale * total;
    }

private:
    // The gradient with respect to log_probs, -(each example's weight) at its label, offered
    // to the step that made them: true if it took it.
    bool hand_to_maker(const auto& dy, const detail::ValueParts<T>& log_probs) const {
        const Index examples = static_cast<Index>(labels.size());
        detail::ScratchScope scratch;
        T* entries = scratch.take<T>(examples);
        for (Index j = 0; j < examples; ++j) entries[j] = -detail::example_weight<PerExample>(dy, scale, j);
        // In anomaly mode a gradient that is not finite is written as usual, so that this
        // step's check names nll_loss before anything reaches the logits; a finite one is
        // handed off in either mode, which computes the same.
        if (detail::detecting_anomalies() &&
            !Eigen::Map<const Eigen::Array<T, Dynamic, 1>>(entries, examples).allFinite())
            return false;
        return maker->take_one_entry_per_column({log_probs.value, log_probs.rows, log_probs.cols, log_probs.life,
                                                 log_probs.position, labels.data(), entries});
    }
};

}  // namespace ops

template <Operand P>
auto nll_loss(P&& log_probs, std::span<const int> labels, Reduction reduction = Reduction::Mean) {
    return detail::labelled_loss<ops::NllLoss, false>("nll_loss", as_expression(std::forward<P>(log_probs)), labels,
                                                      reduction);
}

template <Operand P>
auto nll_loss(P&& log_probs, std::span<const int> labels, NoReduction) {
    return detail::labelled_loss<ops::NllLoss, true>("nll_loss", as_expression(std::forward<P>(log_probs)), labels,
                                                     Reduction::Sum);
}

// Labels as any Eigen integer vector.
template <Operand P, class Derived, class R = Reduction>
    requires std::is_same_v<typename Derived::Scalar, int>
auto nll_loss(P&& log_probs, const Eigen::DenseBase<Derived>& labels, R reduction = Reduction::Mean) {
    const auto contiguous = detail::contiguous_indices(labels);
    return nll_loss(std::forward<P>(log_probs), std::span<const int>(contiguous.data(), contiguous.size()), reduction);
}

}  // namespace tapestry
