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

namespace detail {
class ReusableTape;  // functional/workspace.hpp
}

class Tape : private detail::Recording {
public:
    Tape() = default;

    // Forward mode: a tape whose values each carry a tangent (functional/jvp.hpp).
    struct WithTangents {};
    explicit Tape(WithTangents) : Recording(2) {}
    // Second order: and each adjoint its tangent (functional/hvp.hpp).
    struct WithSecondOrder {};
    explicit Tape(WithSecondOrder) : Recording(3) {}

    // The tape that operations on this thread record onto, or nullptr (inference).
    static Tape* active() { return static_cast<Tape*>(detail::Recording::active()); }

    // Adds d(loss)/d(param) into grad() of every Param the loss depends on. The loss is
    // a 1x1 Var, Param or expression (evaluated first). The contributions of every use of
    // a value, or of a Param, sum up (the first one a value receives in the sweep is
    // written, the others added); a second backward() adds the same contributions to the
    // Params' gradients again.
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
            const auto parts = detail::evaluate_parts(e);
            backward_from(parts, [adjoint = parts.adjoint] { *adjoint = 1; });
        }
    }

    // Adds seedᵀ J into grad() of every Param the output depends on, J the Jacobian of
    // the output (a Var, Param or expression of any shape) with respect to the Param: the
    // gradient of sum(seed ∘ output), as PyTorch's output.backward(gradient=seed). The
    // seed is an Eigen matrix or expression of the output's shape and scalar type. One
    // output, swept with seeds that pick one element each, gives the Jacobian row by row
    // (functional/jacobian.hpp).
    template <class Output, class Seed>
    void backward(Output&& output, const Eigen::MatrixBase<Seed>& seed) {
        if constexpr (!Operand<Output>) {
            diagnostic::report<
                diagnostic::backward_takes_a_var_a_param_or_an_expression_not<std::remove_cvref_t<Output>>>();
        } else {
            using E = expression_t<Output>;
            using T = typename E::Scalar;
            if constexpr (!std::is_same_v<typename Seed::Scalar, T>) {
                diagnostic::report<
                    diagnostic::backward_needs_a_seed_of_the_outputs_scalar_type<T, typename Seed::Scalar>>();
            } else if constexpr (!shape_rules::agree(E::Rows, Seed::RowsAtCompileTime) ||
                                 !shape_rules::agree(E::Cols, Seed::ColsAtCompileTime)) {
                diagnostic::report<diagnostic::backward_needs_a_seed_of_the_outputs_shape<
                    Shape<E::Rows, E::Cols>, Shape<Seed::RowsAtCompileTime, Seed::ColsAtCompileTime>>>();
            } else {
                const auto e = as_expression(std::forward<Output>(output));
                if (e.rows() != seed.rows() || e.cols() != seed.cols())
                    detail::throw_shape_error("backward", e.rows(), e.cols(), seed.rows(), seed.cols(),
                                              "the seed must have the output's shape");
                const detail::ValueParts<T> parts = detail::evaluate_parts(e);
                backward_from(parts, [&] {
                    Eigen::Map<Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>>(parts.adjoint, parts.rows,
                                                                                 parts.cols) = seed;
                });
            }
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
    // A tape that is not active when made, and is activated, emptied, for one use at a
    // time: jvp, hvp and gnvp reuse one across calls (functional/workspace.hpp).
    friend class detail::ReusableTape;
    using Recording::Dormant;
    Tape(int blocks_per_adjoint, Dormant) : Recording(blocks_per_adjoint, Dormant{}) {}
    [[nodiscard]] detail::ActiveScope activate_emptied() {
        clear();
        forget_param_directions();
        return activate();
    }

    template <class E>
    static constexpr bool may_be_1x1 = shape_rules::agree(E::Rows, 1) && shape_rules::agree(E::Cols, 1);

    template <class T, class Seed>
    void backward_from(const detail::ValueParts<T>& output, Seed&& seed) {
        detail::verify_value(output);
        if (output.life != life())  // also an owned value's (no life)
            detail::throw_tape_error("backward: the loss (or output) was not recorded on this tape");
        if (output.adjoint == nullptr) return;  // nothing trainable upstream
        sweep_backward(output.position, seed);
    }
};

}  // namespace tapestry
