// A loss whose prediction and target shapes differ.
// expect: loss_needs_prediction_and_target_of_the_same_shape<.*Shape<2, 3>.*Shape<3, 2>
#include <tapestry/tapestry.hpp>
using namespace tapestry;
int main() {
    Param<double, 2, 3> prediction;
#ifdef TAPESTRY_CONTROL
    Param<double, 2, 3> target;
#else
    Param<double, 3, 2> target;
#endif
    auto loss = mse(prediction, target);
    return static_cast<int>(loss.rows());
}
