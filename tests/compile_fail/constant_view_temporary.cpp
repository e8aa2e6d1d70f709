// constant_view of a temporary matrix: it would be gone before backward() reads it.
// expect: constant_view_reads_a_matrix_in_memory_not_a_temporary_or_an_expression_use_constant<.*Matrix<double, 3, 2
#include <tapestry/tapestry.hpp>
using namespace tapestry;
int main() {
    Param<double, 2, 3> W;
#ifdef TAPESTRY_CONTROL
    const Eigen::Matrix<double, 3, 2> x = Eigen::Matrix<double, 3, 2>::Ones();
    Var<double, 2, 2> h = W * constant_view(x);
#else
    Var<double, 2, 2> h = W * constant_view(Eigen::Matrix<double, 3, 2>::Ones().eval());
#endif
    return static_cast<int>(h.rows());
}
