#pragma once
// backward(): seeds d(loss)/d(loss) = 1 and runs the recorded steps in reverse,
// from the loss's own node down to the first. Each step adds (+=) into its inputs'
// adjoints, so contributions from every use of a value, or of a Param, sum up.

#include "tapestry/expr/materialize.hpp"

namespace tapestry {

template <class L>
void Tape::backward(L&& loss) {
    static_assert(Operand<L>, "Tape::backward takes a Var, a Param or an expression");
    using E = expression_t<L>;
    if constexpr (!shape_rules::agree(E::Rows, 1) || !shape_rules::agree(E::Cols, 1)) {
        diagnostic::report<diagnostic::backward_needs_a_1x1_loss_but_got_shape<Shape<E::Rows, E::Cols>>>();
    } else {
        auto e = as_expression(std::forward<L>(loss));
        if (e.rows() != 1 || e.cols() != 1)
            detail::throw_shape_error("backward", e.rows(), e.cols(), 1, 1, "the loss must be 1x1");
        backward_from(evaluate(e));
    }
}

template <class T, int R, int C>
void Tape::backward_from(const Var<T, R, C>& loss) {
    loss.verify();
    if (loss.tape_identity() != this) detail::throw_tape_error("backward: the loss was not recorded on this tape");
    if (!loss.requires_grad()) return;  // nothing trainable upstream
    // Adjoints start at zero for every sweep, so a second backward() gives the same
    // contributions again (and Param grads, outside the arena, keep adding up).
    adjoints_.zero_used();
    *loss.adjoint_data() = T(1);
    for (std::size_t i = loss.position(); i-- > 0;) nodes_[i]->backward();
}

}  // namespace tapestry
