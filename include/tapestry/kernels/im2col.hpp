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
#include <cstring>

#include "tapestry/core/shape.hpp"

namespace tapestry::detail {

struct ConvGeometry {
    Index channels, height, width;  // of the image the kernel slides over
    Index kernel_height, kernel_width;
    Index stride_height, stride_width;
    Index padding_height, padding_width;
    Index dilation_height, dilation_width;

    // PyTorch's (and Caffe's) rule: the last window that fits, rounded down.
    static constexpr Index output_extent(Index in, Index kernel, Index stride, Index padding, Index dilation) {
        return (in + 2 * padding - dilation * (kernel - 1) - 1) / stride + 1;
    }
    Index output_height() const {
        return output_extent(height, kernel_height, stride_height, padding_height, dilation_height);
    }
    Index output_width() const {
        return output_extent(width, kernel_width, stride_width, padding_width, dilation_width);
    }
    Index output_pixels() const { return output_height() * output_width(); }
    Index image_size() const { return channels * height * width; }
    // The columns of im2col's matrix: one per weight of one output channel's filter.
    Index patch_size() const { return channels * kernel_height * kernel_width; }
    // A 1x1 kernel at stride 1 without padding reads each pixel once, in place: the image
    // is its own im2col matrix.
    bool im2col_is_identity() const {
        return kernel_height == 1 && kernel_width == 1 && stride_height == 1 && stride_width == 1 &&
               padding_height == 0 && padding_width == 0;
    }
};

// The output columns [first, last) whose input column, first + offset at stride 1
// (o * stride + offset in general), lies inside an image row of `width` pixels.
struct InsideRange {
    Index first, last;
};
inline InsideRange inside_range(Index offset, Index stride, Index width, Index outputs) {
    // o * stride + offset >= 0  and  o * stride + offset <= width - 1
    const Index first = offset >= 0 ? 0 : (-offset + stride - 1) / stride;
    const Index last = width - 1 - offset < 0 ? 0 : (width - 1 - offset) / stride + 1;
    return {std::min(first, outputs), std::clamp(last, std::min(first, outputs), outputs)};
}

// cols ((output pixels) x (patch size), column-major) = the receptive fields of `image`,
// zero where a field reaches into the padding. Not inlined: one copy per scalar type.
template <class T>
[[gnu::noinline]] void im2col(const T* image, const ConvGeometry& g, T* cols) {
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
                    if (g.stride_width == 1) {
                        std::copy_n(in_row + inside.first + column_offset, inside.last - inside.first,
                                    out_row + inside.first);
                    } else {
                        for (Index ow = inside.first; ow < inside.last; ++ow)
                            out_row[ow] = in_row[ow * g.stride_width + column_offset];
                    }
                    std::fill_n(out_row + inside.last, out_w - inside.last, T(0));
                }
            }
        }
    }
}

// to[0, n) += from[0, n): the two never overlap (a matrix in scratch, an image), which
// the compiler is told so that it vectorises the loop without a run-time overlap test.
template <class T>
inline void add_run(const T* __restrict from, Index n, T* __restrict to) {
    for (Index i = 0; i < n; ++i) to[i] += from[i];
}

// image += the entries of cols, each added into the pixel im2col read it from (entries
// that im2col read from the padding are dropped).
template <class T>
[[gnu::noinline]] void col2im_add(const T* cols, const ConvGeometry& g, T* image) {
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
                    if (g.stride_width == 1) {
                        add_run(from + inside.first, inside.last - inside.first, in_row + column_offset + inside.first);
                    } else {
                        for (Index ow = inside.first; ow < inside.last; ++ow)
                            in_row[ow * g.stride_width + column_offset] += from[ow];
                    }
                }
            }
        }
    }
}

}  // namespace tapestry::detail
