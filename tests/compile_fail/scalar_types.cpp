// Mixing float and double operands.
// expect: operands_have_different_scalar_types<float, double>
#include <tapestry/tapestry.hpp>
using namespace tapestry;
int main() {
    Param<float, 2, 3> A;
#ifdef TAPESTRY_CONTROL
    Param<float, 2, 3> B;
#else
    Param<double, 2, 3> B;
#endif
    auto C = hadamard(A, B);
    return static_cast<int>(C.rows());
}
