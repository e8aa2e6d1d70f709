// conv_transpose2d reads the kernel as conv2d's: its input has the kernel's Out channels.
// expect: transposed_convolution_kernel_out_channels_differ_from_the_image_channels<.*KernelShape<8, 3, 3,
// 3>.*ImageShape<3, 10, 10>
#include <tapestry/tapestry.hpp>
using namespace tapestry;
int main() {
    Kernel<double, 8, 3, 3> K;
#ifdef TAPESTRY_CONTROL
    const auto h = as_images<8, 10, 10>(constant(Eigen::MatrixXd::Zero(800, 2)));
#else
    const auto h = as_images<3, 10, 10>(constant(Eigen::MatrixXd::Zero(300, 2)));
#endif
    return static_cast<int>(conv_transpose2d(h, K).batch());
}
