#pragma once
// Elementwise losses, mse and sigmoid_cross_entropy: a 1x1 Var averaged over the
// elements by default, summed with Reduction::Sum, or one per example (a 1 x B row of
// each column's sum) with Reduction::None. Each is one fused loop forward and
// one backward (an elementwise node consumed by a sum), except sigmoid_cross_entropy
// summed or averaged, whose forward also keeps its derivative for backward (below). A
// target may be a Var (usually a constant()) or an Eigen matrix.

#include <type_traits>
#include <utility>

#include "tapestry/kernels/logistic_loss.hpp"
#include "tapestry/kernels/vectorised_math.hpp"
#include "tapestry/ops/arithmetic.hpp"
#include "tapestry/ops/constant.hpp"
#include "tapestry/ops/elementwise.hpp"
#include "tapestry/ops/loss_reduction.hpp"
#include "tapestry/ops/math.hpp"
#include "tapestry/ops/sum.hpp"

namespace tapestry {

namespace diagnostic {
template <class PredictionShape, class TargetShape>
struct loss_needs_prediction_and_target_of_the_same_shape;
}  // namespace diagnostic

namespace ops {

// max(x, 0) - x t + log1p(e^-|x|) is log(1 + e^x) - x t without overflow for any finite x.
struct SigmoidCrossEntropy {
    static constexpr const char* name = "sigmoid_cross_entropy";
    auto forward(const auto& x, const auto& t) const {
        using T = typename std::decay_t<decltype(x)>::Scalar;
        return x.max(T(0)) - x * t + detail::log1p_exp_minus_abs(x);
    }
    auto backward_left(const auto& g, const auto& x, const auto& t) const { return g * (x.logistic() - t); }
    auto backward_right(const auto& g, const auto& x, const auto&) const { return -g * x; }
    auto curvature_left(const auto& g, const auto& x, const auto&, const auto& dx, const auto& dt) const {
        using T = typename std::decay_t<decltype(x)>::Scalar;
        return g * (x.logistic() * (T(1) - x.logistic()) * dx - dt);
    }
    auto curvature_right(const auto& g, const auto&, const auto&, const auto& dx, const auto&) const { return -g * dx; }
};

// The same loss summed (times `scale`) into one value, as one node whose forward keeps
// sigmoid(y) - t for its backward: one pass over the logits that computes e^-|y| once
// for both (kernels/logistic_loss.hpp), where the fused form above computes it again in
// backward, from the logits read again (issue 23). Taken for operands stored column by
// column, with columns of at least four packets (detail::one_pass_reads_down_columns,
// long_columns), and first order only: a recording made for forward mode or second order
// takes the fused form, whose rules those sweeps use.
template <class T>
struct SigmoidCrossEntropySum {
    static constexpr const char* name = "sigmoid_cross_entropy";
    T scale;
    const T* derivative = nullptr;  // sigmoid(y) - t, on the tape

    template <class L, class Tg>
    void forward(const auto& out, const L& logits, const Tg& targets) {
        if (!out.recording()) {
            out.data()[0] = scale * detail::parallel_sigmoid_cross_entropy_and_derivative(
                                        logits.array(), targets.array(), detail::NoDerivative{});
            return;
        }
        T* kept = out.template keep<T>(logits.rows() * logits.cols());
        out.data()[0] = scale * detail::parallel_sigmoid_cross_entropy_and_derivative(logits.array(), targets.array(),
                                                                                      derivative_map<L>(kept, logits));
        derivative = kept;
    }
    template <class L, class Tg>
    void backward(const auto& dy, const auto&, const L& logits, const Tg& targets) const {
        const T g = scale * dy(0, 0);
        if (logits.needs_grad()) logits.backprop(g * derivative_map<L>(derivative, logits));
        if (targets.needs_grad()) targets.backprop(-g * logits.array());
    }

private:
    template <class L, class P>
    static auto derivative_map(P* data, const L& logits) {
        using Array = detail::KernelArray<T, L::Rows, L::Cols>;
        using Map = Eigen::Map<std::conditional_t<std::is_const_v<P>, const Array, Array>>;
        return Map(data, logits.rows(), logits.cols());
    }
};

}  // namespace ops

namespace detail {

// Whether sigmoid_cross_entropy's one pass (SigmoidCrossEntropySum) takes a loss of these
// operands: it reads the logits and targets, and writes its derivative, down columns a
// packet at a time, so all three must be stored column by column (a transposed operand,
// or a short fixed row, is not) ...
template <class E>
constexpr bool one_pass_reads_down_columns() {
    using L = decltype(std::declval<const E&>().left().kernel_form());
    using Tg = decltype(std::declval<const E&>().right().kernel_form());
    using LogitsArray = std::remove_cvref_t<decltype(std::declval<const L&>().array())>;
    using TargetsArray = std::remove_cvref_t<decltype(std::declval<const Tg&>().array())>;
    return !LogitsArray::IsRowMajor && !TargetsArray::IsRowMajor &&
           !KernelArray<typename E::Scalar, L::Rows, L::Cols>::IsRowMajor;
}
// ... and its columns must be long enough (four packets) to be read that way: shorter ones,
// a binary classifier's 1 x B row, are summed better by the fused form, as one line.
template <class T>
bool long_columns(Index rows) {
    return rows >= 4 * Index(Eigen::internal::packet_traits<T>::size);
}

// A target given as an Eigen matrix becomes a constant leaf; an operand stays itself.
template <class Target>
auto as_target(Target&& target) {
    if constexpr (Operand<Target>)
        return as_expression(std::forward<Target>(target));
    else
        return as_expression(constant(target));
}

// a (op) b for a prediction and a target: the shapes must be equal, no broadcasting.
template <class Op, LazyExpression A, LazyExpression B>
auto same_shape(const char* name, Op op, A a, B b) {
    if constexpr (!same_scalar<A, B>) {
        report_scalar_mismatch<A, B>();
        return a;
    } else if constexpr (!shape_rules::agree(A::Rows, B::Rows) || !shape_rules::agree(A::Cols, B::Cols)) {
        diagnostic::report<diagnostic::loss_needs_prediction_and_target_of_the_same_shape<Shape<A::Rows, A::Cols>,
                                                                                          Shape<B::Rows, B::Cols>>>();
        return a;
    } else {
        if (a.rows() != b.rows() || a.cols() != b.cols())
            throw_shape_error(name, a.rows(), a.cols(), b.rows(), b.cols(), "prediction and target need equal shapes");
        return BinaryExpr<Op, A, B>(op, std::move(a), std::move(b));
    }
}

template <LazyExpression E>
auto reduce(const E& e, Reduction reduction) {
    return scaled_sum(e, reduction_scale<typename E::Scalar>(reduction, e.rows() * e.cols()));
}

template <LazyExpression E>
auto reduce(const E& e, NoReduction) {
    return col_sum(e);
}

}  // namespace detail

// Mean (or sum) of (prediction - target)^2.
template <Operand P, class Target, class R = Reduction>
    requires std::is_same_v<R, Reduction> || std::is_same_v<R, NoReduction>
auto mse(P&& prediction, Target&& target, R reduction = Reduction::Mean) {
    auto diff = detail::same_shape("mse", ops::Subtract{}, as_expression(std::forward<P>(prediction)),
                                   detail::as_target(std::forward<Target>(target)));
    return detail::reduce(detail::unary(ops::Square{}, std::move(diff)), reduction);
}

// Binary cross-entropy of sigmoid(logits) against targets in [0, 1], computed from
// the logits so that it stays finite for any finite input.
template <Operand L, class Target, class R = Reduction>
    requires std::is_same_v<R, Reduction> || std::is_same_v<R, NoReduction>
auto sigmoid_cross_entropy(L&& logits, Target&& target, R reduction = Reduction::Mean) {
    auto elementwise_loss =
        detail::same_shape("sigmoid_cross_entropy", ops::SigmoidCrossEntropy{}, as_expression(std::forward<L>(logits)),
                           detail::as_target(std::forward<Target>(target)));
    using E = decltype(elementwise_loss);
    if constexpr (std::is_same_v<R, Reduction> && detail::is_binary_expr_of<ops::SigmoidCrossEntropy, E>) {
        if constexpr (detail::one_pass_reads_down_columns<E>()) {
            using T = typename E::Scalar;
            const detail::Recording* recording = detail::Recording::active();
            if (detail::long_columns<T>(elementwise_loss.rows()) &&
                (recording == nullptr || !recording->with_tangents())) {
                const T scale =
                    detail::reduction_scale<T>(reduction, elementwise_loss.rows() * elementwise_loss.cols());
                return detail::make_node<Var<T, 1, 1>>(ops::SigmoidCrossEntropySum<T>{scale}, 1, 1,
                                                       elementwise_loss.left(), elementwise_loss.right());
            }
        }
    }
    return detail::reduce(elementwise_loss, reduction);
}

}  // namespace tapestry
