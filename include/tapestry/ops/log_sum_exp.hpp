#pragma once
// log_sum_exp(x): log(sum(exp(x))) over all elements, as a 1x1 Var, computed as
// m + log(sum(exp(x - m))) with m the largest element, so that it neither overflows nor
// underflows. exp(x - m) is kept for backward: the gradient exp(x - m) / sum is then
// one multiplication per element instead of a second exp.

#include <cmath>
#include <utility>

#include "tapestry/graph/evaluate.hpp"
#include "tapestry/graph/node.hpp"
#include "tapestry/kernels/vectorised_math.hpp"
#include "tapestry/operand.hpp"

namespace tapestry {
namespace ops {

template <class T>
struct LogSumExp {
    static constexpr const char* name = "log_sum_exp";
    T* shifted_exp = nullptr;  // exp(x - max), one per element
    T inverse_sum = T(1);

    template <class X>
    void forward(const auto& out, const X& x) {
        const auto values = x.array();
        const T max = values.maxCoeff();
        shifted_exp = out.template keep<T>(values.size());
        Eigen::Map<detail::KernelArray<T, X::Rows, X::Cols>> kept(shifted_exp, x.rows(), x.cols());
        T sum = T(1);
        if (!std::isfinite(max)) {  // all -inf: log 0 = -inf; any +inf or NaN: that value
            kept = T(0);
        } else {
            kept = detail::exp_underflow_to_zero(values - max);  // an element far below the max: 0, not 6e-309
            sum = kept.sum();
        }
        inverse_sum = T(1) / sum;
        out.data()[0] = max + std::log(sum);
    }

    template <class X>
    void backward(const auto& dy, const auto&, const X& x) const {
        const Eigen::Map<const detail::KernelArray<T, X::Rows, X::Cols>> kept(shifted_exp, x.rows(), x.cols());
        x.backprop((dy(0, 0) * inverse_sum) * kept);
    }

    // Forward mode: with p = e^(x - y), the softmax of all elements, y' = sum(p x').
    template <class X>
    void tangent(const auto& out, const auto&, const X& x) const {
        const Eigen::Map<const detail::KernelArray<T, X::Rows, X::Cols>> kept(shifted_exp, x.rows(), x.cols());
        out.data()[0] = inverse_sum * (kept * x.tangent()).sum();
    }
    // Second order: x's adjoint g p has the tangent g' p + g p (x' - y').
    template <class X>
    void backward_with_tangents(const auto& dy, const auto& dy_tangent, const auto&, const auto& y_tangent,
                                const X& x) const {
        const Eigen::Map<const detail::KernelArray<T, X::Rows, X::Cols>> kept(shifted_exp, x.rows(), x.cols());
        const T g = dy(0, 0) * inverse_sum, g_tangent = dy_tangent(0, 0) * inverse_sum;
        x.backprop_with_tangents(g * kept, g_tangent * kept + g * kept * (x.tangent() - y_tangent(0, 0)));
    }
};

}  // namespace ops

// log(sum(exp(x))) over all elements, stable for any finite input.
template <Operand X>
auto log_sum_exp(X&& x) {
    const auto leaf = detail::as_leaf(as_expression(std::forward<X>(x)));
    using T = typename decltype(leaf)::Scalar;
    return detail::make_node<Var<T, 1, 1>>(ops::LogSumExp<T>{}, 1, 1, leaf);
}

}  // namespace tapestry
