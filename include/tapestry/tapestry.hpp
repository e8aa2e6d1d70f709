#pragma once
// tapestry: reverse-mode automatic differentiation over compile-time typed tensors.
// The one header to include. docs/design.md draws the layers; each header includes
// only from the layers below its own.

#include "tapestry/core/threads.hpp"
#include "tapestry/param.hpp"
#include "tapestry/tape.hpp"
#include "tapestry/var.hpp"

#include "tapestry/conv/activations.hpp"
#include "tapestry/conv/channel_bias.hpp"
#include "tapestry/conv/conv2d.hpp"
#include "tapestry/conv/conv_transpose2d.hpp"
#include "tapestry/conv/images.hpp"
#include "tapestry/conv/kernel.hpp"
#include "tapestry/conv/pooling.hpp"
#include "tapestry/conv/upsample.hpp"
#include "tapestry/ops/activations.hpp"
#include "tapestry/ops/arithmetic.hpp"
#include "tapestry/ops/block.hpp"
#include "tapestry/ops/concat.hpp"
#include "tapestry/ops/constant.hpp"
#include "tapestry/ops/detach.hpp"
#include "tapestry/ops/dropout.hpp"
#include "tapestry/ops/extremes.hpp"
#include "tapestry/ops/extremes_along.hpp"
#include "tapestry/ops/gather.hpp"
#include "tapestry/ops/layer_norm.hpp"
#include "tapestry/ops/log_sum_exp.hpp"
#include "tapestry/ops/losses.hpp"
#include "tapestry/ops/math.hpp"
#include "tapestry/ops/matrix_product.hpp"
#include "tapestry/ops/misuse.hpp"
#include "tapestry/ops/nll_loss.hpp"
#include "tapestry/ops/prod.hpp"
#include "tapestry/ops/reshape.hpp"
#include "tapestry/ops/softmax.hpp"
#include "tapestry/ops/softmax_cross_entropy.hpp"
#include "tapestry/ops/stationary_ar1.hpp"
#include "tapestry/ops/sum.hpp"
#include "tapestry/ops/where.hpp"

// Not included here, because a model does not need them and every file that includes
// this header would parse them: tapestry/check/gradcheck.hpp (finite-difference
// checks), tapestry/nn/... (optimizers, initialisation), tapestry/io/... (files).
