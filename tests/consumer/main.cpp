#include <tapestry/tapestry.hpp>

#if WITH_MPI
#include <tapestry/mpi/data_parallel.hpp>

// One rank, started without mpirun (MPI's singleton): the gradient summed over the job is its own.
int main(int argc, char** argv) {
    return tapestry::mpi::run(argc, argv, [](tapestry::mpi::Session& session) {
        tapestry::Param<double, 2, 3> W(Eigen::Matrix<double, 2, 3>::Ones());
        tapestry::nn::ParamSet<double> params{{"W", W}};
        tapestry::mpi::DataParallel<double> parallel(session, params);
        tapestry::Tape tape;
        parallel.backward(tape, parallel.share(1), [&] { return tapestry::sum(tapestry::square(W)); });
        return W.grad().isApprox(2 * W.value()) ? 0 : 1;
    });
}
#else

int main() {
#ifdef EXPECT_THREADS
    if (tapestry::threads_supported != bool(EXPECT_THREADS)) return 2;
#endif
    tapestry::Param<double, 2, 3> W(Eigen::Matrix<double, 2, 3>::Ones());
    tapestry::Tape tape;
    tape.backward(tapestry::sum(tapestry::square(W)));
    return W.grad().isApprox(2 * W.value()) ? 0 : 1;
}
#endif
