#pragma once
// Tape: records while it lives. Constructing one makes it the active tape of this
// thread; operations on Params and Vars record onto it, and backward(loss) sweeps the
// recording in reverse, adding d(loss)/d(param) into every Param's grad().
//
//   Tape tape;
//   tape.backward(mse(W * x + b, y));   // W.grad() and b.grad() += their gradients
//   tape.clear();                       // the next step reuses the memory

#include <cstddef>
#include <type_traits>
#include <utility>

#include "tapestry/core/diagnostics.hpp"
#include "tapestry/core/errors.hpp"
#include "tapestry/graph/evaluate.hpp"
#include "tapestry/operand.hpp"
#include "tapestry/tape/recording.hpp"

namespace tapestry {

class Tape : private detail::Recording {
public:
    Tape() = default;

    // The tape that operations on this thread record onto, or nullptr (inference).
    static Tape* active() { return static_cast<Tape*>(detail::Recording::active()); }

    // Adds d(loss)/d(param) into grad() of every Param the loss depends on. The loss is
    // a 1x1 Var, Param or expression (evaluated first). Each recorded step adds (+=)
    // into its inputs' adjoints, so the contributions of every use of a value, or of a
    // Param, sum up; a second backward() adds the same contributions again.
    template <class Loss>
    void backward(Loss&& loss) {
        if constexpr (!Operand<Loss>) {
            diagnostic::report<
                diagnostic::backward_takes_a_var_a_param_or_an_expression_not<std::remove_cvref_t<Loss>>>();
        } else if constexpr (!may_be_1x1<expression_t<Loss>>) {
            using E = expression_t<Loss>;
            diagnostic::report<diagnostic::backward_needs_a_1x1_loss_but_got_shape<Shape<E::Rows, E::Cols>>>();
        } else {
            const auto e = as_expression(std::forward<Loss>(loss));
            if (e.rows() != 1 || e.cols() != 1)
                detail::throw_shape_error("backward", e.rows(), e.cols(), 1, 1, "the loss must be 1x1");
            backward_from(detail::evaluate_parts(e));
        }
    }

    // Drops every recorded step and invalidates every Var recorded so far; keeps the memory.
    void clear() { Recording::clear(); }

    // Number of recorded backward steps.
    std::size_t size() const { return Recording::size(); }

    // What the current recording occupies, in bytes: the values with the backward
    // steps' captured state (one arena), and the adjoints (the other).
    struct Usage {
        std::size_t values_and_steps;
        std::size_t adjoints;
    };
    Usage bytes_used() const { return {values_bytes_used(), adjoints_bytes_used()}; }

    // Heap memory the tape holds (arenas and step index), whether used or kept for reuse.
    std::size_t bytes() const { return bytes_reserved(); }

private:
    template <class E>
    static constexpr bool may_be_1x1 = shape_rules::agree(E::Rows, 1) && shape_rules::agree(E::Cols, 1);

    template <class T>
    void backward_from(const detail::ValueParts<T>& loss) {
        detail::verify_value(loss);
        if (loss.life != life())  // also an owned value's (no life)
            detail::throw_tape_error("backward: the loss was not recorded on this tape");
        if (loss.adjoint == nullptr) return;  // nothing trainable upstream
        sweep_backward(loss.adjoint, loss.position);
    }
};

}  // namespace tapestry
