#pragma once
// How a loss reduces its per-element (or per-example) values to one: their mean, the
// default, or their sum.

#include "tapestry/core/shape.hpp"

namespace tapestry {

enum class Reduction { Mean, Sum };

namespace detail {
// The factor that turns a sum of `count` values into the reduction asked for.
template <class T>
T reduction_scale(Reduction reduction, Index count) {
    return reduction == Reduction::Mean ? T(1) / static_cast<T>(count) : T(1);
}
}  // namespace detail

}  // namespace tapestry
