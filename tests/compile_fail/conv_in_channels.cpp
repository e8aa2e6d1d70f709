// A convolution whose kernel reads 3 channels, over grey (1-channel) images.
// expect: convolution_kernel_in_channels_differ_from_the_image_channels<.*KernelShape<4, 3, 5, 5>.*ImageShape<1, 28,
// 28>
#include <tapestry/tapestry.hpp>
using namespace tapestry;
int main() {
#ifdef TAPESTRY_CONTROL
    Kernel<float, 4, 1, 5> K;
#else
    Kernel<float, 4, 3, 5> K;
#endif
    const auto x = as_images<1, 28, 28>(constant(Eigen::MatrixXf::Zero(784, 2)));
    return static_cast<int>(conv2d(x, K).batch());
}
