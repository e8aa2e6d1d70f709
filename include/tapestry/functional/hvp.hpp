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
// An elementwise op's second-order rule is its curvature term g f''(x) ẋ (expr/unary.hpp,
// expr/binary.hpp); every other op has backward_with_tangents beside its backward
// (graph/node.hpp). An op without one yet throws tape_error naming it.

#include <type_traits>
#include <utility>

#include "tapestry/core/errors.hpp"
#include "tapestry/functional/flat_params.hpp"
#include "tapestry/operand.hpp"
#include "tapestry/tape.hpp"

namespace tapestry {

template <class T>
struct HvpResult {
    T value;                                       // f's value
    Eigen::Matrix<T, Eigen::Dynamic, 1> gradient;  // its gradient
    Eigen::Matrix<T, Eigen::Dynamic, 1> product;   // H v
};

namespace detail {

// Records f on a second-order tape, with v as the Params' tangents and `product` (if
// not null) where their adjoints' tangents go, and runs `sweep(recording, value)`
// on f's value. Params outside the set are held fixed.
template <class T, class F, class Sweep>
void record_with_directions(const char* function, F&& f, const nn::ParamSet<T>& params,
                            const Eigen::Matrix<T, Eigen::Dynamic, 1>& direction, T* product, Sweep&& sweep) {
    Tape tape(Tape::WithSecondOrder{});
    Recording& recording = *Recording::active();
    for_each_segment(params, [&](const auto& p, Index offset, Index) {
        recording.set_param_tangent(p.identity(), direction.data() + offset,
                                    product != nullptr ? product + offset : nullptr);
    });
    const auto output = evaluate(f());
    const ValueParts<typename decltype(output)::Scalar>& parts = VarAccess::parts(output);
    // The Params' directions are found through the active recording: f must leave it active.
    if (Recording::active() != &recording || (parts.life != nullptr && parts.life != recording.life()))
        throw tape_error(std::string(function) +
                         ": f must record on its own tape, but it left another Tape or an InferenceMode active");
    sweep(recording, output);
}

}  // namespace detail

template <class F, class T, class Direction>
HvpResult<T> hvp(F&& f, const nn::ParamSet<T>& params, const Eigen::MatrixBase<Direction>& v) {
    static_assert(std::is_same_v<typename Direction::Scalar, T>,
                  "hvp: the direction has another scalar type than the Params");
    static_assert(detail::second_order_compiled_for<T>,
                  "hvp needs the second-order steps compiled: define TAPESTRY_SECOND_ORDER for the whole program "
                  "(-DTAPESTRY_SECOND_ORDER on every file)");
    detail::check_direction("hvp", params, v.size());
    const Eigen::Matrix<T, Eigen::Dynamic, 1> direction = v.reshaped();  // contiguous, alive through the sweeps
    HvpResult<T> result;
    result.product.setZero(direction.size());
    const detail::KeptGradients<T> kept(params);
    params.zero_grad();
    detail::record_with_directions("hvp", std::forward<F>(f), params, direction, result.product.data(),
                                   [&](detail::Recording& recording, const auto& output) {
                                       if (output.rows() != 1 || output.cols() != 1)
                                           detail::throw_shape_error("hvp", output.rows(), output.cols(), 1, 1,
                                                                     "f must give a 1x1 value");
                                       const auto& parts = detail::VarAccess::parts(output);
                                       result.value = parts.value[0];
                                       if (parts.adjoint == nullptr)
                                           return;  // nothing trainable upstream: gradient and H v are zero
                                       recording.sweep_second_order(parts.position, [&] { parts.adjoint[0] = T(1); });
                                   });
    result.gradient = detail::gather_gradients(params);
    return result;
}

// The Hessian of a scalar f with respect to the Params, one hvp per column.
template <class F, class T>
Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic> hessian(F&& f, const nn::ParamSet<T>& params) {
    const Index n = detail::flat_size(params);
    Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic> result(n, n);
    Eigen::Matrix<T, Eigen::Dynamic, 1> unit = Eigen::Matrix<T, Eigen::Dynamic, 1>::Zero(n);
    for (Index k = 0; k < n; ++k) {
        unit(k) = T(1);
        result.col(k) = hvp(f, params, unit).product;
        unit(k) = T(0);
    }
    return result;
}

}  // namespace tapestry
