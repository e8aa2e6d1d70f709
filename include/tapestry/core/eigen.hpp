#pragma once
// The one place tapestry includes Eigen. It may come before or after the user's own
// Eigen includes: tapestry needs no Eigen configuration macro (a fixed-size Param keeps
// its numbers in a run-time-sized matrix, param.hpp, so EIGEN_STACK_ALLOCATION_LIMIT
// never applies to it).

#include <Eigen/Core>

#if !EIGEN_VERSION_AT_LEAST(3, 4, 0)
#error "tapestry needs Eigen 3.4 or newer (Debian: libeigen3-dev)"
#endif
