#pragma once
// upsample_nearest<F>(x) (or <FH, FW>): each pixel repeated as an FH x FW block
// (PyTorch's interpolate(mode="nearest") by an integer factor). Backward sums each
// block's gradient into its pixel.

#include "tapestry/conv/images.hpp"
#include "tapestry/graph/evaluate.hpp"
#include "tapestry/graph/node.hpp"

namespace tapestry {
namespace ops {

struct UpsampleNearest {
    static constexpr const char* name = "upsample_nearest";
    static constexpr bool linear = true;  // forward mode and second order: graph/leaf_views.hpp
    Index channels, height, width, factor_height, factor_width;

    // f(input offset, output offset) for every output pixel of one image.
    template <class F>
    void for_each_pixel(F&& f) const {
        const Index out_h = height * factor_height, out_w = width * factor_width;
        Index output = 0;
        for (Index c = 0; c < channels; ++c)
            for (Index oh = 0; oh < out_h; ++oh)
                for (Index ow = 0; ow < out_w; ++ow, ++output)
                    f((c * height + oh / factor_height) * width + ow / factor_width, output);
    }

    template <class X>
    void forward(const auto& out, const X& x) const {
        const Index in_size = channels * height * width, out_size = out.rows();
        for (Index b = 0; b < x.cols(); ++b) {
            const auto* image = x.value_data() + b * in_size;
            auto* y = out.data() + b * out_size;
            for_each_pixel([&](Index i, Index o) { y[o] = image[i]; });
        }
    }

    template <class X>
    void backward(const auto& dy, const auto&, const X& x) const {
        if (!x.needs_grad()) return;
        auto* const dx = x.gradient_sink().memory_to_add_into();
        const Index in_size = channels * height * width, out_size = dy.rows();
        for (Index b = 0; b < x.cols(); ++b) {
            auto* d_image = dx + b * in_size;
            const auto* d_out = dy.data() + b * out_size;
            for_each_pixel([&](Index i, Index o) { d_image[i] += d_out[o]; });
        }
    }
};

}  // namespace ops

template <int FH, int FW = FH, class T, int C, int H, int W, int B>
auto upsample_nearest(const Images<T, C, H, W, B>& x) {
    static_assert(FH >= 1 && FW >= 1, "upsample_nearest<FH, FW>: the factors are at least 1");
    using Result = Images<T, C, H * FH, W * FW, B>;
    const ops::UpsampleNearest op{C, H, W, FH, FW};
    return Result(
        detail::make_node<typename Result::Flat>(op, C * H * FH * W * FW, x.batch(), as_expression(x.flat())));
}

}  // namespace tapestry
