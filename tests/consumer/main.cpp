#include <tapestry/tapestry.hpp>

int main() {
#ifdef EXPECT_THREADS
    if (tapestry::threads_supported != bool(EXPECT_THREADS)) return 2;
#endif
    tapestry::Param<double, 2, 3> W(Eigen::Matrix<double, 2, 3>::Ones());
    tapestry::Tape tape;
    tape.backward(tapestry::sum(tapestry::square(W)));
    return W.grad().isApprox(2 * W.value()) ? 0 : 1;
}
