#pragma once
// The three matrix products a convolution and its transpose are made of, one image at a
// time, on the storage described in kernels/im2col.hpp. With F = im2col(image)
// ((output pixels) x (In KH KW)) and K the kernel ((In KH KW) x Out), the convolution of
// one image is the (output pixels) x Out matrix
//     out = F K                                  (convolve)
// and its adjoints are
//     dK    += F^T d_out                         (add_kernel_gradient)
//     image += col2im(d_out K^T)                 (add_to_image)
// conv2d runs the first forward and the other two backward; conv_transpose2d, which is
// conv2d's adjoint with respect to the image, runs add_to_image forward and the other
// two backward. Every product goes through kernels/gemm.hpp (Eigen's kernels, packing in
// the per-thread workspace); the im2col matrix lives in scratch.

#include "tapestry/graph/gradient.hpp"
#include "tapestry/kernels/gemm.hpp"
#include "tapestry/kernels/im2col.hpp"
#include "tapestry/kernels/scratch.hpp"

namespace tapestry::detail {

// Room for one image's im2col matrix, or none when the image is its own.
template <class T, class Geometry>
class FieldsBuffer {
public:
    explicit FieldsBuffer(const Geometry& g)
        : geometry_(g),
          buffer_(g.im2col_is_identity() ? nullptr : scope_.take<T>(g.output_pixels() * g.patch_size())) {}

    // The receptive fields of `image`: in `into` if given (memory of the same size that
    // outlives this buffer), else in the buffer, or the image itself when it is its own.
    const T* of(const T* image, T* into = nullptr) {
        if (buffer_ == nullptr) return image;
        T* const fields = into != nullptr ? into : buffer_;
        im2col(image, geometry_, fields);
        return fields;
    }
    T* buffer() const { return buffer_; }

private:
    Geometry geometry_;
    ScratchScope scope_;
    T* buffer_;
};

// out (pixels x Out) = F K, or += when `accumulate`.
template <class T, class Geometry>
void convolve(const T* fields, const T* kernel, Index out_channels, const Geometry& g, T* out, bool accumulate) {
    const Index pixels = g.output_pixels(), patch = g.patch_size();
    if (accumulate)
        gemm_accumulate<false, false>(T(1), fields, pixels, patch, kernel, patch, out_channels, out);
    else
        gemm_overwrite<false, false>(T(1), fields, pixels, patch, kernel, patch, out_channels, out);
}

// dK += F^T d_out.
template <class T, class Geometry>
void add_kernel_gradient(const T* fields, const T* d_out, Index out_channels, const Geometry& g,
                         const GradientSink<T>& kernel_gradient) {
    const Index pixels = g.output_pixels(), patch = g.patch_size();
    kernel_gradient.template add_product<true, false>(fields, pixels, patch, d_out, pixels, out_channels);
}

// image += col2im(d_out K^T); `fields` is scratch for d_out K^T (unused when the image
// is its own im2col matrix: then the product adds into the image directly).
template <class T, class Geometry>
void add_to_image(const T* d_out, const T* kernel, Index out_channels, const Geometry& g, T* fields, T* image) {
    const Index pixels = g.output_pixels(), patch = g.patch_size();
    if (fields == nullptr) {
        gemm_accumulate<false, true>(T(1), d_out, pixels, out_channels, kernel, patch, out_channels, image);
        return;
    }
    gemm_overwrite<false, true>(T(1), d_out, pixels, out_channels, kernel, patch, out_channels, fields);
    col2im_add(fields, g, image);
}

}  // namespace tapestry::detail
