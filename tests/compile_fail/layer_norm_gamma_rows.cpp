// layer_norm's scale with a fixed number of rows other than the input's features.
// expect: layer_norm_needs_gamma_and_beta_with_one_row_per_feature<.*Shape<6, 4>.*Shape<5, 1>.*Shape<6, 1>
#include <tapestry/tapestry.hpp>
using namespace tapestry;
int main() {
    Param<float, 6, 4> X;
    Param<float, 6, 1> beta;
#ifdef TAPESTRY_CONTROL
    Param<float, 6, 1> gamma;
#else
    Param<float, 5, 1> gamma;
#endif
    auto y = layer_norm(X, gamma, beta);
    return static_cast<int>(y.rows());
}
