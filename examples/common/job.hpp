#pragma once
// Where a training run's steps happen: in this process (LocalJob), or, with
// --distributed, on every rank of an MPI job (MpiJob: each rank trains on its share of
// every batch, the gradients are summed over the ranks, and the root alone prints and
// writes files). The training loops are written once, against either.

#include <cstdio>
#include <string>

#include <tapestry/io/checkpoint.hpp>
#include <tapestry/tapestry.hpp>

#if TAPESTRY_EXAMPLES_WITH_MPI
#include <tapestry/mpi/checkpoint.hpp>
#include <tapestry/mpi/data_parallel.hpp>
#endif

namespace examples {

// This process's examples of a batch or a data set: [first, first + count).
struct Share {
    tapestry::Index first = 0;
    tapestry::Index count = 0;
};

class LocalJob {
public:
    bool is_root() const { return true; }
    Share share(tapestry::Index examples) const { return {0, examples}; }

    // Backward from loss() on `tape`; returns the loss.
    template <class Loss>
    double backward(tapestry::Tape& tape, Share, Loss&& loss) {
        tapestry::Var<float, 1, 1> value = loss();
        tape.backward(value);
        return static_cast<double>(value.value()(0, 0));
    }
    double sum(double x) const { return x; }
    void save(const std::string& path, const tapestry::nn::Optimizer<float>& optimizer) const {
        tapestry::io::save_checkpoint(path, optimizer);
    }
    void load(const std::string& path, tapestry::nn::Optimizer<float>& optimizer) const {
        tapestry::io::load_checkpoint(path, optimizer);
    }
    void check_in_sync(const tapestry::nn::Optimizer<float>&) const {}
};

#if TAPESTRY_EXAMPLES_WITH_MPI
class MpiJob {
public:
    // Every rank starts from the root's weights.
    MpiJob(const tapestry::mpi::Session& session, const tapestry::nn::ParamSet<float>& params)
        : session_(session), parallel_(session, params) {}

    bool is_root() const { return session_.is_root(); }
    Share share(tapestry::Index examples) const {
        const tapestry::mpi::Share s = parallel_.share(examples);
        return {s.first, s.count};
    }
    // Backward from loss() on this rank's share; returns the whole batch's loss.
    template <class Loss>
    double backward(tapestry::Tape& tape, Share share, Loss&& loss) {
        return static_cast<double>(parallel_.backward(tape, {share.first, share.count}, loss));
    }
    double sum(double x) const { return parallel_.sum(x); }
    void save(const std::string& path, const tapestry::nn::Optimizer<float>& optimizer) const {
        tapestry::mpi::save_checkpoint(session_, path, optimizer);
    }
    void load(const std::string& path, tapestry::nn::Optimizer<float>& optimizer) const {
        tapestry::mpi::load_checkpoint(session_, path, optimizer);
    }
    void check_in_sync(const tapestry::nn::Optimizer<float>& optimizer) const { parallel_.check_in_sync(optimizer); }

private:
    const tapestry::mpi::Session& session_;
    tapestry::mpi::DataParallel<float> parallel_;
};
#endif

// Calls train(make_job), where make_job(params) makes the job: a LocalJob, or with
// `distributed` an MpiJob on this rank of the MPI job that mpirun started. Returns the
// exit code.
template <class Train>
int run_job(bool distributed, int& argc, char**& argv, Train&& train) {
    if (!distributed) return train([](const tapestry::nn::ParamSet<float>&) { return LocalJob{}; });
#if TAPESTRY_EXAMPLES_WITH_MPI
    return tapestry::mpi::run(argc, argv, [&](tapestry::mpi::Session& session) {
        if (session.is_root()) std::printf("ranks: %d\n", session.size());
        return train([&](const tapestry::nn::ParamSet<float>& params) { return MpiJob(session, params); });
    });
#else
    (void)argc;
    (void)argv;
    std::fprintf(stderr, "error: --distributed: this program was built without MPI (Debian: libopenmpi-dev)\n");
    return 2;
#endif
}

}  // namespace examples
