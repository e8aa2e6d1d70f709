#pragma once
// hvp(f, params, v): a scalar f's value, its gradient and its Hessian times v, H v,
// from one forward pass, one tangent sweep and one reverse sweep that carries each
// adjoint's tangent beside it (forward over reverse: the directional derivative of the
// gradient along v, exact, at about the cost of three gradients).
//
//   auto [loss, gradient, Hv] = hvp([&] { return mse(W * x + b, y); }, params, v);
//
// v, the gradient and H v lay the Params out as jacobian's columns (the ParamSet's order,
// each Param column-major). The Params' gradients are left as they were; Params outside
// the set are held fixed (their gradients untouched too).
//
// Needs TAPESTRY_SECOND_ORDER defined for the whole program (graph/second_order_form.hpp).
//
// hessian(f, params): the dense Hessian, one hvp per column, for tests and small models.
//
// hvp(f, params, v, workspace) reuses a DerivativeWorkspace's tape and buffers:
// a call that records what the last one did allocates nothing (functional/workspace.hpp).
//
// An elementwise op's second-order rule is its curvature term g f''(x) ẋ (expr/unary.hpp,
// expr/binary.hpp); every other op has backward_with_tangents beside its backward
// (graph/node.hpp). An op without one yet throws tape_error naming it.

#include <type_traits>
#include <utility>

#include "tapestry/core/errors.hpp"
#include "tapestry/functional/flat_params.hpp"
#include "tapestry/functional/workspace.hpp"
#include "tapestry/operand.hpp"
#include "tapestry/tape.hpp"

namespace tapestry {

// With a workspace kept between calls: the result lives in it until this function's next
// call on it starts, and a call that records what the last one did allocates nothing
// (functional/workspace.hpp).
template <class F, class T, class Direction>
const HvpResult<T>& hvp(F&& f, const nn::ParamSet<T>& params, const Eigen::MatrixBase<Direction>& v,
                        DerivativeWorkspace<T>& workspace) {
    static_assert(std::is_same_v<typename Direction::Scalar, T>,
                  "hvp: the direction has another scalar type than the Params");
    static_assert(detail::second_order_compiled_for<T>,
                  "hvp needs the second-order steps compiled: define TAPESTRY_SECOND_ORDER for the whole program "
                  "(-DTAPESTRY_SECOND_ORDER on every file)");
    using Access = detail::WorkspaceAccess;
    const detail::WorkspaceClaim<T> claim(workspace, "hvp");
    detail::check_direction("hvp", params, v.size());
    Access::direction(workspace) = v.reshaped();

    HvpResult<T>& result = Access::hvp(workspace);
    result.product.setZero(v.size());
    const detail::KeptGradients<T> kept(params, Access::kept_gradients(workspace));
    params.zero_grad();
    detail::record_with_directions(
        "hvp", Access::second_order_tape(workspace), std::forward<F>(f), params, Access::direction(workspace).data(),
        result.product.data(), [&](detail::Recording& recording, const auto& output) {
            if (output.rows() != 1 || output.cols() != 1)
                detail::throw_shape_error("hvp", output.rows(), output.cols(), 1, 1, "f must give a 1x1 value");
            const auto& parts = detail::VarAccess::parts(output);
            result.value = parts.value[0];
            if (parts.adjoint == nullptr) return;  // nothing trainable upstream: gradient and H v are zero
            recording.sweep_second_order(parts.position, [&] { parts.adjoint[0] = T(1); });
        });
    detail::gather_gradients(params, result.gradient);
    return result;
}

template <class F, class T, class Direction>
HvpResult<T> hvp(F&& f, const nn::ParamSet<T>& params, const Eigen::MatrixBase<Direction>& v) {
    DerivativeWorkspace<T> workspace;
    hvp(std::forward<F>(f), params, v, workspace);
    return std::move(detail::WorkspaceAccess::hvp(workspace));
}

// The Hessian of a scalar f with respect to the Params, one hvp per column.
template <class F, class T>
Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic> hessian(F&& f, const nn::ParamSet<T>& params) {
    const Index n = detail::flat_size(params);
    Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic> result(n, n);
    Eigen::Matrix<T, Eigen::Dynamic, 1> unit = Eigen::Matrix<T, Eigen::Dynamic, 1>::Zero(n);
    DerivativeWorkspace<T> workspace;
    for (Index k = 0; k < n; ++k) {
        unit(k) = T(1);
        result.col(k) = hvp(f, params, unit, workspace).product;
        unit(k) = T(0);
    }
    return result;
}

}  // namespace tapestry
