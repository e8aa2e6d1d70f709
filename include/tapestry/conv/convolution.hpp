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

#include <algorithm>

#include "tapestry/graph/gradient.hpp"
#include "tapestry/kernels/gemm.hpp"
#include "tapestry/kernels/im2col.hpp"
#include "tapestry/kernels/parallel.hpp"
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

// Runs per_image(b, fields, kernel_gradient) for every image b of a batch, where
// `fields` is a FieldsBuffer of the calling thread and `kernel_gradient` where the
// image's share of dK goes. When the work pays, the images are shared out over threads
// in contiguous runs; each thread then has its own FieldsBuffer and its own zeroed dK,
// and these are added into `kernel_gradient` in thread order once every image is done
// (so a run repeats itself bit for bit; the sum's order differs from one thread's).
// Whatever else per_image writes must be the image's own (its output, its gradient).
// If an image throws, the exception reaches the caller once every thread has stopped;
// the kernel's gradient is then untouched, but other images' outputs may be written.
template <class T, class Geometry, class PerImage>
void for_each_image(Index images, const Geometry& g, Index out_channels, const GradientSink<T>& kernel_gradient,
                    const PerImage& per_image) {
    const Index kernel_size = g.patch_size() * out_channels;
    const double work = double(images) * double(g.output_pixels()) * double(kernel_size);
    const int pieces = pieces_for(work, gemm_min_work_per_thread, images);
    if (pieces == 1) {
        FieldsBuffer<T, Geometry> fields(g);
        for (Index b = 0; b < images; ++b) per_image(b, fields, kernel_gradient);
        return;
    }
    ScratchScope scope;
    T* const partial = kernel_gradient.wanted() ? scope.take<T>(kernel_size * pieces) : nullptr;
    run_pieces(pieces, [&](int p) {
        FieldsBuffer<T, Geometry> fields(g);  // in this thread's scratch
        T* const own = partial != nullptr ? partial + p * kernel_size : nullptr;
        if (own != nullptr) std::fill_n(own, kernel_size, T(0));
        const GradientSink<T> sink = own != nullptr ? GradientSink<T>::into_buffer(own) : GradientSink<T>::nowhere();
        const auto [first, last] = piece_range(images, pieces, p, 1);
        for (Index b = first; b < last; ++b) per_image(b, fields, sink);
    });
    if (partial != nullptr)
        for (int p = 0; p < pieces; ++p) kernel_gradient.add(partial + p * kernel_size, g.patch_size(), out_channels);
}

}  // namespace tapestry::detail
