#pragma once
// Pooling over windows of KH x KW pixels of each channel, moved by the stride (by
// default the window's own size: windows side by side, as PyTorch's default):
//
//   auto p = max_pool2d<2>(h);              // 2 x 2 windows, stride 2
//   auto q = avg_pool2d<3>(h, stride<2>);   // 3 x 3 windows, stride 2
//
// max_pool2d's gradient goes to the first maximum of each window (a NaN counts as the
// maximum: it propagates, as in PyTorch); its forward keeps the position of each
// window's maximum for backward. avg_pool2d spreads each window's gradient evenly.
// Output extents round down as convolutions' do (geometry.hpp); a window larger than
// the image does not compile.

#include <string>

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

// What the two pools share: the geometry (in the type: the window loops of a 2x2 pool
// unroll), walked one window at a time.
template <class Geometry>
struct PoolWindows {
    static constexpr Geometry geometry{};

    // f(first pixel of the window in the image, output pixel index in the image's output)
    template <class F>
    static void for_each_window(F&& f) {
        constexpr Index out_h = geometry.output_height(), out_w = geometry.output_width();
        Index output = 0;
        for (Index c = 0; c < geometry.channels; ++c)
            for (Index oh = 0; oh < out_h; ++oh)
                for (Index ow = 0; ow < out_w; ++ow, ++output)
                    f(c * geometry.height * geometry.width + oh * geometry.stride_height * geometry.width +
                          ow * geometry.stride_width,
                      output);
    }
    static constexpr Index output_size() { return geometry.channels * geometry.output_pixels(); }
};

template <class Geometry>
struct MaxPool2d : PoolWindows<Geometry> {
    static constexpr const char* name = "max_pool2d";
    using PoolWindows<Geometry>::geometry;

    template <class X>
    void forward(const auto& out, const X& x) const {
        using T = typename X::Scalar;
        // Where each maximum is (an offset in its image), for backward.
        int* const where = out.template keep<int>(out.rows() * out.cols());
        constexpr Index image_size = geometry.image_size(), out_size = PoolWindows<Geometry>::output_size();
        for (Index b = 0; b < x.cols(); ++b) {
            const T* image = x.value_data() + b * image_size;
            T* y = out.data() + b * out_size;
            int* at = where + b * out_size;
            this->for_each_window([&](Index corner, Index o) {
                Index best = corner;
                T best_value = image[corner];
                for (Index i = 0; i < geometry.kernel_height; ++i)
                    for (Index j = 0; j < geometry.kernel_width; ++j) {
                        const Index p = corner + i * geometry.width + j;
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
        constexpr Index image_size = geometry.image_size(), out_size = PoolWindows<Geometry>::output_size();
        for (Index b = 0; b < x.cols(); ++b)
            for (Index o = 0; o < out_size; ++o)
                dx[b * image_size + maxima_[b * out_size + o]] += dy.data()[b * out_size + o];
    }

    // Set by forward (the op is recorded by value after forward has run).
    mutable const int* maxima_ = nullptr;
};

template <class Geometry>
struct AvgPool2d : PoolWindows<Geometry> {
    static constexpr const char* name = "avg_pool2d";
    using PoolWindows<Geometry>::geometry;

    template <class X>
    void forward(const auto& out, const X& x) const {
        using T = typename X::Scalar;
        const T scale = T(1) / static_cast<T>(geometry.kernel_height * geometry.kernel_width);
        constexpr Index image_size = geometry.image_size(), out_size = PoolWindows<Geometry>::output_size();
        for (Index b = 0; b < x.cols(); ++b) {
            const T* image = x.value_data() + b * image_size;
            T* y = out.data() + b * out_size;
            this->for_each_window([&](Index corner, Index o) {
                T total(0);
                for (Index i = 0; i < geometry.kernel_height; ++i)
                    for (Index j = 0; j < geometry.kernel_width; ++j) total += image[corner + i * geometry.width + j];
                y[o] = total * scale;
            });
        }
    }

    template <class X>
    void backward(const auto& dy, const auto&, const X& x) const {
        using T = typename X::Scalar;
        if (!x.needs_grad()) return;
        T* const dx = x.gradient_sink().memory_to_add_into();
        const T scale = T(1) / static_cast<T>(geometry.kernel_height * geometry.kernel_width);
        constexpr Index image_size = geometry.image_size(), out_size = PoolWindows<Geometry>::output_size();
        for (Index b = 0; b < x.cols(); ++b) {
            T* d_image = dx + b * image_size;
            const T* d_out = dy.data() + b * out_size;
            this->for_each_window([&](Index corner, Index o) {
                const T share = d_out[o] * scale;
                for (Index i = 0; i < geometry.kernel_height; ++i)
                    for (Index j = 0; j < geometry.kernel_width; ++j) d_image[corner + i * geometry.width + j] += share;
            });
        }
    }
};

}  // namespace ops

namespace detail {

template <template <class> class Op, int KH, int KW, class T, int C, int H, int W, int B, class... Options>
auto pool2d(const Images<T, C, H, W, B>& x) {
    static_assert(((is_option_of_kind<Stride, Options>)&&...), "a pooling window's only option is stride<...>");
    static_assert(count_of_kind<Stride, Options...> <= 1, "pooling: stride<...> is given at most once");
    using S = typename PickOption<Stride, Stride<KH, KW>, Options...>::type;
    constexpr int out_h = sliding_output_extent(H, KH, S::height, 0, 1);
    constexpr int out_w = sliding_output_extent(W, KW, S::width, 0, 1);
    using Result = Images<T, C, (out_h > 0 ? out_h : 1), (out_w > 0 ? out_w : 1), B>;
    if constexpr (out_h < 1 || out_w < 1) {
        diagnostic::report<
            diagnostic::pooling_window_is_larger_than_the_image<WindowShape<KH, KW>, ImageShape<C, H, W>>>();
        return Result(typename Result::Flat());
    } else {
        const Op<FixedConvGeometry<C, H, W, KH, KW, S::height, S::width, 0, 0, 1, 1>> op{};
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
