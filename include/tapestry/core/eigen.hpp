#pragma once
// The one place tapestry includes Eigen.
//
// A Param such as Param<float, 784, 1000> owns an Eigen::Matrix with those fixed
// extents. Eigen refuses to instantiate fixed-size matrices above 128 KiB because
// they usually live on the stack; tapestry keeps them on the heap (behind a
// unique_ptr), so the guard does not apply and we lift it, unless Eigen was
// already included (then param.hpp explains what to do in a static_assert).
#if !defined(EIGEN_WORLD_VERSION) && !defined(EIGEN_STACK_ALLOCATION_LIMIT)
#define EIGEN_STACK_ALLOCATION_LIMIT 0
#endif

#include <Eigen/Core>

#if !EIGEN_VERSION_AT_LEAST(3, 4, 0)
#error "tapestry needs Eigen 3.4 or newer (Debian: libeigen3-dev)"
#endif
