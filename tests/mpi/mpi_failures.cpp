// A job whose rank 1 fails at its fourth step while rank 0 trains on, waiting for it
// in the gradients' sum. run_mpi_failure.cmake checks that every rank stops within
// seconds, with a message naming rank 1, whichever way it fails:
//
//   mpi_failures killed   rank 1 is killed (SIGKILL): mpirun reports it and stops the others
//   mpi_failures throws   rank 1 throws outside a collective step: mpi::run aborts the job

#include <csignal>
#include <cstdio>
#include <string>

#include <tapestry/mpi/data_parallel.hpp>
#include <tapestry/nn/optim/sgd.hpp>

using namespace tapestry;

int main(int argc, char** argv) {
    const std::string mode = argc > 1 ? argv[1] : "";
    if (mode != "killed" && mode != "throws") {
        std::fprintf(stderr, "usage: mpi_failures killed|throws\n");
        return 2;
    }
    return mpi::run(argc, argv, [&](mpi::Session& session) {
        Param<float, 64, 256> W(Eigen::MatrixXf::Random(64, 256));
        nn::ParamSet<float> params{{"W", W}};
        nn::Sgd<float> sgd(params, {.lr = nn::lr::fixed(0.01)});
        mpi::DataParallel<float> parallel(session, params);
        const Eigen::MatrixXf batch = Eigen::MatrixXf::Random(256, 64);
        const mpi::Share share = parallel.share(batch.cols());
        Tape tape;
        for (int step = 0; step < 1'000'000; ++step) {  // far longer than the test's timeout
            if (session.rank() == 1 && step == 3) {
                if (mode == "killed") std::raise(SIGKILL);
                throw value_error("a bad batch at step 3");
            }
            tape.clear();
            parallel.backward(tape, share, [&] {
                return mse(W * constant(batch.middleCols(share.first, share.count)),
                           constant(Eigen::MatrixXf::Zero(64, share.count)));
            });
            sgd.step();
        }
        return 0;
    });
}
