#pragma once
// dropout(x, p, rng): each element zeroed with probability p and the rest scaled by
// 1 / (1 - p), so that the expected value is x (inverted dropout, as PyTorch's). The mask
// is drawn from `rng` (std::generate_canonical per element, in column-major order, so a
// seed gives the same mask with any standard library) and kept for backward. In evaluation (Mode::Eval, or Mode::Auto
// without a recording tape) it is the identity.

#include <limits>
#include <random>
#include <string>
#include <utility>

#include "tapestry/core/errors.hpp"
#include "tapestry/graph/evaluate.hpp"
#include "tapestry/graph/node.hpp"
#include "tapestry/operand.hpp"
#include "tapestry/ops/mode.hpp"
#include "tapestry/tape/recording.hpp"

namespace tapestry {
namespace ops {

template <class T, class Rng>
struct Dropout {
    static constexpr const char* name = "dropout";
    static constexpr bool piecewise_linear = true;  // with its mask drawn; second order: graph/leaf_views.hpp
    T p;
    Rng* rng;  // nullptr: the identity (evaluation)
    const T* mask = nullptr;

    template <class X>
    void forward(const auto& out, const X& x) {
        if (rng == nullptr) {
            out.value() = x.array();
            return;
        }
        const Index size = out.rows() * out.cols();
        T* drawn = out.template keep<T>(size);
        const T kept_scale = p < T(1) ? T(1) / (T(1) - p) : T(0);
        for (Index k = 0; k < size; ++k)
            drawn[k] = std::generate_canonical<double, std::numeric_limits<double>::digits>(*rng) < double(p)
                           ? T(0)
                           : kept_scale;
        mask = drawn;
        out.value() = x.array() * Eigen::Map<const detail::KernelArray<T, X::Rows, X::Cols>>(mask, x.rows(), x.cols());
    }
    template <class X>
    void backward(const auto& dy, const auto&, const X& x) const {
        if (mask == nullptr)
            x.backprop(dy);
        else
            x.backprop(dy * Eigen::Map<const detail::KernelArray<T, X::Rows, X::Cols>>(mask, x.rows(), x.cols()));
    }
    template <class X>
    void tangent(const auto& out, const auto&, const X& x) const {
        if (mask == nullptr)
            out.value() = x.tangent();
        else
            out.value() =
                x.tangent() * Eigen::Map<const detail::KernelArray<T, X::Rows, X::Cols>>(mask, x.rows(), x.cols());
    }
};

}  // namespace ops

template <Operand X, std::uniform_random_bit_generator Rng>
auto dropout(X&& x, double p, Rng& rng, Mode mode = Mode::Auto) {
    if (!(p >= 0 && p <= 1))
        throw value_error("dropout: the probability of dropping (" + std::to_string(p) + ") must lie in [0, 1]");
    const auto leaf = detail::as_leaf(as_expression(std::forward<X>(x)));
    using L = decltype(leaf);
    using T = typename L::Scalar;
    const bool training = mode == Mode::Train || (mode == Mode::Auto && detail::Recording::active() != nullptr);
    return detail::make_node<Var<T, L::Rows, L::Cols>>(
        ops::Dropout<T, Rng>{static_cast<T>(p), training && p > 0 ? &rng : nullptr}, leaf.rows(), leaf.cols(), leaf);
}

}  // namespace tapestry
