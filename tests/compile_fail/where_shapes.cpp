// where with a mask of another fixed shape than its branches.
// expect: where_needs_a_mask_and_branches_of_one_shape<.*Shape<2, 2>.*Shape<2, 3>.*Shape<2, 3>
#include <tapestry/tapestry.hpp>
using namespace tapestry;
int main() {
    Param<float, 2, 3> a, b;
#ifdef TAPESTRY_CONTROL
    Eigen::Array<bool, 2, 3> mask = Eigen::Array<bool, 2, 3>::Constant(true);
#else
    Eigen::Array<bool, 2, 2> mask = Eigen::Array<bool, 2, 2>::Constant(true);
#endif
    auto y = where(mask, a, b);
    return static_cast<int>(y.rows());
}
