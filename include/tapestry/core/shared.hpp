#pragma once
// Deprecated: this header moved (issue 17) and forwards to its new place until the next
// release. Include tapestry/tapestry.hpp, or the header named below.

#include "tapestry/core/keep_alive.hpp"

namespace tapestry::detail {
template <class X>
using Shared [[deprecated("detail::Shared is detail::KeepAlive")]] = KeepAlive;
}  // namespace tapestry::detail
