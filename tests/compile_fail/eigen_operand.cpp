// An Eigen matrix used directly in an expression (it must become a constant() first).
// expect: an_eigen_matrix_in_an_expression_must_be_wrapped_in_constant_first<.*Shape<4, 2>
#include <tapestry/tapestry.hpp>
using namespace tapestry;
int main() {
    Param<float, 3, 4> W;
    Eigen::Matrix<float, 4, 2> x = Eigen::Matrix<float, 4, 2>::Ones();
#ifdef TAPESTRY_CONTROL
    auto h = sigmoid(W * constant(x));
#else
    auto h = sigmoid(W * x);
#endif
    (void)h;
}
