#pragma once
// softmax(x) and log_softmax(x), down each column (each example's classes) or, with
// Each::Row, along each row. The line's maximum is subtracted first, so logits of
// +-1e4 are fine and -inf entries (masked classes) get probability 0 (log_softmax:
// -inf) with finite gradients elsewhere; a line that is all -inf gives NaN, as in PyTorch.
// Backward: softmax's gradient is y (g - sum(g y)) and log_softmax's g - e^y sum(g), per
// line, from the result y (log_softmax keeps e^y's parts from forward).

#include <cmath>
#include <limits>
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
    // Whether forward saw a masked class (-inf): only then do the passes for them run.
    bool any_masked = false;
    // log_softmax, recorded: forward's e^(x - max) and each line's 1 / sum, kept on the
    // tape so that backward takes no exponential (e^y = e^(x - max) / sum); measured
    // faster than taking e^y again (docs/performance.md, issue 18).
    T* exponentials = nullptr;
    T* inverse_sums = nullptr;

    void forward(const auto& out, const auto& x) {
        auto y = out.value();
        if (y.size() == 0) return;  // no lines, or lines of no elements
        if constexpr (Log) {
            if (out.recording()) {
                exponentials = out.template keep<T>(y.size());
                inverse_sums = out.template keep<T>(each == Each::Column ? y.cols() : y.rows());
            }
        }
        detail::along_lines(
            each, [&](const auto& x, auto&& y) { normalize_columns(x, y); }, x.array(), y);
        if constexpr (!Log) {
            if (any_masked) exactly_zero_where_masked(x.array().data(), out.data(), out.rows() * out.cols());
        }
    }

    template <class X>
    void backward(const auto& dy, const auto& y, const X& x) const {
        if (y.size() == 0) return;
        detail::ScratchScope scratch;
        Eigen::Map<detail::KernelArray<T, X::Rows, X::Cols>> dx(scratch.take<T>(y.size()), y.rows(), y.cols());
        detail::along_lines(
            each, [&](const auto& dy, const auto& y, auto&& dx) { gradient_of_columns(scratch, dy, y, dx); }, dy, y,
            dx);
        if (Log && any_masked) {  // a masked class (y = -inf) passes dy on unchanged, exactly
            for (Index k = 0; k < y.size(); ++k)
                if (y.data()[k] == -std::numeric_limits<T>::infinity()) dx.data()[k] = dy.data()[k];
        }
        x.backprop(dx);
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
        if constexpr (Log) {  // a masked class passes dy and its tangent on unchanged, as in backward
            for (Index k = 0; k < y.size(); ++k) {
                if (y.data()[k] == -std::numeric_limits<T>::infinity()) {
                    dx.data()[k] = dy.data()[k];
                    dx_tangent.data()[k] = dy_tangent.data()[k];
                }
            }
        }
        x.backprop_with_tangents(dx, dx_tangent);
    }

private:
    using Line = Eigen::Map<Eigen::Array<T, 1, Dynamic>>;

    // y = softmax (or log_softmax) of each column of x (along rows, x and y are transposed
    // views). Each step is a loop over the whole array in its storage order, or a
    // reduction per column, by Eigen or by a plain loop where a column is shorter than a
    // packet (kernels/column_softmax.hpp).
    void normalize_columns(const auto& x, auto&& y) {
        detail::ScratchScope scratch;
        Line line(scratch.take<T>(x.cols()), x.cols());
        detail::shift_by_column_max(x, line, y);
        any_masked = detail::may_hold_minus_infinity(y.data(), y.size());
        if constexpr (Log) {
            auto e = detail::map_like(y, exponentials != nullptr ? exponentials : scratch.take<T>(y.size()));
            e = y.exp();
            detail::sum_of_each_column(e, line);
            if (inverse_sums != nullptr) Line(inverse_sums, x.cols()) = line.inverse();
            line = line.log();  // alone: a row of sums is contiguous, the partial sums' expression is not
            detail::subtract_per_column(y, line, y);
        } else {
            y = y.exp();
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

    // Eigen's vectorised exp clamps its argument, so e^-inf comes out as 6e-309 (float:
    // 3e-39): a masked class (x = -inf) is given its probability of exactly 0 here, unless
    // its whole line is masked (NaN, left as it is). The cross-entropy's kernel does the
    // same (kernels/column_softmax.hpp), but here a pass after the whole normalisation
    // measured faster than that kernel's column by column shift (bench_ops softmax at
    // B = 256: 5.3 against 5.9 us).
    static void exactly_zero_where_masked(const T* x, T* y, Index size) {
        for (Index k = 0; k < size; ++k)
            if (x[k] == -std::numeric_limits<T>::infinity() && !std::isnan(y[k])) y[k] = T(0);
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
