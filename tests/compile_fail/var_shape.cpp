// Assigning an expression to a Var of another fixed shape.
// expect: cannot_assign_expression_to_a_var_of_another_shape<.*Shape<2, 3>.*Shape<3, 3>
#include <tapestry/tapestry.hpp>
using namespace tapestry;
int main() {
    Param<float, 2, 3> A;
#ifdef TAPESTRY_CONTROL
    Var<float, 2, 3> h = tanh(A);
#else
    Var<float, 3, 3> h = tanh(A);
#endif
    return static_cast<int>(h.rows());
}
