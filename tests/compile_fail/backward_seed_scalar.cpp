// backward(output, seed) with a seed of another scalar type than the output's.
// expect: backward_needs_a_seed_of_the_outputs_scalar_type<float, double>
#include <tapestry/tapestry.hpp>
using namespace tapestry;
int main() {
    Param<float, 2, 3> A;
    Tape tape;
#ifdef TAPESTRY_CONTROL
    tape.backward(tanh(A), Eigen::Matrix<float, 2, 3>::Ones());
#else
    tape.backward(tanh(A), Eigen::Matrix<double, 2, 3>::Ones());
#endif
}
