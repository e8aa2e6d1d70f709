#pragma once
// Kernel<T, Out, In, KH, KW>: the weights of a convolution from In to Out channels with
// a KH x KW window. It is a Param (optimizers, ParamSets, checkpoints and gradcheck take
// it as one) of shape (In KH KW) x Out: column o is output channel o's filter, ordered
// (input channel, kernel row, kernel column) with the kernel column fastest. Its memory
// is therefore exactly PyTorch's conv2d weight (Out, In, KH, KW), and a convolution is
// (receptive fields) x K, one GEMM per image with K read in place.
//
// The same Kernel serves conv2d(x, K) (In -> Out channels) and its transpose
// conv_transpose2d(h, K) (Out -> In): using it in both is how a convolutional
// autoencoder ties its decoder to its encoder.

#include "tapestry/conv/geometry.hpp"
#include "tapestry/param.hpp"

namespace tapestry {

template <class T, int Out, int In, int KernelHeight, int KernelWidth = KernelHeight>
class Kernel : public Param<T, In * KernelHeight * KernelWidth, Out> {
    static_assert(Out >= 1 && In >= 1 && KernelHeight >= 1 && KernelWidth >= 1,
                  "Kernel<T, Out, In, KH, KW>: every extent is fixed and at least 1");
    using Base = Param<T, In * KernelHeight * KernelWidth, Out>;

public:
    static constexpr int out_channels = Out, in_channels = In;
    static constexpr int height = KernelHeight, width = KernelWidth;
    using Shape = KernelShape<Out, In, KernelHeight, KernelWidth>;

    Kernel() = default;  // zeros
    using Base::Base;
    using Base::operator=;
};

template <class T, int O, int I, int KH, int KW>
inline constexpr bool is_param_v<Kernel<T, O, I, KH, KW>> = true;

}  // namespace tapestry
