// A pooling window larger than the image.
// expect: pooling_window_is_larger_than_the_image<.*WindowShape<4, 4>.*ImageShape<2, 3, 3>
#include <tapestry/tapestry.hpp>
using namespace tapestry;
int main() {
    const auto x = as_images<2, 3, 3>(constant(Eigen::MatrixXf::Zero(18, 2)));
#ifdef TAPESTRY_CONTROL
    return static_cast<int>(max_pool2d<3>(x).batch());
#else
    return static_cast<int>(max_pool2d<4>(x).batch());
#endif
}
