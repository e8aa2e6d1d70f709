// Making a Var of a temporary Param, whose gradient would be gone before backward().
// expect: a_temporary_param_cannot_be_used_in_an_expression_declare_it_as_a_variable<.*Param<float, 2, 3>
#include <tapestry/tapestry.hpp>
using namespace tapestry;
int main() {
    Eigen::Matrix<float, 2, 3> initial = Eigen::Matrix<float, 2, 3>::Ones();
#ifdef TAPESTRY_CONTROL
    Param<float, 2, 3> W(initial);
    Var<float, 2, 3> v = W;
#else
    Var<float, 2, 3> v = Param<float, 2, 3>(initial);
#endif
    return static_cast<int>(v.rows());
}
