// item() on a Var whose fixed shape is not 1x1.
// expect: item_needs_a_1x1_var_not<.*Shape<1, 3>
#include <tapestry/tapestry.hpp>
using namespace tapestry;
int main() {
    Param<float, 2, 3> x;
#ifdef TAPESTRY_CONTROL
    Var<float, 1, 1> s = sum(x);
#else
    Var<float, 1, 3> s = col_sum(x);
#endif
    return static_cast<int>(s.item());
}
