// A reshape between fixed shapes with different numbers of elements.
// expect: reshape_needs_shapes_with_the_same_number_of_elements<.*Shape<3, 4>.*Shape<5, 2>
#include <tapestry/tapestry.hpp>
using namespace tapestry;
int main() {
    Param<float, 3, 4> x;
#ifdef TAPESTRY_CONTROL
    auto y = reshape<6, 2>(x);
#else
    auto y = reshape<5, 2>(x);
#endif
    return static_cast<int>(y.rows());
}
