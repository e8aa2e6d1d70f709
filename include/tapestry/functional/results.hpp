#pragma once
// What jvp, hvp and gnvp give (functional/jvp.hpp, hvp.hpp, gnvp.hpp). Vectors lay the
// Params out as jacobian's columns: the ParamSet's order, each Param column-major.

#include "tapestry/core/eigen.hpp"

namespace tapestry {

template <class T>
struct JvpResult {
    Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic> value;    // f's value
    Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic> tangent;  // J v, of the value's shape
};

template <class T>
struct HvpResult {
    T value;                                       // f's value
    Eigen::Matrix<T, Eigen::Dynamic, 1> gradient;  // its gradient
    Eigen::Matrix<T, Eigen::Dynamic, 1> product;   // H v
};

template <class T>
struct GnvpResult {
    T value;                                      // the loss
    Eigen::Matrix<T, Eigen::Dynamic, 1> product;  // G v
};

}  // namespace tapestry
