// constant_view of a temporary Ref: it may hold the only copy of an expression's values.
// expect: constant_view_reads_a_matrix_in_memory_not_a_temporary_or_an_expression_use_constant<.*Ref<
#include <tapestry/tapestry.hpp>
using namespace tapestry;
int main() {
    Param<double, 2, 3> W;
    const Eigen::MatrixXd x = Eigen::MatrixXd::Ones(3, 2);
#ifdef TAPESTRY_CONTROL
    const Eigen::Ref<const Eigen::MatrixXd> kept(x + x);
    Var<double, 2, Dynamic> h = W * constant_view(kept);
#else
    Var<double, 2, Dynamic> h = W * constant_view(Eigen::Ref<const Eigen::MatrixXd>(x + x));
#endif
    return static_cast<int>(h.rows());
}
