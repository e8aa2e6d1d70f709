#pragma once
// conv_transpose2d(h, K, stride, padding, output_padding, dilation): the transposed
// convolution (PyTorch's conv_transpose2d, Caffe's Deconvolution), which is conv2d's
// adjoint with respect to its images. It reads K laid out as conv2d's, so for a
// Kernel<T, Out, In, KH, KW> it maps Out channels back to In:
//
//   auto h = sigmoid(conv2d(x, K, stride<2>, padding<2>).flat());            // In -> Out
//   auto y = conv_transpose2d(as_images<Out, 14, 14>(h), K, stride<2>,       // Out -> In,
//                             padding<2>, output_padding<1>);                 // the same K
//
// and K.grad() receives both uses. With the steps of conv/convolution.hpp, per image:
//     forward   y_b = col2im(h_b K^T)
//     backward  dh_b += im2col(dy_b) K,   dK += im2col(dy_b)^T h_b
// The output extent is (in - 1) stride - 2 padding + dilation (kernel - 1) + output
// padding + 1: the size of the images whose conv2d with the same options has h's size.

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
struct transposed_convolution_kernel_out_channels_differ_from_the_image_channels;
template <class KernelShape, class ImageShape, class PaddingShape, class DilationShape>
struct transposed_convolution_output_would_be_empty;
}  // namespace diagnostic

namespace ops {

template <class Geometry>
struct ConvTranspose2d {
    static constexpr const char* name = "conv_transpose2d";
    Geometry geometry;  // of the conv2d from the output to h
    Index h_channels;

    template <class H, class K>
    void forward(const auto& out, const H& h, const K& kernel) const {
        out.value().setZero();
        add_transposed(h.value_data(), kernel.value_data(), h.cols(), out.data());
    }

    // Forward mode: the product rule of a bilinear map, ẏ = T(ḣ, K) + T(h, K̇).
    template <class H, class K>
    void tangent(const auto& out, const auto&, const H& h, const K& kernel) const {
        out.value().setZero();
        if (h.has_tangent()) add_transposed(h.tangent_data(), kernel.value_data(), h.cols(), out.data());
        if (kernel.has_tangent()) add_transposed(h.value_data(), kernel.tangent_data(), h.cols(), out.data());
    }

    template <class H, class K>
    void backward(const auto& dy, const auto&, const H& h, const K& kernel) const {
        using T = typename H::Scalar;
        const Index h_size = h_channels * geometry.output_pixels();
        T* const dh = h.needs_grad() ? h.gradient_sink().memory_to_add_into() : nullptr;
        const auto dK = kernel.needs_grad() ? kernel.gradient_sink() : detail::GradientSink<T>::nowhere();
        detail::for_each_image<T>(
            h.cols(), geometry, h_channels, dK, [&](Index b, auto& fields, const detail::GradientSink<T>& dK_share) {
                const T* f = fields.of(dy.data() + b * geometry.image_size());
                if (dK_share.wanted())
                    detail::add_kernel_gradient(f, h.value_data() + b * h_size, h_channels, geometry, dK_share);
                if (dh != nullptr)
                    detail::convolve(f, kernel.value_data(), h_channels, geometry, dh + b * h_size, true);
            });
    }

    // Second order: backward's two products are bilinear in (dy, K or h), so their
    // tangents are backward itself run on views of h and K (graph/leaf_views.hpp).
    template <class H, class K>
    void backward_with_tangents(const auto& dy, const auto& dy_tangent, const auto& y, const auto&, const H& h,
                                const K& kernel) const {
        using detail::adjoint_tangent_view, detail::gradient_view, detail::tangent_view;
        backward(dy, y, gradient_view(h), gradient_view(kernel));
        backward(dy_tangent, y, adjoint_tangent_view(h), adjoint_tangent_view(kernel));
        if (h.has_tangent()) backward(dy, y, tangent_view(h), adjoint_tangent_view(kernel));
        if (kernel.has_tangent()) backward(dy, y, adjoint_tangent_view(h), tangent_view(kernel));
    }

    template <class H, class K>
    [[gnu::cold]] std::string describe(const H& h, const K& kernel) const {
        return "conv_transpose2d(" + h.describe() + ", " + kernel.describe() + ")";
    }

private:
    // out_b += col2im(h_b K^T) for every image b.
    template <class T>
    void add_transposed(const T* h, const T* kernel, Index images, T* out) const {
        const Index h_size = h_channels * geometry.output_pixels();
        detail::for_each_image<T>(images, geometry, h_channels, detail::GradientSink<T>::nowhere(),
                                  [&](Index b, auto& fields, const auto&) {
                                      detail::add_to_image(h + b * h_size, kernel, h_channels, geometry,
                                                           fields.buffer(), out + b * geometry.image_size());
                                  });
    }
};

}  // namespace ops

namespace detail {
constexpr int transposed_output_extent(int in, int kernel, int stride, int padding, int dilation, int extra) {
    return (in - 1) * stride - 2 * padding + dilation * (kernel - 1) + extra + 1;
}
}  // namespace detail

// The transposed convolution of each image of h (Out channels) with K: In channels of the
// size the options give (stride<>, padding<>, output_padding<>, dilation<>, in any order).
template <class T, int C, int H, int W, int B, int Out, int In, int KH, int KW, class... Options>
auto conv_transpose2d(const Images<T, C, H, W, B>& h, const Kernel<T, Out, In, KH, KW>& kernel, Options...) {
    using Window = detail::WindowOptions<true, Options...>;
    using S = typename Window::stride;
    using P = typename Window::padding;
    using D = typename Window::dilation;
    using OP = typename Window::output_padding;
    static_assert(OP::height < S::height && OP::width < S::width,
                  "conv_transpose2d: output_padding<...> must be smaller than the stride");
    constexpr int out_h = detail::transposed_output_extent(H, KH, S::height, P::height, D::height, OP::height);
    constexpr int out_w = detail::transposed_output_extent(W, KW, S::width, P::width, D::width, OP::width);
    using Result = Images<T, In, (out_h > 0 ? out_h : 1), (out_w > 0 ? out_w : 1), B>;
    if constexpr (Out != C) {
        diagnostic::report<diagnostic::transposed_convolution_kernel_out_channels_differ_from_the_image_channels<
            KernelShape<Out, In, KH, KW>, ImageShape<C, H, W>>>();
        return Result(typename Result::Flat());
    } else if constexpr (out_h < 1 || out_w < 1) {
        diagnostic::report<diagnostic::transposed_convolution_output_would_be_empty<KernelShape<Out, In, KH, KW>,
                                                                                    ImageShape<C, H, W>, P, D>>();
        return Result(typename Result::Flat());
    } else {
        using Geometry = detail::ConvGeometryFor<In, out_h, out_w, KH, KW, Window>;
        // The conv2d of the output with the same options has h's size (output padding < stride).
        static_assert(detail::sliding_output_extent(out_h, KH, S::height, P::height, D::height) == H &&
                      detail::sliding_output_extent(out_w, KW, S::width, P::width, D::width) == W);
        const ops::ConvTranspose2d<Geometry> op{{}, Out};
        const auto input = as_expression(h.flat());
        const auto weights = as_expression(kernel);
        return Result(detail::make_node<typename Result::Flat>(op, In * out_h * out_w, h.batch(), input, weights));
    }
}

// A temporary Kernel would be gone before backward() writes its gradient.
template <class T, int C, int H, int W, int B, class U, int Out, int In, int KH, int KW, class... Options>
auto conv_transpose2d(const Images<T, C, H, W, B>&, Kernel<U, Out, In, KH, KW>&&, Options...) {
    diagnostic::report<diagnostic::a_temporary_param_cannot_be_used_in_an_expression_declare_it_as_a_variable<
        Kernel<U, Out, In, KH, KW>>>();
    return Images<T, In, 1, 1, B>(Var<T, In, B>());
}

// A Kernel of another scalar type than the images': named with both types.
template <class T, int C, int H, int W, int B, class U, int Out, int In, int KH, int KW, class... Options>
    requires(!std::is_same_v<T, U>)
auto conv_transpose2d(const Images<T, C, H, W, B>&, const Kernel<U, Out, In, KH, KW>&, Options...) {
    diagnostic::report<diagnostic::operands_have_different_scalar_types<T, U>>();
    return Images<T, In, 1, 1, B>(Var<T, In, B>());
}

}  // namespace tapestry
