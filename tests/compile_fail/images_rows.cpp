// 100 rows are not one 1x28x28 image per column.
// expect: as_images_needs_one_image_per_column_with_channels_times_height_times_width_rows<.*ImageShape<1, 28,
// 28>.*Shape<100, -1>
#include <tapestry/tapestry.hpp>
using namespace tapestry;
int main() {
#ifdef TAPESTRY_CONTROL
    Param<float, 784, Dynamic> x(784, 3);
#else
    Param<float, 100, Dynamic> x(100, 3);
#endif
    return static_cast<int>(as_images<1, 28, 28>(x).batch());
}
