#pragma once
// The geometry of a 2-d convolution, and the two loops that turn it into a matrix product
// (as Caffe does): im2col copies every receptive field of one image into a column-major
// matrix with one row per output pixel and one column per (channel, kernel row, kernel
// column), so that the convolution is that matrix times the kernel; col2im adds such a
// matrix back into an image, each entry into the pixel it was read from (the adjoint of
// im2col, and the forward step of a transposed convolution).
//
// Images are stored as PyTorch's (C, H, W) tensors are: channel-major, then rows, the
// column index fastest. One image of C channels is therefore a column-major (H W) x C
// matrix, which is what a GEMM writes when it computes the convolution of one image.

#include <algorithm>

#include "tapestry/core/shape.hpp"

namespace tapestry::detail {

// The extents of a convolution, known at run time (pooling's) ...
struct RuntimeConvExtents {
    Index channels, height, width;  // of the image the kernel slides over
    Index kernel_height, kernel_width;
    Index stride_height, stride_width;
    Index padding_height, padding_width;
    Index dilation_height, dilation_width;
};

// ... or in the type (conv2d's and conv_transpose2d's, whose images and options are):
// im2col and col2im are then compiled for one layer, their short row loops unrolled
// and their bounds folded. A LeNet layer's rows are 8 pixels long; with run-time
// extents the two loops took 3 times as long (docs/performance.md).
template <Index C, Index H, Index W, Index KH, Index KW, Index SH, Index SW, Index PH, Index PW, Index DH, Index DW>
struct FixedConvExtents {
    static constexpr Index channels = C, height = H, width = W;
    static constexpr Index kernel_height = KH, kernel_width = KW;
    static constexpr Index stride_height = SH, stride_width = SW;
    static constexpr Index padding_height = PH, padding_width = PW;
    static constexpr Index dilation_height = DH, dilation_width = DW;
};

// What follows from the extents, the same for both kinds.
template <class Extents>
struct ConvGeometryOf : Extents {
    // PyTorch's (and Caffe's) rule: the last window that fits, rounded down.
    static constexpr Index output_extent(Index in, Index kernel, Index stride, Index padding, Index dilation) {
        return (in + 2 * padding - dilation * (kernel - 1) - 1) / stride + 1;
    }
    constexpr Index output_height() const {
        return output_extent(this->height, this->kernel_height, this->stride_height, this->padding_height,
                             this->dilation_height);
    }
    constexpr Index output_width() const {
        return output_extent(this->width, this->kernel_width, this->stride_width, this->padding_width,
                             this->dilation_width);
    }
    constexpr Index output_pixels() const { return output_height() * output_width(); }
    constexpr Index image_size() const { return this->channels * this->height * this->width; }
    // The columns of im2col's matrix: one per weight of one output channel's filter.
    constexpr Index patch_size() const { return this->channels * this->kernel_height * this->kernel_width; }
    // A 1x1 kernel at stride 1 without padding reads each pixel once, in place: the image
    // is its own im2col matrix.
    constexpr bool im2col_is_identity() const {
        return this->kernel_height == 1 && this->kernel_width == 1 && this->stride_height == 1 &&
               this->stride_width == 1 && this->padding_height == 0 && this->padding_width == 0;
    }
};

using ConvGeometry = ConvGeometryOf<RuntimeConvExtents>;
template <Index... Extents>
using FixedConvGeometry = ConvGeometryOf<FixedConvExtents<Extents...>>;

// The output columns [first, last) whose input column, first + offset at stride 1
// (o * stride + offset in general), lies inside an image row of `width` pixels.
struct InsideRange {
    Index first, last;
};
constexpr InsideRange inside_range(Index offset, Index stride, Index width, Index outputs) {
    // o * stride + offset >= 0  and  o * stride + offset <= width - 1
    const Index first = offset >= 0 ? 0 : (-offset + stride - 1) / stride;
    const Index last = width - 1 - offset < 0 ? 0 : (width - 1 - offset) / stride + 1;
    return {std::min(first, outputs), std::clamp(last, std::min(first, outputs), outputs)};
}

// cols ((output pixels) x (patch size), column-major) = the receptive fields of `image`,
// zero where a field reaches into the padding. Not inlined: one copy per scalar type and
// geometry.
template <class T, class Geometry>
[[gnu::noinline]] void im2col(const T* image, const Geometry& g, T* cols) {
    const Index out_h = g.output_height(), out_w = g.output_width(), pixels = out_h * out_w;
    for (Index c = 0; c < g.channels; ++c) {
        const T* plane = image + c * g.height * g.width;
        for (Index kh = 0; kh < g.kernel_height; ++kh) {
            for (Index kw = 0; kw < g.kernel_width; ++kw) {
                T* column = cols + ((c * g.kernel_height + kh) * g.kernel_width + kw) * pixels;
                const Index column_offset = kw * g.dilation_width - g.padding_width;
                const InsideRange inside = inside_range(column_offset, g.stride_width, g.width, out_w);
                for (Index oh = 0; oh < out_h; ++oh) {
                    T* out_row = column + oh * out_w;
                    const Index ih = oh * g.stride_height - g.padding_height + kh * g.dilation_height;
                    if (ih < 0 || ih >= g.height) {
                        std::fill_n(out_row, out_w, T(0));
                        continue;
                    }
                    const T* in_row = plane + ih * g.width;
                    std::fill_n(out_row, inside.first, T(0));
                    if (g.stride_width == 1)
                        strided_run<1>(in_row, column_offset, inside, 1, out_row);
                    else if (g.stride_width == 2)
                        strided_run<2>(in_row, column_offset, inside, 2, out_row);
                    else
                        strided_run<0>(in_row, column_offset, inside, g.stride_width, out_row);
                    std::fill_n(out_row + inside.last, out_w - inside.last, T(0));
                }
            }
        }
    }
}

// The loops over one image row, compiled for a stride known here (Stride > 0: 1, and the
// autoencoders' 2, which the compiler vectorises; for a fixed geometry every stride is)
// or read at run time (Stride == 0). The image and the im2col matrix never overlap,
// which the compiler is told, so that it vectorises without a run-time overlap test.
template <Index Stride, class T>
inline void strided_run(const T* __restrict in, Index offset, InsideRange inside, Index stride, T* __restrict out) {
    const Index step = Stride > 0 ? Stride : stride;
    for (Index o = inside.first; o < inside.last; ++o) out[o] = in[o * step + offset];
}
template <Index Stride, class T>
inline void add_strided_run(const T* __restrict from, InsideRange inside, Index stride, Index offset,
                            T* __restrict in) {
    const Index step = Stride > 0 ? Stride : stride;
    for (Index o = inside.first; o < inside.last; ++o) in[o * step + offset] += from[o];
}

// image += the entries of cols, each added into the pixel im2col read it from (entries
// that im2col read from the padding are dropped).
template <class T, class Geometry>
[[gnu::noinline]] void col2im_add(const T* cols, const Geometry& g, T* image) {
    const Index out_h = g.output_height(), out_w = g.output_width(), pixels = out_h * out_w;
    for (Index c = 0; c < g.channels; ++c) {
        T* plane = image + c * g.height * g.width;
        for (Index kh = 0; kh < g.kernel_height; ++kh) {
            for (Index kw = 0; kw < g.kernel_width; ++kw) {
                const T* column = cols + ((c * g.kernel_height + kh) * g.kernel_width + kw) * pixels;
                const Index column_offset = kw * g.dilation_width - g.padding_width;
                const InsideRange inside = inside_range(column_offset, g.stride_width, g.width, out_w);
                for (Index oh = 0; oh < out_h; ++oh) {
                    const Index ih = oh * g.stride_height - g.padding_height + kh * g.dilation_height;
                    if (ih < 0 || ih >= g.height) continue;
                    const T* from = column + oh * out_w;
                    T* in_row = plane + ih * g.width;
                    if (g.stride_width == 1)
                        add_strided_run<1>(from, inside, 1, column_offset, in_row);
                    else if (g.stride_width == 2)
                        add_strided_run<2>(from, inside, 2, column_offset, in_row);
                    else
                        add_strided_run<0>(from, inside, g.stride_width, column_offset, in_row);
                }
            }
        }
    }
}

}  // namespace tapestry::detail
