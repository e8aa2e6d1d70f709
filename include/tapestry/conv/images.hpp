#pragma once
// Images<T, C, H, W, B>: a batch of B images of C channels of H x W pixels, with C, H and
// W in the type (B fixed or Dynamic). It is a Var of the flat (C H W) x B matrix that
// dense layers read, one image per column, each image stored as PyTorch stores a
// (C, H, W) tensor (channel, then row, the column index fastest), with the image shape
// beside it. Both conversions are free: as_images<C, H, W>(x) views a Var (an
// expression is evaluated first, as anywhere, and a Param copied into a Var whose
// gradient flows back to it), images.flat() gives the Var back.
//
//   auto x = as_images<1, 28, 28>(constant(batch));     // batch: 784 x B
//   auto h = sigmoid(conv2d(x, K1, stride<2>, padding<2>).flat());
//   auto logits = W * pooled.flat() + b;                 // into a dense layer

#include <utility>

#include "tapestry/conv/geometry.hpp"
#include "tapestry/core/diagnostics.hpp"
#include "tapestry/core/errors.hpp"
#include "tapestry/operand.hpp"

namespace tapestry {
namespace diagnostic {
template <class ImageShape, class MatrixShape>
struct as_images_needs_one_image_per_column_with_channels_times_height_times_width_rows;
}  // namespace diagnostic

template <class T, int Channels, int Height, int Width, int Batch = Dynamic>
class Images {
    static_assert(Channels >= 1 && Height >= 1 && Width >= 1,
                  "Images<T, C, H, W>: channels, height and width are fixed and at least 1");

public:
    using Scalar = T;
    static constexpr int channels = Channels, height = Height, width = Width;
    static constexpr int image_size = Channels * Height * Width;
    static constexpr int batch_at_compile_time = Batch;
    using Flat = Var<T, image_size, Batch>;

    // A view of `flat` (image_size x batch): no copy.
    explicit Images(Flat flat) : flat_(std::move(flat)) {}

    const Flat& flat() const& { return flat_; }
    Flat flat() && { return std::move(flat_); }
    Index batch() const { return flat_.cols(); }

private:
    Flat flat_;
};

template <class X>
inline constexpr bool is_images_v = false;
template <class T, int C, int H, int W, int B>
inline constexpr bool is_images_v<Images<T, C, H, W, B>> = true;

// x (any operand of C H W rows, one image per column) as a batch of C x H x W images.
// Rows fixed at another number do not compile; Dynamic rows are checked here.
template <int Channels, int Height, int Width, Operand X>
auto as_images(X&& x) {
    using E = expression_t<X>;
    using T = typename E::Scalar;
    constexpr int size = Channels * Height * Width;
    if constexpr (E::Rows != Dynamic && E::Rows != size) {
        diagnostic::report<diagnostic::as_images_needs_one_image_per_column_with_channels_times_height_times_width_rows<
            ImageShape<Channels, Height, Width>, Shape<E::Rows, E::Cols>>>();
        return Images<T, Channels, Height, Width, E::Cols>(Var<T, size, E::Cols>());
    } else {
        if constexpr (E::Rows == Dynamic) {  // checked before an expression is evaluated (recorded)
            const E e = as_expression(x);
            if (e.rows() != size)
                detail::throw_shape_error("as_images", e.rows(), e.cols(), size, e.cols(),
                                          "one image per column: channels x height x width rows");
        }
        return Images<T, Channels, Height, Width, E::Cols>(Var<T, size, E::Cols>(evaluate(std::forward<X>(x))));
    }
}

}  // namespace tapestry
