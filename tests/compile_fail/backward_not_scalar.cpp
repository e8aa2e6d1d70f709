// backward() on a value that is not 1x1.
// expect: backward_needs_a_1x1_loss_but_got_shape<.*Shape<2, 3>
#include <tapestry/tapestry.hpp>
using namespace tapestry;
int main() {
    Param<float, 2, 3> A;
    Tape tape;
#ifdef TAPESTRY_CONTROL
    tape.backward(sum(tanh(A)));
#else
    tape.backward(tanh(A));
#endif
}
