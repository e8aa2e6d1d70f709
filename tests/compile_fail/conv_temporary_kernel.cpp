// A temporary Kernel in a convolution: it would be gone before backward writes its gradient.
// expect: a_temporary_param_cannot_be_used_in_an_expression_declare_it_as_a_variable<.*Kernel<float, 4, 1, 3
#include <tapestry/tapestry.hpp>
using namespace tapestry;
int main() {
    const auto x = as_images<1, 8, 8>(constant(Eigen::MatrixXf::Zero(64, 2)));
#ifdef TAPESTRY_CONTROL
    Kernel<float, 4, 1, 3> K;
    return static_cast<int>(conv2d(x, K).batch());
#else
    return static_cast<int>(conv2d(x, Kernel<float, 4, 1, 3>()).batch());
#endif
}
