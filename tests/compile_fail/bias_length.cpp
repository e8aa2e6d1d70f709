// A bias column of the wrong length for W * x.
// expect: elementwise_operation_on_incompatible_shapes.*Shape<128, -1>.*Shape<64, 1>
#include <tapestry/tapestry.hpp>
using namespace tapestry;
int main() {
    Param<float, 128, 784> W;
#ifdef TAPESTRY_CONTROL
    Param<float, 128, 1> b;
#else
    Param<float, 64, 1> b;
#endif
    auto x = constant(Eigen::MatrixXf::Zero(784, 10));
    Var<float, 128, Dynamic> h = sigmoid(W * x + b);
    return static_cast<int>(h.rows());
}
