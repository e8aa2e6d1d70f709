#pragma once
// How a convolution or a pooling window moves over an image, given in the type so that
// the output's height and width are in the type too. Options come in any order; each
// left out takes PyTorch's default (stride 1, padding 0, dilation 1, output padding 0):
//
//   conv2d(x, K, stride<2>, padding<2>)          // 2 in both directions
//   conv2d(x, K, padding<0, 1>, stride<2, 1>)    // (height, width)
//
// The output extents follow PyTorch's (and Caffe's) rule, rounded down:
//   out = (in + 2 padding - dilation (kernel - 1) - 1) / stride + 1.
// The names of the shapes that compile-time misuses print are here too.

#include <type_traits>

#include "tapestry/kernels/im2col.hpp"

namespace tapestry {

template <int Height, int Width = Height>
struct Stride {
    static_assert(Height >= 1 && Width >= 1, "stride<H, W>: a stride is at least 1");
    static constexpr int height = Height, width = Width;
};
template <int Height, int Width = Height>
struct Padding {
    static_assert(Height >= 0 && Width >= 0, "padding<H, W>: a padding is at least 0");
    static constexpr int height = Height, width = Width;
};
template <int Height, int Width = Height>
struct Dilation {
    static_assert(Height >= 1 && Width >= 1, "dilation<H, W>: a dilation is at least 1");
    static constexpr int height = Height, width = Width;
};
// conv_transpose2d's extra rows and columns at the bottom and right of its output (as
// PyTorch's output_padding): which of the input sizes that a strided conv2d maps to the
// same output size the transpose gives back.
template <int Height, int Width = Height>
struct OutputPadding {
    static_assert(Height >= 0 && Width >= 0, "output_padding<H, W>: an output padding is at least 0");
    static constexpr int height = Height, width = Width;
};

// Pooling's rounding up of its output size (Caffe's rule; PyTorch's ceil_mode=True): a
// last window that starts inside the image (or its leading padding) but hangs over the
// far edge still counts, over what it covers.
struct CeilMode {};

template <int Height, int Width = Height>
inline constexpr Stride<Height, Width> stride{};
template <int Height, int Width = Height>
inline constexpr Padding<Height, Width> padding{};
template <int Height, int Width = Height>
inline constexpr Dilation<Height, Width> dilation{};
template <int Height, int Width = Height>
inline constexpr OutputPadding<Height, Width> output_padding{};
inline constexpr CeilMode ceil_mode{};

// The shapes that diagnostics name: "ImageShape<1, 28, 28>" is one 28 x 28 grey image.
template <int Channels, int Height, int Width>
struct ImageShape {};
template <int OutChannels, int InChannels, int Height, int Width>
struct KernelShape {};
template <int Height, int Width>
struct WindowShape {};

namespace detail {

// The output extent of a window of `kernel` (dilated) sliding over `in` padded values
// at `stride`; 0 or less when the window does not fit at all.
constexpr int sliding_output_extent(int in, int kernel, int stride, int padding, int dilation) {
    const int span = dilation * (kernel - 1) + 1;
    return in + 2 * padding < span
               ? 0
               : static_cast<int>(ConvGeometry::output_extent(in, kernel, stride, padding, dilation));
}

// A pooling window's output extent: rounded down, or up with ceil_mode (then a last
// window starting past the image and its leading padding is dropped, as PyTorch and
// Caffe drop it).
constexpr int pooled_output_extent(int in, int kernel, int stride, int padding, bool round_up) {
    if (in + 2 * padding < kernel) return 0;
    const int span = in + 2 * padding - kernel;
    int out = (round_up ? (span + stride - 1) / stride : span / stride) + 1;
    if (round_up && (out - 1) * stride >= in + padding) --out;
    return out;
}

template <template <int, int> class Kind, class X>
inline constexpr bool is_option_of_kind = false;
template <template <int, int> class Kind, int H, int W>
inline constexpr bool is_option_of_kind<Kind, Kind<H, W>> = true;

// The option of one kind among `Options`, or `Default`.
template <template <int, int> class Kind, class Default, class... Options>
struct PickOption {
    using type = Default;
};
template <template <int, int> class Kind, class Default, class First, class... Rest>
struct PickOption<Kind, Default, First, Rest...> {
    using type =
        std::conditional_t<is_option_of_kind<Kind, First>, First, typename PickOption<Kind, Default, Rest...>::type>;
};

template <template <int, int> class Kind, class... Options>
inline constexpr int count_of_kind = (0 + ... + int(is_option_of_kind<Kind, Options>));

// The options of a sliding window, each given at most once. `Transposed`: output_padding
// is allowed (conv_transpose2d's).
template <bool Transposed, class... Options>
struct WindowOptions {
    static_assert(((is_option_of_kind<Stride, Options> || is_option_of_kind<Padding, Options> ||
                    is_option_of_kind<Dilation, Options> ||
                    (Transposed && is_option_of_kind<OutputPadding, Options>)) &&
                   ...),
                  "the options of a convolution are stride<...>, padding<...> and dilation<...> (and, for "
                  "conv_transpose2d, output_padding<...>)");
    static_assert(count_of_kind<Stride, Options...> <= 1 && count_of_kind<Padding, Options...> <= 1 &&
                      count_of_kind<Dilation, Options...> <= 1 && count_of_kind<OutputPadding, Options...> <= 1,
                  "each option of a convolution is given at most once");
    using stride = typename PickOption<Stride, Stride<1>, Options...>::type;
    using padding = typename PickOption<Padding, Padding<0>, Options...>::type;
    using dilation = typename PickOption<Dilation, Dilation<1>, Options...>::type;
    using output_padding = typename PickOption<OutputPadding, OutputPadding<0>, Options...>::type;
};

// The geometry of a convolution over C x H x W images with a KH x KW kernel, in the type.
template <int C, int H, int W, int KH, int KW, class Options>
using ConvGeometryFor =
    FixedConvGeometry<C, H, W, KH, KW, Options::stride::height, Options::stride::width, Options::padding::height,
                      Options::padding::width, Options::dilation::height, Options::dilation::width>;

}  // namespace detail
}  // namespace tapestry
