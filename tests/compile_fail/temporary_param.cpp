// A temporary Param in an expression: it would die before backward() writes its grad.
// expect: a_temporary_param_cannot_be_used_in_an_expression
#include <tapestry/tapestry.hpp>
using namespace tapestry;
int main() {
#ifdef TAPESTRY_CONTROL
    Param<double, 2, 2> A;
    auto h = sigmoid(A);
#else
    auto h = sigmoid(Param<double, 2, 2>());
#endif
    return static_cast<int>(h.rows());
}
