// constant_view of an expression: there is no memory to read in place; constant() evaluates it.
// expect: constant_view_reads_a_matrix_in_memory_not_a_temporary_or_an_expression_use_constant<.*CwiseBinaryOp
#include <tapestry/tapestry.hpp>
using namespace tapestry;
int main() {
    Param<double, 2, 3> W;
    const Eigen::Matrix<double, 3, 2> x = Eigen::Matrix<double, 3, 2>::Ones();
#ifdef TAPESTRY_CONTROL
    Var<double, 2, 2> h = W * constant(x + x);
#else
    Var<double, 2, 2> h = W * constant_view(x + x);
#endif
    return static_cast<int>(h.rows());
}
