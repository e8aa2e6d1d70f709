// The elementwise operations that test_hvp_elementwise.cpp checks, each as a function
// that reads the Params P and Q (and P twice where it can), in three lists defined in
// three files: test_hvp_elementwise.cpp, test_hvp_activations.cpp and
// test_hvp_arithmetic.cpp (one binary, several files: tests/CMakeLists.txt says why).

#pragma once

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include <tapestry/tapestry.hpp>

namespace test {

struct ElementwiseOperands {
    tapestry::Param<double, 3, 4>& P;  // in [0.5, 2], as Q, so that log, sqrt and pow apply
    tapestry::Param<double, tapestry::Dynamic, tapestry::Dynamic>& Q;
    const Eigen::Array<bool, 3, 4>& mask;  // where's condition
};

using ElementwiseOps = std::vector<std::pair<std::string, std::function<tapestry::Var<double, 3, 4>()>>>;

ElementwiseOps activations(const ElementwiseOperands& operands);               // test_hvp_activations.cpp
ElementwiseOps math_operations(const ElementwiseOperands& operands);           // test_hvp_elementwise.cpp
ElementwiseOps arithmetic_and_selection(const ElementwiseOperands& operands);  // test_hvp_arithmetic.cpp

}  // namespace test
