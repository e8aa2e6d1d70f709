// Calling backward() on something that is not a Var, a Param or an expression.
// expect: backward_takes_a_var_a_param_or_an_expression_not<.*Matrix<float, 1, 1
#include <tapestry/tapestry.hpp>
using namespace tapestry;
int main() {
    Param<float, 1, 1> w;
    Tape tape;
#ifdef TAPESTRY_CONTROL
    tape.backward(sum(w));
#else
    tape.backward(w.value());
#endif
    return 0;
}
