#pragma once
// stationary_ar1(phi, e): the stationary AR(1) process driven by innovations e,
//   u_1 = e_1 / sqrt(1 - phi²),   u_t = phi u_{t-1} + e_t   (t = 2..n),
// the latent state of stochastic-volatility and other state-space models. A
// recurrence is sequential, so it is one node with its own loop rather than n
// elementwise nodes. Its backward is the same recurrence run in reverse:
//   v_n = du_n,  v_t = du_t + phi v_{t+1};   de_t = v_t (de_1 = v_1 / sqrt(1 - phi²)),
//   dphi = sum_{t>=2} v_t u_{t-1} + v_1 e_1 phi / (1 - phi²)^{3/2}.
// |phi| < 1 is the caller's to keep (e.g. phi = tanh(raw)); otherwise u_1 is NaN.

#include <cmath>
#include <type_traits>
#include <utility>

#include "tapestry/core/errors.hpp"
#include "tapestry/graph/evaluate.hpp"
#include "tapestry/graph/node.hpp"
#include "tapestry/kernels/scratch.hpp"
#include "tapestry/operand.hpp"

namespace tapestry {
namespace ops {

template <class T>
struct StationaryAr1 {
    static constexpr const char* name = "stationary_ar1";
    T phi = 0;
    T scale = 0;  // 1 / sqrt(1 - phi²), the stationary spread of u_1

    void forward(const auto& out, const auto& phi_leaf, const auto& e) {
        phi = phi_leaf.value_data()[0];
        scale = T(1) / std::sqrt(T(1) - phi * phi);
        const T* x = e.value_data();
        T* u = out.data();
        const Index n = e.rows();
        if (n > 0) u[0] = scale * x[0];
        for (Index t = 1; t < n; ++t) u[t] = phi * u[t - 1] + x[t];
    }

    template <class E>
    void backward(const auto& du, const auto& u, const auto& phi_leaf, const E& e) const {
        const Index n = e.rows();
        if (n == 0) return;
        const T* x = e.value_data();
        detail::ScratchScope scratch;
        T* v = scratch.take<T>(n);
        v[n - 1] = du(n - 1, 0);
        for (Index t = n - 1; t-- > 0;) v[t] = du(t, 0) + phi * v[t + 1];
        T dphi = v[0] * x[0] * phi * scale * scale * scale;
        for (Index t = 1; t < n; ++t) dphi += v[t] * u(t - 1, 0);
        v[0] *= scale;
        if (e.needs_grad()) e.backprop(Eigen::Map<const detail::KernelArray<T, E::Rows, 1>>(v, n, 1));
        if (phi_leaf.needs_grad()) phi_leaf.backprop(Eigen::Array<T, 1, 1>::Constant(dphi));
    }

    // Forward mode: with s' = phi phi' s³, u'_1 = s' e_1 + s e'_1 and
    // u'_t = phi' u_{t-1} + phi u'_{t-1} + e'_t.
    template <class E>
    void tangent(const auto& out, const auto& u, const auto& phi_leaf, const E& e) const {
        const Index n = e.rows();
        if (n == 0) return;
        const T phi_tangent = phi_leaf.tangent()(0, 0);
        const auto e_tangent = e.tangent();
        T* const u_tangent = out.data();
        u_tangent[0] = phi * phi_tangent * scale * scale * scale * e.value_data()[0] + scale * e_tangent(0, 0);
        for (Index t = 1; t < n; ++t)
            u_tangent[t] = phi_tangent * u(t - 1, 0) + phi * u_tangent[t - 1] + e_tangent(t, 0);
    }

    // Second order: backward's recurrence differentiated along the tangents:
    // v'_t = du'_t + phi' v_{t+1} + phi v'_{t+1}; de'_1 = s' v_1 + s v'_1, de'_t = v'_t; and
    // dphi' = (v'_1 e_1 + v_1 e'_1) phi s³ + v_1 e_1 (phi' s³ + 3 phi s² s')
    //         + sum_{t>=2} v'_t u_{t-1} + v_t u'_{t-1}.
    template <class E>
    void backward_with_tangents(const auto& du, const auto& du_tangent, const auto& u, const auto& u_tangent,
                                const auto& phi_leaf, const E& e) const {
        const Index n = e.rows();
        if (n == 0) return;
        const T* x = e.value_data();
        const auto x_tangent = e.tangent();
        const T phi_tangent = phi_leaf.tangent()(0, 0);
        const T cube = scale * scale * scale, scale_tangent = phi * phi_tangent * cube;
        detail::ScratchScope scratch;
        T* v = scratch.take<T>(n);
        T* v_tangent = scratch.take<T>(n);
        v[n - 1] = du(n - 1, 0);
        v_tangent[n - 1] = du_tangent(n - 1, 0);
        for (Index t = n - 1; t-- > 0;) {
            v[t] = du(t, 0) + phi * v[t + 1];
            v_tangent[t] = du_tangent(t, 0) + phi_tangent * v[t + 1] + phi * v_tangent[t + 1];
        }
        T dphi = v[0] * x[0] * phi * cube;
        T dphi_tangent = (v_tangent[0] * x[0] + v[0] * x_tangent(0, 0)) * phi * cube +
                         v[0] * x[0] * (phi_tangent * cube + 3 * phi * scale * scale * scale_tangent);
        for (Index t = 1; t < n; ++t) {
            dphi += v[t] * u(t - 1, 0);
            dphi_tangent += v_tangent[t] * u(t - 1, 0) + v[t] * u_tangent(t - 1, 0);
        }
        v_tangent[0] = scale_tangent * v[0] + scale * v_tangent[0];
        v[0] *= scale;
        using Column = Eigen::Map<const detail::KernelArray<T, E::Rows, 1>>;
        if (e.needs_grad()) e.backprop_with_tangents(Column(v, n, 1), Column(v_tangent, n, 1));
        if (phi_leaf.needs_grad())
            phi_leaf.backprop_with_tangents(Eigen::Array<T, 1, 1>::Constant(dphi),
                                            Eigen::Array<T, 1, 1>::Constant(dphi_tangent));
    }
};

}  // namespace ops

template <Operand P, Operand E>
auto stationary_ar1(P&& phi_operand, E&& innovations_operand) {
    const auto phi = detail::as_leaf(as_expression(std::forward<P>(phi_operand)));
    const auto e = detail::as_leaf(as_expression(std::forward<E>(innovations_operand)));
    using Phi = std::remove_cvref_t<decltype(phi)>;
    using Innovations = std::remove_cvref_t<decltype(e)>;
    using T = typename Innovations::Scalar;
    static_assert(std::is_same_v<typename Phi::Scalar, T>,
                  "stationary_ar1: phi and the innovations need the same scalar type");
    static_assert(shape_rules::agree(Phi::Rows, 1) && shape_rules::agree(Phi::Cols, 1), "stationary_ar1: phi is 1x1");
    static_assert(shape_rules::agree(Innovations::Cols, 1), "stationary_ar1: the innovations are one column");
    if (phi.rows() != 1 || phi.cols() != 1 || e.cols() != 1)
        detail::throw_shape_error("stationary_ar1", phi.rows(), phi.cols(), e.rows(), e.cols(),
                                  "phi must be 1x1 and the innovations one column");
    return detail::make_node<Var<T, Innovations::Rows, 1>>(ops::StationaryAr1<T>{}, e.rows(), 1, phi, e);
}

}  // namespace tapestry
