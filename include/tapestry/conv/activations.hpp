#pragma once
// The everyday activations on image batches, keeping the image shape: sigmoid(h) for
// Images is sigmoid(h.flat()) (one fused node, ops/activations.hpp) seen as images
// again. Any other elementwise expression goes the same way by hand:
//   as_images<C, H, W>(gelu(h.flat()))

#include "tapestry/conv/images.hpp"
#include "tapestry/ops/activations.hpp"

namespace tapestry {
namespace detail {
// f(x.flat()), evaluated, as images of x's shape.
template <class T, int C, int H, int W, int B, class F>
Images<T, C, H, W, B> pixelwise(const Images<T, C, H, W, B>& x, F f) {
    return Images<T, C, H, W, B>(typename Images<T, C, H, W, B>::Flat(f(x.flat())));
}
}  // namespace detail

template <class T, int C, int H, int W, int B>
auto sigmoid(const Images<T, C, H, W, B>& x) {
    return detail::pixelwise(x, [](const auto& v) { return sigmoid(v); });
}
template <class T, int C, int H, int W, int B>
auto tanh(const Images<T, C, H, W, B>& x) {
    return detail::pixelwise(x, [](const auto& v) { return tanh(v); });
}
template <class T, int C, int H, int W, int B>
auto relu(const Images<T, C, H, W, B>& x) {
    return detail::pixelwise(x, [](const auto& v) { return relu(v); });
}

}  // namespace tapestry
