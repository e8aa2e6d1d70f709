// A 3x3 kernel dilated by 4 (a 9x9 window) over 5x5 images with padding 1 (7x7): no window fits.
// expect: convolution_window_is_larger_than_the_padded_image<.*KernelShape<2, 1, 3, 3>.*ImageShape<1, 5,
// 5>.*Padding<1.*Dilation<4
#include <tapestry/tapestry.hpp>
using namespace tapestry;
int main() {
    Kernel<float, 2, 1, 3> K;
    const auto x = as_images<1, 5, 5>(constant(Eigen::MatrixXf::Zero(25, 2)));
#ifdef TAPESTRY_CONTROL
    return static_cast<int>(conv2d(x, K, padding<1>, dilation<3>).batch());
#else
    return static_cast<int>(conv2d(x, K, padding<1>, dilation<4>).batch());
#endif
}
