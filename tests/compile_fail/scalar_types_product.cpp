// A matrix product of a float and a double operand.
// expect: operands_have_different_scalar_types<double, float>
#include <tapestry/tapestry.hpp>
using namespace tapestry;
int main() {
    Param<double, 2, 3> A;
#ifdef TAPESTRY_CONTROL
    Param<double, 3, 4> B;
#else
    Param<float, 3, 4> B;
#endif
    auto C = A * B;
    return static_cast<int>(C.rows());
}
