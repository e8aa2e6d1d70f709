#pragma once
// jvp(f, params, v): f's value and its directional derivative J v along v, in one
// forward pass and one tangent sweep over what it recorded (forward mode).
//
//   auto [value, derivative] = jvp([&] { return sigmoid(W * x + b); }, params, v);
//
// v holds one direction for every Param's elements, laid out as jacobian()'s columns
// (the ParamSet's order, each Param column-major), so that jvp(f, params, v).tangent
// is jacobian(f, params) * v, reshaped to the value's shape.
//
// Each node's tangent rule sits beside its forward and backward (graph/node.hpp): an
// elementwise chain's is its backward rule applied to its operands' tangents. An
// operation without one yet throws tape_error naming it.
//
// jvp(f, params, v, workspace) reuses a DerivativeWorkspace's tape and buffers:
// a call that records what the last one did allocates nothing (functional/workspace.hpp).

#include <type_traits>
#include <utility>

#include "tapestry/core/errors.hpp"
#include "tapestry/functional/flat_params.hpp"
#include "tapestry/functional/workspace.hpp"
#include "tapestry/graph/second_order_form.hpp"
#include "tapestry/operand.hpp"
#include "tapestry/tape.hpp"

namespace tapestry {

// With a workspace kept between calls: the result lives in it until this function's next
// call on it starts, and a call that records what the last one did allocates nothing
// (functional/workspace.hpp).
template <class F, class T, class Direction>
const JvpResult<T>& jvp(F&& f, const nn::ParamSet<T>& params, const Eigen::MatrixBase<Direction>& v,
                        DerivativeWorkspace<T>& workspace) {
    static_assert(std::is_same_v<typename Direction::Scalar, T>,
                  "jvp: the direction has another scalar type than the Params");
    static_assert(detail::forward_mode_compiled_for<T>,
                  "jvp needs the tangent steps compiled: define TAPESTRY_FORWARD_MODE (or TAPESTRY_SECOND_ORDER) for "
                  "the whole program (-DTAPESTRY_FORWARD_MODE on every file)");
    using Access = detail::WorkspaceAccess;
    const detail::WorkspaceClaim<T> claim(workspace, "jvp");
    detail::check_direction("jvp", params, v.size());
    Access::direction(workspace) = v.reshaped();

    JvpResult<T>& result = Access::jvp(workspace);
    detail::record_with_directions(
        "jvp", Access::forward_tape(workspace), std::forward<F>(f), params, Access::direction(workspace).data(),
        static_cast<T*>(nullptr), [&](detail::Recording& recording, const auto& output) {
            recording.sweep_tangents(recording.size());
            const detail::ValueParts<T>& parts = detail::VarAccess::parts(output);
            result.value = output.value();
            if (parts.adjoint != nullptr)
                result.tangent = Eigen::Map<const Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>>(
                    detail::Recording::tangent_of(parts.adjoint, parts.rows * parts.cols), parts.rows, parts.cols);
            else
                result.tangent.setZero(parts.rows, parts.cols);
        });
    return result;
}

template <class F, class T, class Direction>
JvpResult<T> jvp(F&& f, const nn::ParamSet<T>& params, const Eigen::MatrixBase<Direction>& v) {
    DerivativeWorkspace<T> workspace;
    jvp(std::forward<F>(f), params, v, workspace);
    return std::move(detail::WorkspaceAccess::jvp(workspace));
}

}  // namespace tapestry
