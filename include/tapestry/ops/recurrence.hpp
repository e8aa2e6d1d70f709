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

#include "tapestry/expr/reduction.hpp"
#include "tapestry/expr/scratch.hpp"

namespace tapestry {

template <Operand P, Operand E>
auto stationary_ar1(P&& phi_operand, E&& innovations_operand) {
    const auto phi = detail::stored(as_expression(std::forward<P>(phi_operand)));
    const auto e = detail::stored(as_expression(std::forward<E>(innovations_operand)));
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
    const Index n = e.rows();
    auto fresh = detail::new_value<T, Innovations::Rows, 1>(n, 1, phi.needs_grad() || e.needs_grad());
    const T p = phi.value_data()[0];
    const T scale = T(1) / std::sqrt(T(1) - p * p);  // the stationary spread of u_1
    const T* x = e.value_data();
    T* u = fresh.value;
    if (n > 0) u[0] = scale * x[0];
    for (Index t = 1; t < n; ++t) u[t] = p * u[t - 1] + x[t];
    const auto describe = [phi, e] { return "stationary_ar1(" + phi.describe() + ", " + e.describe() + ")"; };
    detail::check_value(fresh.value, n, 1, describe);
    return detail::finish_value(fresh, [phi, e, u, du = fresh.adjoint, n, p, scale, describe] {
        if (n == 0) return;
        const T* x = e.value_data();
        const detail::EvaluatedOnce<T, Innovations::Rows, 1> v(Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, 1>>(du, n));
        T* w = v.data();
        for (Index t = n - 1; t-- > 0;) w[t] += p * w[t + 1];
        T dphi = w[0] * x[0] * p * scale * scale * scale;
        for (Index t = 1; t < n; ++t) dphi += w[t] * u[t - 1];
        w[0] *= scale;
        if (e.needs_grad()) e.backprop(v.array());
        if (phi.needs_grad()) phi.backprop(Eigen::Array<T, 1, 1>::Constant(dphi));
        detail::check_gradients(describe, phi, e);
    });
}

}  // namespace tapestry
