// A 5x5 kernel over 3x3 images without enough padding: no window fits.
// expect: convolution_kernel_is_larger_than_the_padded_image<.*KernelShape<2, 1, 5, 5>.*ImageShape<1, 3, 3>.*Padding<0
#include <tapestry/tapestry.hpp>
using namespace tapestry;
int main() {
    Kernel<float, 2, 1, 5> K;
    const auto x = as_images<1, 3, 3>(constant(Eigen::MatrixXf::Zero(9, 2)));
#ifdef TAPESTRY_CONTROL
    return static_cast<int>(conv2d(x, K, padding<1>).batch());
#else
    return static_cast<int>(conv2d(x, K).batch());
#endif
}
