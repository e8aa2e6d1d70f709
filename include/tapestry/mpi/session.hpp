#pragma once
// One process of an MPI job: MPI started and stopped, this process's rank, and the
// rule that keeps a failure from hanging the job.
//
//   int main(int argc, char** argv) {
//       return tapestry::mpi::run(argc, argv, [&](tapestry::mpi::Session& session) {
//           ... train, with mpi::DataParallel ...
//           return 0;
//       });
//   }
//
// A rank that fails outside a collective step (an exception that leaves the body, a
// non-zero exit code) cannot tell the others, which would wait for it forever inside
// their next collective call. So it ends the whole job: it prints "tapestry: rank r of
// n: <what happened>" and calls MPI_Abort, and mpirun stops every rank within moments.
// A rank killed outright is mpirun's to report: it names the rank and stops the others,
// which then say so ("stopped by mpirun ...").
// Failures inside mpi::DataParallel::backward are collective instead: every rank
// throws the same distributed_error, which names the rank that failed.

#include <mpi.h>

#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>
#include <thread>

#if defined(_OPENMP)
#include <omp.h>
#endif

#include "tapestry/core/threads.hpp"
#include "tapestry/mpi/errors.hpp"

namespace tapestry::mpi {

class Session {
public:
    // Starts MPI (only the calling thread will make MPI calls; OpenMP's threads never
    // do). Unless set_num_threads was called, or TAPESTRY_NUM_THREADS or OMP_NUM_THREADS
    // is set, a rank uses the cores mpirun bound it to, or, not bound (--bind-to none),
    // its share of its machine's: 2 ranks on 16 cores use 8 threads each.
    Session(int& argc, char**& argv) {
        int initialized = 0;
        detail::check(MPI_Initialized(&initialized), "MPI_Initialized");
        if (initialized) throw distributed_error("mpi::Session: MPI is already started (one Session per process)");
        int provided = 0;
        detail::check(MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
        MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
        MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
        MPI_Comm_size(MPI_COMM_WORLD, &size_);
        say_why_when_stopped();
        // Collective, so every rank asks, whatever its environment says (mpirun does
        // not pass a variable on to other machines without -x).
        const int default_threads = threads_per_rank();
        if (!tapestry::detail::thread_count_chosen_by_program().load() &&
            std::getenv("TAPESTRY_NUM_THREADS") == nullptr && std::getenv("OMP_NUM_THREADS") == nullptr)
            set_num_threads(default_threads);
        else
            warn_if_threads_share_cores();
    }

    // MPI_Finalize, or MPI_Abort while an exception unwinds through here: finalizing
    // waits for the other ranks, which may be waiting for this one.
    ~Session() {
        if (std::uncaught_exceptions() > 0) abort("stopped by an exception");
        if (replaced_sigterm_) std::signal(SIGTERM, SIG_DFL);
        MPI_Finalize();
    }

    Session(const Session&) = delete;
    Session& operator=(const Session&) = delete;

    int rank() const { return rank_; }
    int size() const { return size_; }
    MPI_Comm communicator() const { return MPI_COMM_WORLD; }
    bool is_root() const { return rank_ == 0; }

    // Ends every rank of the job: prints "tapestry: rank r of n: <message>" on stderr,
    // then MPI_Abort with `exit_code`.
    [[noreturn]] void abort(const std::string& message, int exit_code = 1) const {
        std::fprintf(stderr, "tapestry: rank %d of %d: %s; stopping every rank\n", rank_, size_, message.c_str());
        std::fflush(stderr);
        MPI_Abort(MPI_COMM_WORLD, exit_code);
        std::_Exit(exit_code);  // MPI_Abort returned (it should not): still never hang
    }

private:
    // When another rank fails, mpirun stops this one with SIGTERM: unless the program
    // handles SIGTERM itself, say so on stderr ("tapestry: rank 0 of 2: stopped by
    // mpirun ...") rather than vanish without a word.
    void say_why_when_stopped() {
        void (*before)(int) = std::signal(SIGTERM, SIG_DFL);
        if (before != SIG_DFL) {  // the program's own handler stays
            std::signal(SIGTERM, before);
            return;
        }
        std::snprintf(stopped_message(), stopped_message_size,
                      "tapestry: rank %d of %d: stopped by mpirun (SIGTERM), most likely because another rank "
                      "failed: see its message\n",
                      rank_, size_);
        std::signal(SIGTERM, [](int) {
            const char* text = stopped_message();
            (void)!::write(2, text, std::strlen(text));  // write and _exit: safe in a signal handler
            std::_Exit(128 + SIGTERM);
        });
        replaced_sigterm_ = true;
    }
    static constexpr std::size_t stopped_message_size = 200;
    static char* stopped_message() {
        static char text[stopped_message_size] = "";
        return text;
    }

    int threads_per_rank() {
        MPI_Comm node;
        detail::check(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &node),
                      "MPI_Comm_split_type");
        MPI_Comm_size(node, &ranks_here_);
        MPI_Comm_free(&node);
        const int cores = std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
#if defined(_OPENMP)
        // mpirun binds each rank to its own cores (by default for 2 ranks or fewer):
        // then those are what this rank has.
        if (const int bound = omp_get_num_procs(); bound < cores) return std::max(1, bound);
#endif
        return std::max(1, cores / ranks_here_);
    }

    // Threads asked for than mpirun let this rank use would take turns on its cores
    // (and OpenMP's waiting threads spin): several times slower, and silent otherwise.
    void warn_if_threads_share_cores() const {
#if defined(_OPENMP)
        const int threads = num_threads(), bound = omp_get_num_procs();
        const int cores = std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
        if (threads > bound)
            std::fprintf(stderr,
                         "tapestry: rank %d of %d: %d threads asked for, but this rank may run on %d core%s only: "
                         "start mpirun with --bind-to none, or with --map-by slot:PE=%d\n",
                         rank_, size_, threads, bound, bound == 1 ? "" : "s", threads);
        else if (bound == cores && threads * ranks_here_ > cores)  // not bound: the ranks share the machine
            std::fprintf(stderr,
                         "tapestry: rank %d of %d: %d threads on each of the %d ranks of this machine, which has %d "
                         "cores: ask for %d thread%s per rank\n",
                         rank_, size_, threads, ranks_here_, cores, std::max(1, cores / ranks_here_),
                         cores / ranks_here_ > 1 ? "s" : "");
#endif
    }

    int rank_ = 0;
    int size_ = 1;
    int ranks_here_ = 1;  // the ranks on this rank's machine
    bool replaced_sigterm_ = false;
};

// Runs body(session) on this rank and returns its exit code. A body that throws, or
// returns non-zero, ends the whole job (Session::abort) rather than leave the other
// ranks waiting; a body that returns 0 finalizes MPI.
template <class Body>
int run(int& argc, char**& argv, Body&& body) {
    Session session(argc, argv);
    int code = 0;
    try {
        code = body(session);
    } catch (const std::exception& e) {
        session.abort(e.what());
    } catch (...) {
        session.abort("an exception that is not a std::exception");
    }
    if (code != 0) session.abort("exit code " + std::to_string(code), code);
    return 0;
}

}  // namespace tapestry::mpi
