// A matrix product whose inner dimensions differ, both known at compile time.
// expect: matrix_product_of_incompatible_shapes.*Shape<2, 3>.*Shape<4, 5>
#include <tapestry/tapestry.hpp>
using namespace tapestry;
int main() {
    Param<float, 2, 3> A;
#ifdef TAPESTRY_CONTROL
    Param<float, 3, 5> B;
#else
    Param<float, 4, 5> B;
#endif
    Var<float, 2, 5> C = A * B;
    return static_cast<int>(C.rows());
}
