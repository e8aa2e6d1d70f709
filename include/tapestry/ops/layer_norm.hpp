#pragma once
// layer_norm(x, gamma, beta, eps): each column (an example) standardised over its rows
// (features), (x - mean) / sqrt(variance + eps) with the biased variance as PyTorch's,
// then scaled by gamma and shifted by beta (R x 1 Params, broadcast over the batch).
// layer_norm(x, eps) is the standardisation alone. A constant column gives zeros.

#include <cmath>
#include <string>
#include <utility>

#include "tapestry/core/errors.hpp"
#include "tapestry/graph/evaluate.hpp"
#include "tapestry/graph/node.hpp"
#include "tapestry/kernels/scratch.hpp"
#include "tapestry/operand.hpp"
#include "tapestry/ops/arithmetic.hpp"
#include "tapestry/ops/axis.hpp"

namespace tapestry {
namespace detail {

// One column of ScaledLayerNorm's backward in two passes over it, where Eigen expressions
// took five: the first adds dy * xhat and dy into the scale's and shift's gradients and
// sums g = dy * gamma and g * xhat; the second adds (g - mean(g) - xhat mean(g xhat)) / sigma
// into dx (if dx is not null). xhat = (x - mean) / sigma is recomputed in each.
// (Eigen's packet types as template arguments: see sum_of_elements in kernels/parallel.hpp.)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wignored-attributes"
template <class T>
void layer_norm_column_backward(const T* x, const T* dy, const T* gamma, T mean, T inverse_sigma, Index rows,
                                T* d_gamma, T* d_beta, T* dx) {
    namespace ei = Eigen::internal;
    using Packet = typename ei::packet_traits<T>::type;
    constexpr Index n = ei::unpacket_traits<Packet>::size;
    const Index in_packets = rows / n * n;
    const Packet mean_p = ei::pset1<Packet>(mean), inverse_p = ei::pset1<Packet>(inverse_sigma);
    Packet sum_g = ei::pset1<Packet>(T(0)), sum_g_xhat = sum_g;
    for (Index i = 0; i < in_packets; i += n) {
        const Packet xhat = ei::pmul(ei::psub(ei::ploadu<Packet>(x + i), mean_p), inverse_p);
        const Packet d = ei::ploadu<Packet>(dy + i);
        ei::pstoreu(d_gamma + i, ei::pmadd(d, xhat, ei::ploadu<Packet>(d_gamma + i)));
        ei::pstoreu(d_beta + i, ei::padd(ei::ploadu<Packet>(d_beta + i), d));
        const Packet g = ei::pmul(d, ei::ploadu<Packet>(gamma + i));
        sum_g = ei::padd(sum_g, g);
        sum_g_xhat = ei::pmadd(g, xhat, sum_g_xhat);
    }
    T total_g = ei::predux(sum_g), total_g_xhat = ei::predux(sum_g_xhat);
    for (Index i = in_packets; i < rows; ++i) {
        const T xhat = (x[i] - mean) * inverse_sigma, g = dy[i] * gamma[i];
        d_gamma[i] += dy[i] * xhat;
        d_beta[i] += dy[i];
        total_g += g;
        total_g_xhat += g * xhat;
    }
    if (dx == nullptr) return;
    const T mean_g = total_g / static_cast<T>(rows), mean_g_xhat = total_g_xhat / static_cast<T>(rows);
    const Packet mean_g_p = ei::pset1<Packet>(mean_g), mean_g_xhat_p = ei::pset1<Packet>(mean_g_xhat);
    for (Index i = 0; i < in_packets; i += n) {
        const Packet xhat = ei::pmul(ei::psub(ei::ploadu<Packet>(x + i), mean_p), inverse_p);
        const Packet g = ei::pmul(ei::ploadu<Packet>(dy + i), ei::ploadu<Packet>(gamma + i));
        const Packet centred = ei::psub(ei::psub(g, mean_g_p), ei::pmul(xhat, mean_g_xhat_p));
        ei::pstoreu(dx + i, ei::pmadd(inverse_p, centred, ei::ploadu<Packet>(dx + i)));
    }
    for (Index i = in_packets; i < rows; ++i) {
        const T xhat = (x[i] - mean) * inverse_sigma, g = dy[i] * gamma[i];
        dx[i] += inverse_sigma * (g - mean_g - xhat * mean_g_xhat);
    }
}
#pragma GCC diagnostic pop

}  // namespace detail

namespace ops {

// y = (x - mean) / sigma along each column (Each::Column: layer norm) or each row
// (Each::Row: batch norm's training mode); backward, with y the result and g its adjoint,
// dx = (g - mean(g) - y mean(g y)) / sigma along the same lines.
template <class T>
struct Standardize {
    static constexpr const char* name = "standardize";
    T eps;
    Each each = Each::Column;
    // If set, forward writes each line's mean and biased variance here (batch norm's
    // running statistics are updated from them).
    T* means = nullptr;
    T* variances = nullptr;
    T* inverse_sigma = nullptr;  // one per line, kept for backward

    void forward(const auto& out, const auto& x) {
        auto y = out.value();
        if (y.size() == 0) return;  // no lines, or lines of no elements
        if (each == Each::Column) {
            inverse_sigma = out.template keep<T>(y.cols());
            standardize_columns(x.array(), y);
        } else {
            inverse_sigma = out.template keep<T>(y.rows());
            auto y_rows = y.transpose();
            standardize_columns(x.array().transpose(), y_rows);
        }
    }

    template <class X>
    void backward(const auto& dy, const auto& y, const X& x) const {
        if (y.size() == 0 || !x.needs_grad()) return;
        if (each == Each::Column) {  // added column by column straight into x's gradient: one pass
            Eigen::Map<detail::KernelArray<T, X::Rows, X::Cols>> dx(x.gradient_sink().memory_to_add_into(), y.rows(),
                                                                    y.cols());
            for (Index j = 0; j < y.cols(); ++j) {
                const T mean_g = dy.col(j).mean(), mean_gy = (dy.col(j) * y.col(j)).mean();
                dx.col(j) += inverse_sigma[j] * (dy.col(j) - mean_g - y.col(j) * mean_gy);
            }
            return;
        }
        // Along rows: whole-array operations on the R x 1 statistics.
        detail::ScratchScope scratch;
        Eigen::Map<detail::KernelArray<T, X::Rows, X::Cols>> dx(scratch.take<T>(y.size()), y.rows(), y.cols());
        Eigen::Map<Eigen::Array<T, Dynamic, 1>> mean_g(scratch.take<T>(y.rows()), y.rows()),
            mean_gy(scratch.take<T>(y.rows()), y.rows());
        const Eigen::Map<const Eigen::Array<T, Dynamic, 1>> inverse(inverse_sigma, y.rows());
        mean_g = dy.rowwise().mean();
        mean_gy = (dy * y).rowwise().mean();
        dx = (dy - mean_g.rowwise().replicate(y.cols()) - y * mean_gy.rowwise().replicate(y.cols())) *
             inverse.rowwise().replicate(y.cols());
        x.backprop(dx);
    }

    // Forward mode: the Jacobian is symmetric, so the tangent is backward's formula applied
    // to x': y' = (x' - mean(x') - y mean(y x')) / sigma along each line.
    template <class X>
    void tangent(const auto& out, const auto& y, const X& x) const {
        if (y.size() == 0) return;
        detail::along_lines(
            each,
            [&](const auto& y, const auto& dx, auto&& dy) {
                detail::ScratchScope scratch;
                const Index n = y.rows(), lines = y.cols();
                const Line inverse(inverse_sigma, lines);
                Eigen::Map<Eigen::Array<T, 1, Dynamic>> mean_dx(scratch.take<T>(lines), lines),
                    mean_y_dx(scratch.take<T>(lines), lines);
                mean_dx = dx.colwise().mean();
                mean_y_dx = (y * dx).colwise().mean();
                dy = (dx - mean_dx.replicate(n, 1) - y * mean_y_dx.replicate(n, 1)) * inverse.replicate(n, 1);
            },
            y, x.tangent(), out.value());
    }

    // Second order, per line: with a = (g - mean(g) - y mean(g y)) / sigma the adjoint sent
    // to x, and sigma' = mean(y x'), its tangent is
    // (g' - mean(g') - y mean(g' y) - y' mean(g y) - y mean(g y')) / sigma - a mean(y x') / sigma.
    template <class X>
    void backward_with_tangents(const auto& dy, const auto& dy_tangent, const auto& y, const auto& y_tangent,
                                const X& x) const {
        if (y.size() == 0) return;
        detail::ScratchScope scratch;
        auto dx = scratch.array<T, X::Rows, X::Cols>(y.rows(), y.cols());
        auto dx_tangent = scratch.array<T, X::Rows, X::Cols>(y.rows(), y.cols());
        detail::along_lines(
            each,
            [&](const auto& g, const auto& g_tangent, const auto& y, const auto& y_tangent, const auto& x_tangent,
                auto&& a, auto&& a_tangent) {
                detail::ScratchScope lines_scratch;
                const Index n = y.rows(), lines = y.cols();
                const Line inverse(inverse_sigma, lines);
                const auto line = [&] {
                    return Eigen::Map<Eigen::Array<T, 1, Dynamic>>(lines_scratch.take<T>(lines), lines);
                };
                auto mean_g = line(), mean_gy = line(), mean_gt = line(), mean_gt_y = line(), mean_g_yt = line(),
                     spread = line();
                mean_g = g.colwise().mean();
                mean_gy = (g * y).colwise().mean();
                mean_gt = g_tangent.colwise().mean();
                mean_gt_y = (g_tangent * y).colwise().mean();
                mean_g_yt = (g * y_tangent).colwise().mean();
                spread = (y * x_tangent).colwise().mean() * inverse;  // sigma' / sigma
                a = (g - mean_g.replicate(n, 1) - y * mean_gy.replicate(n, 1)) * inverse.replicate(n, 1);
                a_tangent = (g_tangent - mean_gt.replicate(n, 1) - y * mean_gt_y.replicate(n, 1) -
                             y_tangent * mean_gy.replicate(n, 1) - y * mean_g_yt.replicate(n, 1)) *
                                inverse.replicate(n, 1) -
                            a * spread.replicate(n, 1);
            },
            dy, dy_tangent, y, y_tangent, x.tangent(), dx, dx_tangent);
        x.backprop_with_tangents(dx, dx_tangent);
    }

    std::string describe(const auto& x) const {
        return std::string(each == Each::Column ? "layer_norm(" : "batch_norm(") + x.describe() + ")";
    }

private:
    using Line = Eigen::Map<const Eigen::Array<T, 1, Dynamic>>;

    void standardize_columns(const auto& values, auto& y) const {
        const Index rows = values.rows();
        for (Index j = 0; j < values.cols(); ++j) {
            const T mean = values.col(j).mean();
            y.col(j) = values.col(j) - mean;
            const T variance = y.col(j).square().sum() / static_cast<T>(rows);
            inverse_sigma[j] = T(1) / std::sqrt(variance + eps);
            y.col(j) *= inverse_sigma[j];
            if (means != nullptr) {
                means[j] = mean;
                variances[j] = variance;
            }
        }
    }
};

// layer_norm with its scale and shift: y = xhat * gamma + beta down each column, where
// xhat is the column standardised. One node rather than a standardisation followed by an
// elementwise scale and shift: backward then takes each column once, for x, gamma and
// beta together, where two nodes would write the gradient of xhat and read it back.
// xhat is not kept: backward recomputes it from x and the column's mean and 1 / sigma.
template <class T>
struct ScaledLayerNorm {
    static constexpr const char* name = "layer_norm";
    T eps;
    T* means = nullptr;  // one per column, kept for backward
    T* inverse_sigma = nullptr;

    void forward(const auto& out, const auto& x, const auto& gamma, const auto& beta) {
        auto y = out.value();
        if (y.size() == 0) return;
        means = out.template keep<T>(y.cols());
        inverse_sigma = out.template keep<T>(y.cols());
        const auto values = x.array();
        const auto scale = gamma.array().col(0);
        const auto shift = beta.array().col(0);
        const T rows = static_cast<T>(y.rows());
        for (Index j = 0; j < y.cols(); ++j) {
            means[j] = values.col(j).mean();
            const T variance = (values.col(j) - means[j]).square().sum() / rows;
            inverse_sigma[j] = T(1) / std::sqrt(variance + eps);
            y.col(j) = (values.col(j) - means[j]) * (inverse_sigma[j] * scale) + shift;
        }
    }

    // With g = dy * gamma, the gradient of xhat: dx = (g - mean(g) - xhat mean(g xhat)) / sigma,
    // dgamma = sum over columns of dy * xhat, dbeta = sum over columns of dy.
    template <class X, class Gamma, class Beta>
    void backward(const auto& dy, const auto& y, const X& x, const Gamma& gamma, const Beta& beta) const {
        if (y.size() == 0) return;
        const Index rows = y.rows();
        detail::ScratchScope scratch;
        Eigen::Map<Eigen::Array<T, Dynamic, 1>> d_gamma(scratch.take<T>(rows), rows),
            d_beta(scratch.take<T>(rows), rows);
        d_gamma.setZero();
        d_beta.setZero();
        T* const x_sink = x.needs_grad() ? x.gradient_sink().memory_to_add_into() : nullptr;
        for (Index j = 0; j < y.cols(); ++j)
            detail::layer_norm_column_backward(x.value_data() + j * rows, dy.data() + j * rows, gamma.value_data(),
                                               means[j], inverse_sigma[j], rows, d_gamma.data(), d_beta.data(),
                                               x_sink == nullptr ? nullptr : x_sink + j * rows);
        if (gamma.needs_grad()) gamma.backprop(d_gamma);
        if (beta.needs_grad()) beta.backprop(d_beta);
    }

    // Forward mode: y' = gamma xhat' + gamma' xhat + beta', where xhat' is Standardize's
    // tangent. (Second order records layer_norm as its parts: layer_norm() below.)
    template <class X, class Gamma, class Beta>
    void tangent(const auto& out, const auto&, const X& x, const Gamma& gamma, const Beta& beta) const {
        auto dy = out.value();
        if (dy.size() == 0) return;
        const auto values = x.array();
        const auto dx = x.tangent();
        const auto scale = gamma.array().col(0);
        const auto scale_tangent = gamma.tangent().col(0);
        const auto shift_tangent = beta.tangent().col(0);
        for (Index j = 0; j < dy.cols(); ++j) {
            const auto xhat = (values.col(j) - means[j]) * inverse_sigma[j];
            const T mean_dx = dx.col(j).mean(), mean_xhat_dx = (xhat * dx.col(j)).mean();
            dy.col(j) = scale * (dx.col(j) - mean_dx - xhat * mean_xhat_dx) * inverse_sigma[j] + scale_tangent * xhat +
                        shift_tangent;
        }
    }
};

}  // namespace ops

namespace diagnostic {
template <class InputShape, class GammaShape, class BetaShape>
struct layer_norm_needs_gamma_and_beta_with_one_row_per_feature;
}  // namespace diagnostic

namespace detail {
// A norm's eps in its scalar type, which must hold it as a positive finite number (1e-50
// is 0 in float, 1e39 infinite).
template <class T>
T norm_eps(const char* norm, double eps) {
    if (!(static_cast<T>(eps) > 0) || !std::isfinite(static_cast<T>(eps)))
        throw value_error(std::string(norm) + ": eps (" + std::to_string(eps) +
                          ") must be positive and finite in the scalar type");
    return static_cast<T>(eps);
}
}  // namespace detail

// Each column standardised to mean 0 and variance 1 (up to eps).
template <Operand X>
auto layer_norm(X&& x, double eps = 1e-5) {
    using T = detail::scalar_of<X>;
    const T checked_eps = detail::norm_eps<T>("layer_norm", eps);
    const auto leaf = detail::as_leaf(as_expression(std::forward<X>(x)));
    using L = decltype(leaf);
    return detail::make_node<Var<T, L::Rows, L::Cols>>(ops::Standardize<T>{checked_eps}, leaf.rows(), leaf.cols(),
                                                       leaf);
}

// Each column standardised, then scaled by gamma and shifted by beta (both R x 1).
template <Operand X, Operand Gamma, Operand Beta>
auto layer_norm(X&& x, Gamma&& gamma, Beta&& beta, double eps = 1e-5) {
    using XE = expression_t<X>;
    using GE = expression_t<Gamma>;
    using BE = expression_t<Beta>;
    static_assert(GE::Cols == 1 && BE::Cols == 1,
                  "layer_norm(x, gamma, beta): gamma and beta must be columns in their type, such as "
                  "Param<T, R, 1> or Param<T, Dynamic, 1>, to broadcast over the batch");
    using T = typename XE::Scalar;
    if constexpr (!detail::same_scalar<XE, GE>) {
        detail::report_scalar_mismatch<XE, GE>();
        return Var<T, Dynamic, Dynamic>();
    } else if constexpr (!detail::same_scalar<XE, BE>) {
        detail::report_scalar_mismatch<XE, BE>();
        return Var<T, Dynamic, Dynamic>();
    } else if constexpr (!shape_rules::agree(XE::Rows, GE::Rows) || !shape_rules::agree(XE::Rows, BE::Rows)) {
        diagnostic::report<diagnostic::layer_norm_needs_gamma_and_beta_with_one_row_per_feature<
            Shape<XE::Rows, XE::Cols>, Shape<GE::Rows, GE::Cols>, Shape<BE::Rows, BE::Cols>>>();
        return Var<T, Dynamic, Dynamic>();
    } else {
        const Index rows = as_expression(x).rows(), cols = as_expression(x).cols();
        for (const Index r : {as_expression(gamma).rows(), as_expression(beta).rows()})
            if (r != rows)
                detail::throw_shape_error("layer_norm", rows, cols, r, 1, "gamma and beta need one row per feature");
        const T checked_eps = detail::norm_eps<T>("layer_norm", eps);
        auto stored_x = detail::as_leaf(as_expression(std::forward<X>(x)));  // in this order: each may record a node
        auto stored_gamma = detail::as_leaf(as_expression(std::forward<Gamma>(gamma)));
        auto stored_beta = detail::as_leaf(as_expression(std::forward<Beta>(beta)));
        using L = decltype(stored_x);
        if constexpr (detail::second_order_compiled) {
            // Second order: recorded as its parts, the standardisation and an elementwise
            // scale and shift, each with its second-order rule.
            const detail::Recording* recording = detail::Recording::active();
            if (recording != nullptr && recording->second_order())
                return Var<T, L::Rows, L::Cols>(hadamard(layer_norm(stored_x, eps), stored_gamma) + stored_beta);
        }
        return detail::make_node<Var<T, L::Rows, L::Cols>>(ops::ScaledLayerNorm<T>{checked_eps}, rows, cols,
                                                           std::move(stored_x), std::move(stored_gamma),
                                                           std::move(stored_beta));
    }
}

}  // namespace tapestry
