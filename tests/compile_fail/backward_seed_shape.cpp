// backward(output, seed) with a seed of another fixed shape than the output's.
// expect: backward_needs_a_seed_of_the_outputs_shape<.*Shape<2, 3>.*Shape<3, 2>
#include <tapestry/tapestry.hpp>
using namespace tapestry;
int main() {
    Param<float, 2, 3> A;
    Tape tape;
#ifdef TAPESTRY_CONTROL
    tape.backward(tanh(A), Eigen::Matrix<float, 2, 3>::Ones());
#else
    tape.backward(tanh(A), Eigen::Matrix<float, 3, 2>::Ones());
#endif
}
