// A fixed-size block larger than its operand.
// expect: block_is_larger_than_its_operand<.*Shape<4, 2>.*Shape<3, 5>
#include <tapestry/tapestry.hpp>
using namespace tapestry;
int main() {
    Param<float, 3, 5> x;
#ifdef TAPESTRY_CONTROL
    auto b = block<3, 2>(x, 0, 0);
#else
    auto b = block<4, 2>(x, 0, 0);
#endif
    return static_cast<int>(b.rows());
}
