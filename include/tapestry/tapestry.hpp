#pragma once
// tapestry: reverse-mode automatic differentiation over compile-time typed tensors.
// The one header to include; docs/design.md walks through the pieces below.

#include "tapestry/core/eigen.hpp"
#include "tapestry/core/shape.hpp"
#include "tapestry/core/errors.hpp"
#include "tapestry/core/diagnostics.hpp"
#include "tapestry/core/shared.hpp"

#include "tapestry/tape/arena.hpp"
#include "tapestry/tape/tape.hpp"
#include "tapestry/tape/anomaly.hpp"

#include "tapestry/param.hpp"
#include "tapestry/var.hpp"

#include "tapestry/expr/expression.hpp"
#include "tapestry/expr/leaf.hpp"
#include "tapestry/expr/transpose.hpp"
#include "tapestry/expr/broadcast.hpp"
#include "tapestry/expr/unary.hpp"
#include "tapestry/expr/binary.hpp"
#include "tapestry/expr/operand.hpp"
#include "tapestry/expr/elementwise.hpp"
#include "tapestry/expr/materialize.hpp"
#include "tapestry/expr/product.hpp"
#include "tapestry/expr/reduction.hpp"

#include "tapestry/ops/arithmetic.hpp"
#include "tapestry/ops/activations.hpp"
#include "tapestry/ops/math.hpp"
#include "tapestry/ops/reductions.hpp"
#include "tapestry/ops/losses.hpp"
#include "tapestry/ops/recurrence.hpp"
#include "tapestry/ops/misuse.hpp"

#include "tapestry/tape/backward.hpp"

// Not included here, because a model does not need them and every file that includes
// this header would parse them: tapestry/check/gradcheck.hpp (finite-difference
// checks), tapestry/nn/... (optimizers, initialisation), tapestry/io/... (files).
