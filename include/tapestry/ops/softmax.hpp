#pragma once
// softmax(x) and log_softmax(x), down each column (each example's classes) or, with
// Each::Row, along each row. The line's maximum is subtracted first, so logits of
// +-1e4 are fine and -inf entries (masked classes) get probability 0 (log_softmax:
// -inf) with finite gradients elsewhere; a line that is all -inf gives NaN, as in PyTorch.
// Backward: softmax's gradient is y (g - sum(g y)) and log_softmax's g - e^y sum(g), per
// line, from the result y (log_softmax keeps e^y's parts from forward).

#include <algorithm>
#include <cstddef>
#include <type_traits>
#include <utility>

#include "tapestry/graph/evaluate.hpp"
#include "tapestry/graph/node.hpp"
#include "tapestry/kernels/column_softmax.hpp"
#include "tapestry/kernels/scratch.hpp"
#include "tapestry/operand.hpp"
#include "tapestry/ops/axis.hpp"

namespace tapestry {
namespace ops {

template <class T, bool Log>
struct Softmax {
    static constexpr const char* name = Log ? "log_softmax" : "softmax";
    Each each;
    // log_softmax, recorded: forward's e^(x - max) and each line's 1 / sum, kept on the
    // tape so that backward takes no exponential (e^y = e^(x - max) / sum); measured
    // faster than taking e^y again (docs/performance.md, issue 18).
    T* exponentials = nullptr;
    T* inverse_sums = nullptr;
    // log_softmax down columns, recorded: a gradient nll_loss handed this step
    // (take_one_entry_per_column), one entry per column, kept until backward sends it on.
    T* handed_entries = nullptr;  // memory for it, kept by forward
    const int* handed_rows = nullptr;
    const detail::TapeLife* handed_in = nullptr;  // the recording and the value's position,
    std::size_t handed_at = 0;                    // where the sweep says if it is this sweep's

    void forward(const auto& out, const auto& x) {
        auto y = out.value();
        if (y.size() == 0) return;  // no lines, or lines of no elements
        if constexpr (Log) {
            if (out.recording()) {
                exponentials = out.template keep<T>(y.size());
                inverse_sums = out.template keep<T>(each == Each::Column ? y.cols() : y.rows());
                if (each == Each::Column) handed_entries = out.template keep<T>(y.cols());
            }
        }
        detail::along_lines(
            each, [&](const auto& x, auto&& y) { normalize_columns(x, y); }, x.array(), y);
    }

    template <class X>
    void backward(const auto& dy, const auto& y, const X& x) const {
        if (y.size() == 0) return;
        if constexpr (Log) {
            if (handed_rows != nullptr && detail::holds_hand_off(handed_in, handed_at)) {
                if (!detail::holds_gradient(handed_in, handed_at)) {
                    send_handed_gradient(x);  // the only gradient y received: one pass
                    return;
                }
                // Other consumers wrote y's adjoint: the handed entries join them there
                // (this step's own memory, read once below), and go down with them.
                T* adjoint = const_cast<T*>(dy.data());
                for (Index j = 0; j < y.cols(); ++j) adjoint[j * y.rows() + handed_rows[j]] += handed_entries[j];
            }
        }
        detail::ScratchScope scratch;
        if (Log && each == Each::Row) {
            // dy - e^y c with c per row, as one expression into x's gradient: a column
            // broadcast across a column-major array runs on packets, so no scratch and no
            // second pass to add it (bench_ops log_softmax_rows)
            Eigen::Map<Eigen::Array<T, Dynamic, 1>> c(scratch.take<T>(y.rows()), y.rows());
            c = dy.rowwise().sum() * Eigen::Map<const Eigen::Array<T, Dynamic, 1>>(inverse_sums, y.rows());
            const Eigen::Map<const Eigen::Array<T, Dynamic, Dynamic>> e(exponentials, y.rows(), y.cols());
            x.backprop(dy - e.colwise() * c);
            return;
        }
        Eigen::Map<detail::KernelArray<T, X::Rows, X::Cols>> dx(scratch.take<T>(y.size()), y.rows(), y.cols());
        detail::along_lines(
            each, [&](const auto& dy, const auto& y, auto&& dx) { gradient_of_columns(scratch, dy, y, dx); }, dy, y,
            dx);
        x.backprop(dx);
    }

    // nll_loss's gradient (entries[j] at row entry_rows[j], the rest zero), offered before
    // it is written into y's adjoint: kept if it is the first gradient y receives in this
    // sweep (accept_hand_off), for backward to send on.
    bool take_one_entry_per_column(const detail::OneEntryPerColumn& gradient) {
        if (!Log || handed_entries == nullptr || !detail::accept_hand_off(gradient.life, gradient.position))
            return false;
        std::copy_n(static_cast<const T*>(gradient.entries), gradient.cols, handed_entries);
        handed_rows = gradient.entry_rows;
        handed_in = gradient.life;
        handed_at = gradient.position;
        return true;
    }

    // Forward mode, per line: y' = y (x' - sum(y x')) for softmax, x' - sum(e^y x') for
    // log_softmax.
    template <class X>
    void tangent(const auto& out, const auto& y, const X& x) const {
        if (y.size() == 0) return;
        detail::along_lines(
            each,
            [](const auto& y, const auto& dx, auto&& dy) {
                detail::ScratchScope scratch;
                Line line(scratch.take<T>(y.cols()), y.cols());
                if constexpr (Log) {
                    line = (detail::exp_of_whole_array(scratch, y) * dx).colwise().sum();
                    dy = dx - line.replicate(y.rows(), 1);
                } else {
                    line = (y * dx).colwise().sum();
                    dy = y * (dx - line.replicate(y.rows(), 1));
                }
            },
            y, x.tangent(), out.value());
    }

    // Second order, per line, with s = sum(g y) and the tangents g', y': softmax sends
    // y (g - s) and its tangent y (g' - s') + y' (g - s); log_softmax, with p = e^y and
    // S = sum(g), sends g - p S and g' - p (y' S + S').
    template <class X>
    void backward_with_tangents(const auto& dy, const auto& dy_tangent, const auto& y, const auto& y_tangent,
                                const X& x) const {
        if (y.size() == 0) return;
        detail::ScratchScope scratch;
        auto dx = scratch.array<T, X::Rows, X::Cols>(y.rows(), y.cols());
        auto dx_tangent = scratch.array<T, X::Rows, X::Cols>(y.rows(), y.cols());
        detail::along_lines(
            each,
            [](const auto& g, const auto& g_tangent, const auto& y, const auto& y_tangent, auto&& a, auto&& a_tangent) {
                detail::ScratchScope lines;
                Line s(lines.take<T>(y.cols()), y.cols()), s_tangent(lines.take<T>(y.cols()), y.cols());
                const Index n = y.rows();
                if constexpr (Log) {
                    s = g.colwise().sum();
                    s_tangent = g_tangent.colwise().sum();
                    const auto p = detail::exp_of_whole_array(lines, y);
                    a = g - p * s.replicate(n, 1);
                    a_tangent = g_tangent - p * (y_tangent * s.replicate(n, 1) + s_tangent.replicate(n, 1));
                } else {
                    s = (g * y).colwise().sum();
                    s_tangent = (g_tangent * y + g * y_tangent).colwise().sum();
                    a = y * (g - s.replicate(n, 1));
                    a_tangent = y * (g_tangent - s_tangent.replicate(n, 1)) + y_tangent * (g - s.replicate(n, 1));
                }
            },
            dy, dy_tangent, y, y_tangent, dx, dx_tangent);
        x.backprop_with_tangents(dx, dx_tangent);
    }

private:
    using Line = Eigen::Map<Eigen::Array<T, 1, Dynamic>>;

    // The handed gradient alone, sent on: dy - e^y sum(dy) is, per column,
    // entries[j] (onehot(rows[j]) - e^y), the fused cross-entropy's gradient, written into
    // x's gradient in one pass. Through y's adjoint, dy was filled with zeros, then summed,
    // scaled and added in three more passes: 1.25-1.36x the fused twin (bench_ops
    // log_softmax_nll).
    template <class X>
    void send_handed_gradient(const X& x) const {
        const auto gradient = x.gradient_sink().whole();
        if (gradient.data == nullptr) return;
        detail::write_cross_entropy_gradient(gradient.data, gradient.overwrite, exponentials, inverse_sums, handed_rows,
                                             handed_entries, x.rows(), x.cols());
    }

    // y = softmax (or log_softmax) of each column of x (along rows, x and y are transposed
    // views). Each step is a loop over the whole array in its storage order, or a
    // reduction per column, by Eigen or by a plain loop where a column is shorter than a
    // packet (kernels/column_softmax.hpp). A masked class's exponential is exactly 0, so
    // its probability is 0 and log_softmax's backward passes its dy on exactly (where the
    // line's sum of dy is finite; otherwise NaN, as in PyTorch).
    void normalize_columns(const auto& x, auto&& y) {
        detail::ScratchScope scratch;
        Line line(scratch.take<T>(x.cols()), x.cols());
        if constexpr (Log) {
            auto e = detail::map_like(y, exponentials != nullptr ? exponentials : scratch.take<T>(y.size()));
            Line max(scratch.take<T>(x.cols()), x.cols());
            // Lines across storage (along rows): e^(x - max) as exponentials_of_lines takes
            // it, and y from x at the end. Down storage: x - max written into y once, each
            // short column in one visit, then read by the exponential and the subtraction.
            constexpr bool across_storage = (std::remove_cvref_t<decltype(y)>::Flags & Eigen::RowMajorBit) != 0;
            if constexpr (across_storage) {
                detail::exponentials_of_lines(x, max, e);
            } else {
                detail::shift_by_column_max(x, max, y);
                e = detail::exp_underflow_to_zero(y);
            }
            detail::sum_of_each_column(e, line);
            if (inverse_sums != nullptr) Line(inverse_sums, x.cols()) = line.inverse();
            line = line.log();  // alone: a row of sums is contiguous, the partial sums' expression is not
            // (x - max) - log(sum), in that order: x - max is exact near the maximum, where
            // x - (max + log(sum)) would round at logits of 1e4
            if constexpr (across_storage)
                detail::write_per_column(line, y,
                                         [&](Index i, Index j, T log_sum) { return (x(i, j) - max(j)) - log_sum; });
            else
                detail::subtract_per_column(y, line, y);
        } else {
            detail::exponentials_of_lines(x, line, y);
            detail::reduce_then_write_per_column<detail::ColumnSum>(
                y, line, y, [](Index, T sum) { return T(1) / sum; },
                [&](Index i, Index j, T inverse_sum) { return y(i, j) * inverse_sum; });
        }
    }

    // The gradient with respect to each column of x, from the result's gradient dy:
    // dy - e^y sum(dy) for log_softmax, y (dy - sum(dy y)) for softmax.
    void gradient_of_columns(detail::ScratchScope& scratch, const auto& dy, const auto& y, auto&& dx) const {
        Line line(scratch.take<T>(y.cols()), y.cols());
        if constexpr (Log) {
            // e^y = e^(x - max) / sum, both kept by forward (a step is recorded only then)
            const auto e = detail::map_like(y, static_cast<const T*>(exponentials));
            detail::reduce_then_write_per_column<detail::ColumnSum>(
                dy, line, dx, [&](Index j, T sum) { return sum * inverse_sums[j]; },
                [&](Index i, Index j, T c) { return dy(i, j) - e(i, j) * c; });
        } else {
            detail::reduce_then_write_per_column<detail::ColumnSum>(
                dy * y, line, dx, detail::unchanged,
                [&](Index i, Index j, T dot) { return y(i, j) * (dy(i, j) - dot); });
        }
    }
};

template <bool Log, Operand X>
auto softmax_node(X&& x, Each each) {
    const auto leaf = detail::as_leaf(as_expression(std::forward<X>(x)));
    using L = decltype(leaf);
    using T = typename L::Scalar;
    return detail::make_node<Var<T, L::Rows, L::Cols>>(Softmax<T, Log>{each}, leaf.rows(), leaf.cols(), leaf);
}

}  // namespace ops

// e^x / sum(e^x) down each column (or along each row with Each::Row): probabilities.
template <Operand X>
auto softmax(X&& x, Each each = Each::Column) {
    return ops::softmax_node<false>(std::forward<X>(x), each);
}

// x - log(sum(e^x)) down each column (or along each row): log-probabilities, for nll_loss.
template <Operand X>
auto log_softmax(X&& x, Each each = Each::Column) {
    return ops::softmax_node<true>(std::forward<X>(x), each);
}

}  // namespace tapestry
