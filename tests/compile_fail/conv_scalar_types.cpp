// float images with a double kernel.
// expect: operands_have_different_scalar_types<float, double>
#include <tapestry/tapestry.hpp>
using namespace tapestry;
int main() {
#ifdef TAPESTRY_CONTROL
    Kernel<float, 4, 1, 3> K;
#else
    Kernel<double, 4, 1, 3> K;
#endif
    const auto x = as_images<1, 8, 8>(constant(Eigen::MatrixXf::Zero(64, 2)));
    return static_cast<int>(conv2d(x, K).batch());
}
