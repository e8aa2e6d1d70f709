// Adding two matrices of different fixed shapes.
// expect: elementwise_operation_on_incompatible_shapes.*Shape<2, 3>.*Shape<3, 2>
#include <tapestry/tapestry.hpp>
using namespace tapestry;
int main() {
    Param<double, 2, 3> A;
#ifdef TAPESTRY_CONTROL
    Param<double, 2, 3> B;
#else
    Param<double, 3, 2> B;
#endif
    Var<double, 2, 3> C = A + B;
    return static_cast<int>(C.rows());
}
