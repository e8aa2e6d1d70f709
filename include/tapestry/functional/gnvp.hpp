#pragma once
// gnvp(model, loss, params, v): the Gauss-Newton matrix times v, Jᵀ H J v, for a loss on
// a model's output z = model(): J = dz/dθ, H = d²loss/dz². Martens' curvature matrix for
// Hessian-free optimisation: positive semi-definite when the loss is convex in z (mse,
// cross-entropies), unlike the Hessian of a deep network.
//
//   auto [loss, Gv] = gnvp([&] { return W2 * sigmoid(W1 * x + b1); },
//                          [&](const auto& z) { return mse(z, y); }, params, v);
//
// One forward pass; the tangent sweep up to z (J v); the loss's own steps swept with the
// Params' directions taken away, first forward and then in reverse carrying adjoint
// tangents, which leaves H J v as z's adjoint tangent; then one reverse sweep from z
// seeded with it (Jᵀ H J v). v and G v lay the Params out as jacobian's columns. The
// Params' gradients are left as they were, and Params outside the set are held fixed.
//
// The loss reads z and constants: one that reads a Param of the set itself throws
// value_error (G covers the loss's dependence on z alone; add a penalty's curvature,
// such as weight decay's, yourself). Nor should it read the model's values before z:
// their curvature would not be in G, and G v would not be symmetric.
//
// gnvp(model, loss, params, v, workspace) reuses a DerivativeWorkspace's tape and buffers:
// a call that records what the last one did allocates nothing (functional/workspace.hpp).

#include <type_traits>
#include <utility>

#include "tapestry/functional/hvp.hpp"
#include "tapestry/functional/workspace.hpp"

namespace tapestry {

// With a workspace kept between calls: the result lives in it until this function's next
// call on it starts, and a call that records what the last one did allocates nothing
// (functional/workspace.hpp).
template <class Model, class Loss, class T, class Direction>
const GnvpResult<T>& gnvp(Model&& model, Loss&& loss, const nn::ParamSet<T>& params,
                          const Eigen::MatrixBase<Direction>& v, DerivativeWorkspace<T>& workspace) {
    static_assert(std::is_same_v<typename Direction::Scalar, T>,
                  "gnvp: the direction has another scalar type than the Params");
    static_assert(detail::second_order_compiled_for<T>,
                  "gnvp needs the second-order steps compiled: define TAPESTRY_SECOND_ORDER for the whole program "
                  "(-DTAPESTRY_SECOND_ORDER on every file)");
    using Access = detail::WorkspaceAccess;
    const detail::WorkspaceClaim<T> claim(workspace, "gnvp");
    detail::check_direction("gnvp", params, v.size());
    Access::direction(workspace) = v.reshaped();

    GnvpResult<T>& result = Access::gnvp(workspace);
    const detail::KeptGradients<T> kept(params, Access::kept_gradients(workspace));
    params.zero_grad();
    detail::record_with_directions(
        "gnvp", Access::second_order_tape(workspace), std::forward<Model>(model), params,
        Access::direction(workspace).data(), static_cast<T*>(nullptr),
        [&](detail::Recording& recording, const auto& z) {
            using Matrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>;
            const auto& z_parts = detail::VarAccess::parts(z);
            const auto value = evaluate(loss(z));
            const auto& parts = detail::VarAccess::parts(value);
            if (value.rows() != 1 || value.cols() != 1)
                detail::throw_shape_error("gnvp", value.rows(), value.cols(), 1, 1, "the loss must be 1x1");
            if (detail::Recording::active() != &recording || (parts.life != nullptr && parts.life != recording.life()))
                throw tape_error("gnvp: the loss must record on gnvp's own tape");
            result.value = parts.value[0];
            if (parts.adjoint == nullptr || z_parts.adjoint == nullptr) {  // no Param reaches the loss
                result.product.setZero(v.size());
                return;
            }
            recording.zero_adjoints();
            recording.sweep_tangents(z_parts.position);  // J v, at z
            for (const auto& p : params) recording.set_param_tangent(p.identity(), nullptr);
            recording.sweep_tangents(parts.position, z_parts.position);
            parts.adjoint[0] = T(1);
            recording.sweep_backward_with_tangents(parts.position, z_parts.position);
            for (const auto& p : params)
                if (!p.grad_is_zeroed())
                    throw value_error("gnvp: the loss reads the Param \"" + p.name +
                                      "\" itself, but G = Jᵀ H J covers its dependence on the model's output "
                                      "only: read the Param in the model, or add its curvature separately");
            const Index n = z.rows() * z.cols();
            Matrix& curvature = Access::curvature(workspace);
            curvature =
                Eigen::Map<const Matrix>(detail::Recording::adjoint_tangent_of(z_parts.adjoint, n), z.rows(), z.cols());
            recording.zero_adjoints();  // and the tangents: the last sweep is first order
            Eigen::Map<Matrix>(z_parts.adjoint, z.rows(), z.cols()) = curvature;
            recording.sweep_backward_with_tangents(z_parts.position);
            detail::gather_gradients(params, result.product);
        });
    return result;
}

template <class Model, class Loss, class T, class Direction>
GnvpResult<T> gnvp(Model&& model, Loss&& loss, const nn::ParamSet<T>& params, const Eigen::MatrixBase<Direction>& v) {
    DerivativeWorkspace<T> workspace;
    gnvp(std::forward<Model>(model), std::forward<Loss>(loss), params, v, workspace);
    return std::move(detail::WorkspaceAccess::gnvp(workspace));
}

}  // namespace tapestry
