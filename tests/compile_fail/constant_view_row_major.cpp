// constant_view of a row-major matrix: a value is stored column after column.
// expect: constant_view_reads_a_column_major_matrix_not_a_row_major_one<.*Matrix<double, 3, 2, 1
#include <tapestry/tapestry.hpp>
using namespace tapestry;
int main() {
    Param<double, 2, 3> W;
#ifdef TAPESTRY_CONTROL
    const Eigen::Matrix<double, 3, 2> x = Eigen::Matrix<double, 3, 2>::Ones();
#else
    const Eigen::Matrix<double, 3, 2, Eigen::RowMajor> x = Eigen::Matrix<double, 3, 2, Eigen::RowMajor>::Ones();
#endif
    Var<double, 2, 2> h = W * constant_view(x);
    return static_cast<int>(h.rows());
}
