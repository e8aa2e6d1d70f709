// Assigning a float expression to a double Var.
// expect: cannot_assign_expression_to_a_var_of_another_scalar_type<float, double>
#include <tapestry/tapestry.hpp>
using namespace tapestry;
int main() {
    Param<float, 2, 3> A;
#ifdef TAPESTRY_CONTROL
    Var<float, 2, 3> h = tanh(A);
#else
    Var<double, 2, 3> h = tanh(A);
#endif
    return static_cast<int>(h.rows());
}
