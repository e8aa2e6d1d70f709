#pragma once
// add_channel_bias(x, b): b(c) added to every pixel of channel c of every image, the
// per-channel bias of a convolution (PyTorch's conv2d bias, Caffe's bias_term). b is a
// C x 1 operand; its gradient is the sum of the output's gradient over each channel's
// pixels and the batch.

#include "tapestry/conv/images.hpp"
#include "tapestry/core/diagnostics.hpp"
#include "tapestry/graph/evaluate.hpp"
#include "tapestry/graph/node.hpp"
#include "tapestry/kernels/scratch.hpp"

namespace tapestry {
namespace diagnostic {
template <class ImageShape, class BiasShape>
struct a_channel_bias_needs_one_value_per_channel;
}  // namespace diagnostic

namespace ops {

struct ChannelBias {
    static constexpr const char* name = "add_channel_bias";
    static constexpr bool linear = true;  // forward mode and second order: graph/leaf_views.hpp
    Index channels, pixels;

    // One pass, a channel of one image at a time (a contiguous run of `pixels` values).
    template <class X, class Bias>
    void forward(const auto& out, const X& x, const Bias& bias) const {
        using T = typename X::Scalar;
        using Run = Eigen::Array<T, Dynamic, 1>;
        const auto b = bias.array();
        for (Index j = 0; j < x.cols(); ++j)
            for (Index c = 0; c < channels; ++c) {
                const Index start = (j * channels + c) * pixels;
                Eigen::Map<Run>(out.data() + start, pixels) =
                    Eigen::Map<const Run>(x.value_data() + start, pixels) + b(c, 0);
            }
    }

    template <class X, class Bias>
    void backward(const auto& dy, const auto&, const X& x, const Bias& bias) const {
        using T = typename X::Scalar;
        if (x.needs_grad()) x.backprop(dy);
        if (!bias.needs_grad()) return;
        detail::ScratchScope scope;
        T* sums = scope.take<T>(channels);
        for (Index c = 0; c < channels; ++c) sums[c] = dy.middleRows(c * pixels, pixels).sum();
        bias.backprop(Eigen::Map<const detail::KernelArray<T, Bias::Rows, Bias::Cols>>(sums, channels, 1));
    }
};

}  // namespace ops

template <class T, int C, int H, int W, int B, Operand Bias>
auto add_channel_bias(const Images<T, C, H, W, B>& x, Bias&& bias) {
    auto b = as_expression(std::forward<Bias>(bias));
    using E = decltype(b);
    using Result = Images<T, C, H, W, B>;
    if constexpr (!std::is_same_v<typename E::Scalar, T>) {
        diagnostic::report<diagnostic::operands_have_different_scalar_types<T, typename E::Scalar>>();
        return Result(typename Result::Flat());
    } else if constexpr ((E::Rows != Dynamic && E::Rows != C) || (E::Cols != Dynamic && E::Cols != 1)) {
        diagnostic::report<
            diagnostic::a_channel_bias_needs_one_value_per_channel<ImageShape<C, H, W>, Shape<E::Rows, E::Cols>>>();
        return Result(typename Result::Flat());
    } else {
        if (b.rows() != C || b.cols() != 1)
            detail::throw_shape_error("add_channel_bias", C, 1, b.rows(), b.cols(), "one bias per channel");
        const ops::ChannelBias op{C, H * W};
        return Result(detail::make_node<typename Result::Flat>(op, C * H * W, x.batch(), as_expression(x.flat()),
                                                               detail::as_leaf(b)));
    }
}

}  // namespace tapestry
