#pragma once
// A read-only buffer of zeros, for what is zero by construction: the tangent of what has
// none (a constant, a Param without a direction), an adjoint no step has written yet.

#include <algorithm>
#include <memory>
#include <vector>

#include "tapestry/core/shape.hpp"

namespace tapestry::detail {

// At least n zeros. A larger request makes a larger buffer and keeps the old ones, so
// that zeros handed out earlier in the same sweep stay valid.
template <class T>
const T* zeros(Index n) {
    thread_local std::vector<std::unique_ptr<T[]>> buffers;
    thread_local Index size = 0;
    if (n > size) {
        const Index larger = std::max<Index>(n, 2 * size);
        buffers.reserve(buffers.size() + 1);
        buffers.push_back(std::make_unique<T[]>(static_cast<std::size_t>(larger)));  // value-initialised: zeros
        size = larger;                                                               // only once the buffer is there
    }
    return buffers.empty() ? nullptr : buffers.back().get();
}

}  // namespace tapestry::detail
