#pragma once
// Pooling over windows of KH x KW pixels of each channel, moved by the stride (by
// default the window's own size: windows side by side, as PyTorch's default):
//
//   auto p = max_pool2d<2>(h);              // 2 x 2 windows, stride 2
//   auto q = avg_pool2d<3>(h, stride<2>);   // 3 x 3 windows, stride 2
//
//   auto r = max_pool2d<3>(h, stride<2>, padding<1>, ceil_mode);   // Caffe's rounding
//
// max_pool2d's gradient goes to the first maximum of each window (a NaN counts as the
// maximum: it propagates, as in PyTorch); padding never wins. Its forward keeps the
// position of each window's maximum for backward. avg_pool2d divides by the window's
// count including padding (PyTorch's default, Caffe's) and spreads the gradient evenly.
// Output extents round down as convolutions' do, or up with ceil_mode (geometry.hpp);
// a window larger than the padded image does not compile.

#include <algorithm>
#include <string>
#include <type_traits>

#include "tapestry/conv/geometry.hpp"
#include "tapestry/conv/images.hpp"
#include "tapestry/graph/evaluate.hpp"
#include "tapestry/graph/node.hpp"

namespace tapestry {
namespace diagnostic {
template <class WindowShape, class ImageShape>
struct pooling_window_is_larger_than_the_image;
}  // namespace diagnostic

namespace ops {

// What the two pools share: the geometry and the output extents (in the type: the
// window loops of a 2x2 pool unroll), walked one window at a time.
template <class Geometry, Index OutHeight, Index OutWidth>
struct PoolWindows {
    static constexpr Geometry geometry{};
    static constexpr Index out_height = OutHeight, out_width = OutWidth;

    // f(offset of the window's channel plane, its rows [r0, r1) and columns [c0, c1)
    // clipped to the image, the count a mean divides by, output pixel index): the count
    // includes padding but not what hangs past it (PyTorch's count_include_pad, Caffe's).
    template <class F>
    static void for_each_window(F&& f) {
        constexpr Index H = geometry.height, W = geometry.width, KH = geometry.kernel_height,
                        KW = geometry.kernel_width, PH = geometry.padding_height, PW = geometry.padding_width;
        Index output = 0;
        for (Index c = 0; c < geometry.channels; ++c)
            for (Index oh = 0; oh < out_height; ++oh) {
                const Index top = oh * geometry.stride_height - PH, bottom = std::min(top + KH, H + PH);
                for (Index ow = 0; ow < out_width; ++ow, ++output) {
                    const Index left = ow * geometry.stride_width - PW, right = std::min(left + KW, W + PW);
                    if constexpr (every_window_inside())  // bounds the compiler sees as constants apart
                        f(c * H * W, top, top + KH, left, left + KW, KH * KW, output);
                    else
                        f(c * H * W, std::max<Index>(top, 0), std::min(bottom, H), std::max<Index>(left, 0),
                          std::min(right, W), (bottom - top) * (right - left), output);
                }
            }
    }
    static constexpr Index output_size() { return geometry.channels * out_height * out_width; }

private:
    static constexpr bool every_window_inside() {
        return geometry.padding_height == 0 && geometry.padding_width == 0 &&
               (out_height - 1) * geometry.stride_height + geometry.kernel_height <= geometry.height &&
               (out_width - 1) * geometry.stride_width + geometry.kernel_width <= geometry.width;
    }
};

template <class Geometry, Index OutHeight, Index OutWidth>
struct MaxPool2d : PoolWindows<Geometry, OutHeight, OutWidth> {
    using Windows = PoolWindows<Geometry, OutHeight, OutWidth>;
    static constexpr const char* name = "max_pool2d";
    static constexpr bool piecewise_linear = true;  // with its maxima found; second order: graph/leaf_views.hpp
    using Windows::geometry;

    template <class X>
    void forward(const auto& out, const X& x) const {
        using T = typename X::Scalar;
        // Where each maximum is (an offset in its image), for backward.
        int* const where = out.template keep<int>(out.rows() * out.cols());
        constexpr Index image_size = geometry.image_size(), out_size = Windows::output_size();
        for (Index b = 0; b < x.cols(); ++b) {
            const T* image = x.value_data() + b * image_size;
            T* y = out.data() + b * out_size;
            int* at = where + b * out_size;
            Windows::for_each_window([&](Index plane, Index r0, Index r1, Index c0, Index c1, Index, Index o) {
                Index best = plane + r0 * geometry.width + c0;
                T best_value = image[best];
                for (Index i = r0; i < r1; ++i)
                    for (Index j = c0; j < c1; ++j) {
                        const Index p = plane + i * geometry.width + j;
                        const T v = image[p];
                        // Larger, or the first NaN (which then stays: nothing compares larger).
                        if (v > best_value || (v != v && best_value == best_value)) {
                            best = p;
                            best_value = v;
                        }
                    }
                y[o] = best_value;
                at[o] = static_cast<int>(best);
            });
        }
        maxima_ = where;
    }

    template <class X>
    void backward(const auto& dy, const auto&, const X& x) const {
        using T = typename X::Scalar;
        if (!x.needs_grad()) return;
        T* const dx = x.gradient_sink().memory_to_add_into();
        constexpr Index image_size = geometry.image_size(), out_size = Windows::output_size();
        for (Index b = 0; b < x.cols(); ++b)
            for (Index o = 0; o < out_size; ++o)
                dx[b * image_size + maxima_[b * out_size + o]] += dy.data()[b * out_size + o];
    }

    // Forward mode: each window's maximum moves with the tangent of the element it took.
    template <class X>
    void tangent(const auto& out, const auto&, const X& x) const {
        constexpr Index image_size = geometry.image_size(), out_size = Windows::output_size();
        const auto* dx = x.tangent_data();
        for (Index b = 0; b < x.cols(); ++b)
            for (Index o = 0; o < out_size; ++o)
                out.data()[b * out_size + o] = dx[b * image_size + maxima_[b * out_size + o]];
    }

    // Set by forward (the op is recorded by value after forward has run).
    mutable const int* maxima_ = nullptr;
};

template <class Geometry, Index OutHeight, Index OutWidth>
struct AvgPool2d : PoolWindows<Geometry, OutHeight, OutWidth> {
    using Windows = PoolWindows<Geometry, OutHeight, OutWidth>;
    static constexpr const char* name = "avg_pool2d";
    static constexpr bool linear = true;  // forward mode and second order: graph/leaf_views.hpp
    using Windows::geometry;

    template <class X>
    void forward(const auto& out, const X& x) const {
        using T = typename X::Scalar;
        constexpr Index image_size = geometry.image_size(), out_size = Windows::output_size();
        for (Index b = 0; b < x.cols(); ++b) {
            const T* image = x.value_data() + b * image_size;
            T* y = out.data() + b * out_size;
            Windows::for_each_window([&](Index plane, Index r0, Index r1, Index c0, Index c1, Index count, Index o) {
                T total(0);
                for (Index i = r0; i < r1; ++i)
                    for (Index j = c0; j < c1; ++j) total += image[plane + i * geometry.width + j];
                y[o] = total / static_cast<T>(count);
            });
        }
    }

    template <class X>
    void backward(const auto& dy, const auto&, const X& x) const {
        using T = typename X::Scalar;
        if (!x.needs_grad()) return;
        T* const dx = x.gradient_sink().memory_to_add_into();
        constexpr Index image_size = geometry.image_size(), out_size = Windows::output_size();
        for (Index b = 0; b < x.cols(); ++b) {
            T* d_image = dx + b * image_size;
            const T* d_out = dy.data() + b * out_size;
            Windows::for_each_window([&](Index plane, Index r0, Index r1, Index c0, Index c1, Index count, Index o) {
                const T share = d_out[o] / static_cast<T>(count);
                for (Index i = r0; i < r1; ++i)
                    for (Index j = c0; j < c1; ++j) d_image[plane + i * geometry.width + j] += share;
            });
        }
    }
};

}  // namespace ops

namespace detail {

template <template <class, Index, Index> class Op, int KH, int KW, class T, int C, int H, int W, int B,
          class... Options>
auto pool2d(const Images<T, C, H, W, B>& x) {
    static_assert(((is_option_of_kind<Stride, Options> || is_option_of_kind<Padding, Options> ||
                    std::is_same_v<Options, CeilMode>)&&...),
                  "a pooling window's options are stride<...>, padding<...> and ceil_mode");
    constexpr int ceil_modes = (0 + ... + int(std::is_same_v<Options, CeilMode>));
    static_assert(count_of_kind<Stride, Options...> <= 1 && count_of_kind<Padding, Options...> <= 1 && ceil_modes <= 1,
                  "each option of a pooling window is given at most once");
    using S = typename PickOption<Stride, Stride<KH, KW>, Options...>::type;
    using P = typename PickOption<Padding, Padding<0>, Options...>::type;
    static_assert(2 * P::height <= KH && 2 * P::width <= KW,
                  "pooling: the padding is at most half the window (as in PyTorch), so that no window is all padding");
    constexpr int out_h = pooled_output_extent(H, KH, S::height, P::height, ceil_modes > 0);
    constexpr int out_w = pooled_output_extent(W, KW, S::width, P::width, ceil_modes > 0);
    using Result = Images<T, C, (out_h > 0 ? out_h : 1), (out_w > 0 ? out_w : 1), B>;
    if constexpr (out_h < 1 || out_w < 1) {
        diagnostic::report<
            diagnostic::pooling_window_is_larger_than_the_image<WindowShape<KH, KW>, ImageShape<C, H, W>>>();
        return Result(typename Result::Flat());
    } else {
        using Geometry = FixedConvGeometry<C, H, W, KH, KW, S::height, S::width, P::height, P::width, 1, 1>;
        const Op<Geometry, out_h, out_w> op{};
        return Result(make_node<typename Result::Flat>(op, C * out_h * out_w, x.batch(), as_expression(x.flat())));
    }
}

}  // namespace detail

// The maximum of each KH x KW window of each channel.
template <int KH, int KW = KH, class T, int C, int H, int W, int B, class... Options>
auto max_pool2d(const Images<T, C, H, W, B>& x, Options...) {
    return detail::pool2d<ops::MaxPool2d, KH, KW, T, C, H, W, B, Options...>(x);
}

// The mean of each KH x KW window of each channel.
template <int KH, int KW = KH, class T, int C, int H, int W, int B, class... Options>
auto avg_pool2d(const Images<T, C, H, W, B>& x, Options...) {
    return detail::pool2d<ops::AvgPool2d, KH, KW, T, C, H, W, B, Options...>(x);
}

}  // namespace tapestry
