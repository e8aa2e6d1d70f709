// pow() with an expression as its exponent (it takes a number).
// expect: pow_needs_a_number_as_its_exponent_not<.*Param<float, 3, 4>
#include <tapestry/tapestry.hpp>
using namespace tapestry;
int main() {
    Param<float, 3, 4> W, P;
#ifdef TAPESTRY_CONTROL
    auto y = pow(W, 2.5);
#else
    auto y = pow(W, P);
#endif
    (void)y;
}
