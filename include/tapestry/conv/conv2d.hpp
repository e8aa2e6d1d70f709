#pragma once
// conv2d(x, K, stride, padding, dilation): the 2-d convolution (PyTorch's, which is a
// cross-correlation) of a batch of images with a Kernel, one node. Forward and backward
// are im2col and GEMM, one image at a time (conv/convolution.hpp):
//     forward   y_b = im2col(x_b) K
//     backward  dK += im2col(x_b)^T dy_b,   dx_b += col2im(dy_b K^T)
// When the kernel takes a gradient, forward keeps the im2col matrices on the tape for it.
// Being bilinear in (x, K), it has the product rule's tangent and second-order rules.
//
// The output's shape is in its type. A kernel whose input channels are not the images'
// channels, or a window larger than the padded image, does not compile; the first error
// line names the misuse with both shapes.

#include <string>
#include <type_traits>

#include "tapestry/conv/convolution.hpp"
#include "tapestry/conv/geometry.hpp"
#include "tapestry/conv/images.hpp"
#include "tapestry/conv/kernel.hpp"
#include "tapestry/graph/evaluate.hpp"
#include "tapestry/graph/leaf_views.hpp"
#include "tapestry/graph/node.hpp"

namespace tapestry {
namespace diagnostic {
template <class KernelShape, class ImageShape>
struct convolution_kernel_in_channels_differ_from_the_image_channels;
// The kernel's window, dilation (kernel - 1) + 1 pixels, is wider or taller than the
// image with its padding.
template <class KernelShape, class ImageShape, class PaddingShape, class DilationShape>
struct convolution_window_is_larger_than_the_padded_image;
}  // namespace diagnostic

namespace ops {

template <class T, class Geometry>
struct Conv2d {
    static constexpr const char* name = "conv2d";
    Geometry geometry;
    Index out_channels;
    // The im2col matrices of every image, kept on the tape by forward for the kernel's
    // gradient (as PyTorch's and Caffe's CPU convolutions keep theirs): building them
    // again in backward cost a sixth of a LeNet layer's step (docs/performance.md).
    mutable const T* kept_fields = nullptr;

    template <class X, class K>
    void forward(const auto& out, const X& x, const K& kernel) const {
        const Index out_size = out_channels * geometry.output_pixels();
        const Index fields_size = geometry.output_pixels() * geometry.patch_size();
        // Kept before scratch is taken (keep() is last-in first-out with scratch).
        const bool keep = out.recording() && kernel.needs_grad() && !geometry.im2col_is_identity();
        T* const kept = keep ? out.template keep<T>(fields_size * x.cols()) : nullptr;
        detail::for_each_image<T>(x.cols(), geometry, out_channels, detail::GradientSink<T>::nowhere(),
                                  [&](Index b, auto& fields, const auto&) {
                                      const T* image = x.value_data() + b * geometry.image_size();
                                      const T* f = fields.of(image, kept != nullptr ? kept + b * fields_size : nullptr);
                                      detail::convolve(f, kernel.value_data(), out_channels, geometry,
                                                       out.data() + b * out_size, false);
                                  });
        kept_fields = kept;
    }

    template <class X, class K>
    void backward(const auto& dy, const auto&, const X& x, const K& kernel) const {
        const Index out_size = out_channels * geometry.output_pixels();
        const Index fields_size = geometry.output_pixels() * geometry.patch_size();
        T* const dx = x.needs_grad() ? x.gradient_sink().memory_to_add_into() : nullptr;
        const auto dK = kernel.needs_grad() ? kernel.gradient_sink() : detail::GradientSink<T>::nowhere();
        detail::for_each_image<T>(
            x.cols(), geometry, out_channels, dK, [&](Index b, auto& fields, const detail::GradientSink<T>& dK_share) {
                const T* dy_b = dy.data() + b * out_size;
                if (dK_share.wanted()) {
                    const T* image = x.value_data() + b * geometry.image_size();
                    const T* f = kept_fields != nullptr ? kept_fields + b * fields_size : fields.of(image);
                    detail::add_kernel_gradient(f, dy_b, out_channels, geometry, dK_share);
                }
                if (dx != nullptr)
                    detail::add_to_image(dy_b, kernel.value_data(), out_channels, geometry, fields.buffer(),
                                         dx + b * geometry.image_size());
            });
    }

    // Forward mode: the product rule of a bilinear map, ẏ = conv(ẋ, K) + conv(x, K̇). The
    // tangents are looked up here: a Param finds its own through the thread's recording,
    // which the threads of for_each_image do not have.
    template <class X, class K>
    void tangent(const auto& out, const auto&, const X& x, const K& kernel) const {
        const Index out_size = out_channels * geometry.output_pixels();
        const T* const x_tangent = x.has_tangent() ? x.tangent_data() : nullptr;
        const T* const kernel_tangent = kernel.has_tangent() ? kernel.tangent_data() : nullptr;
        const T* const x_value = x.value_data();
        const T* const kernel_value = kernel.value_data();
        out.value().setZero();
        detail::for_each_image<T>(
            x.cols(), geometry, out_channels, detail::GradientSink<T>::nowhere(),
            [&](Index b, auto& fields, const auto&) {
                T* const out_b = out.data() + b * out_size;
                const Index first = b * geometry.image_size();
                if (x_tangent != nullptr)
                    detail::convolve(fields.of(x_tangent + first), kernel_value, out_channels, geometry, out_b, true);
                if (kernel_tangent != nullptr)
                    detail::convolve(fields.of(x_value + first), kernel_tangent, out_channels, geometry, out_b, true);
            });
    }

    // Second order: backward's two products are bilinear in (x or dy, K or dy), so their
    // tangents, F(x)ᵀ ḋy + F(ẋ)ᵀ dy for the kernel and col2im(ḋy Kᵀ + dy K̇ᵀ) for the
    // images, are backward itself run on views of x and K (graph/leaf_views.hpp).
    template <class X, class K>
    void backward_with_tangents(const auto& dy, const auto& dy_tangent, const auto& y, const auto&, const X& x,
                                const K& kernel) const {
        using detail::adjoint_tangent_view, detail::gradient_view, detail::tangent_view;
        backward(dy, y, gradient_view(x), gradient_view(kernel));
        backward(dy_tangent, y, adjoint_tangent_view(x), adjoint_tangent_view(kernel));
        if (x.has_tangent()) {
            const Conv2d without_kept_fields{geometry, out_channels};  // forward kept x's im2col matrices, not ẋ's
            without_kept_fields.backward(dy, y, tangent_view(x), adjoint_tangent_view(kernel));
        }
        if (kernel.has_tangent()) backward(dy, y, adjoint_tangent_view(x), tangent_view(kernel));
    }

    template <class X, class K>
    [[gnu::cold]] std::string describe(const X& x, const K& kernel) const {
        return "conv2d(" + x.describe() + ", " + kernel.describe() + ")";
    }
};

}  // namespace ops

// The convolution of each image of x with K: Out channels of the size that the options
// (stride<>, padding<>, dilation<>, in any order; geometry.hpp) give.
template <class T, int C, int H, int W, int B, int Out, int In, int KH, int KW, class... Options>
auto conv2d(const Images<T, C, H, W, B>& x, const Kernel<T, Out, In, KH, KW>& kernel, Options...) {
    using Window = detail::WindowOptions<false, Options...>;
    using S = typename Window::stride;
    using P = typename Window::padding;
    using D = typename Window::dilation;
    constexpr int out_h = detail::sliding_output_extent(H, KH, S::height, P::height, D::height);
    constexpr int out_w = detail::sliding_output_extent(W, KW, S::width, P::width, D::width);
    using Result = Images<T, Out, (out_h > 0 ? out_h : 1), (out_w > 0 ? out_w : 1), B>;
    if constexpr (In != C) {
        diagnostic::report<diagnostic::convolution_kernel_in_channels_differ_from_the_image_channels<
            KernelShape<Out, In, KH, KW>, ImageShape<C, H, W>>>();
        return Result(typename Result::Flat());
    } else if constexpr (out_h < 1 || out_w < 1) {
        diagnostic::report<diagnostic::convolution_window_is_larger_than_the_padded_image<KernelShape<Out, In, KH, KW>,
                                                                                          ImageShape<C, H, W>, P, D>>();
        return Result(typename Result::Flat());
    } else {
        const ops::Conv2d<T, detail::ConvGeometryFor<C, H, W, KH, KW, Window>> op{{}, Out};
        const auto input = as_expression(x.flat());
        const auto weights = as_expression(kernel);
        return Result(detail::make_node<typename Result::Flat>(op, Out * out_h * out_w, x.batch(), input, weights));
    }
}

// A temporary Kernel would be gone before backward() writes its gradient.
template <class T, int C, int H, int W, int B, class U, int Out, int In, int KH, int KW, class... Options>
auto conv2d(const Images<T, C, H, W, B>&, Kernel<U, Out, In, KH, KW>&&, Options...) {
    diagnostic::report<diagnostic::a_temporary_param_cannot_be_used_in_an_expression_declare_it_as_a_variable<
        Kernel<U, Out, In, KH, KW>>>();
    return Images<T, Out, 1, 1, B>(Var<T, Out, B>());
}

// A Kernel of another scalar type than the images': named with both types.
template <class T, int C, int H, int W, int B, class U, int Out, int In, int KH, int KW, class... Options>
    requires(!std::is_same_v<T, U>)
auto conv2d(const Images<T, C, H, W, B>&, const Kernel<U, Out, In, KH, KW>&, Options...) {
    diagnostic::report<diagnostic::operands_have_different_scalar_types<T, U>>();
    return Images<T, Out, 1, 1, B>(Var<T, Out, B>());
}

}  // namespace tapestry
