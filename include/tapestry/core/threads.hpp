#pragma once
// How many threads tapestry's products and large loops run on.
//
//   tapestry::set_num_threads(4);     // from now on, in every thread of the program
//   tapestry::num_threads();          // what is in force
//
// The default is read once, at the first use: the environment variable
// TAPESTRY_NUM_THREADS if it is set, else OpenMP's own default (OMP_NUM_THREADS if
// set, else one thread per core), as PyTorch does. Threads come from OpenMP, as Eigen's
// own parallel products do; a program compiled without OpenMP (no -fopenmp; CMake's
// tapestry::tapestry adds it when TAPESTRY_OPENMP is on and OpenMP is found) runs on one
// thread, and num_threads() says 1 whatever was asked.
//
// The setting is global, not per thread (OpenMP's omp_set_num_threads is per thread),
// so that a worker thread a program starts later obeys it too. set_num_threads also
// passes n on to Eigen::setNbThreads, so that Eigen's own parallel products in user
// code follow it; the default leaves Eigen's own default (OpenMP's) alone.

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <thread>

#include "tapestry/core/eigen.hpp"
#ifdef _OPENMP
#include <omp.h>
#endif

namespace tapestry {

// True when this program was compiled with OpenMP, so that more than one thread can run.
inline constexpr bool threads_supported =
#ifdef _OPENMP
    true;
#else
    false;
#endif

namespace detail {

inline std::atomic<int>& thread_count_setting() {
    static std::atomic<int> setting{0};  // 0: not decided yet
    return setting;
}

// TAPESTRY_NUM_THREADS, checked: a typo must not silently run on one thread. Digits
// only: no sign, no spaces.
[[gnu::cold]] inline int thread_count_from_environment() {
    const char* text = std::getenv("TAPESTRY_NUM_THREADS");
    if (text == nullptr || *text == '\0') {
#ifdef _OPENMP
        return omp_get_max_threads();
#else
        return std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
#endif
    }
    long n = 0;
    for (const char* c = text; *c != '\0' && n <= 4096; ++c) n = *c >= '0' && *c <= '9' ? 10 * n + (*c - '0') : -1;
    if (n < 1 || n > 4096)
        throw std::invalid_argument(std::string("TAPESTRY_NUM_THREADS=\"") + text +
                                    "\": expected a whole number of threads from 1 to 4096");
    return static_cast<int>(n);
}

// The count asked for, by set_num_threads or the environment, even without OpenMP:
// what nn::DataParallel, whose threads are its own, takes as its number of replicas.
inline int requested_thread_count() {
    int n = thread_count_setting().load(std::memory_order_relaxed);
    if (n == 0) [[unlikely]] {
        n = thread_count_from_environment();
        int undecided = 0;  // a racing first call, or set_num_threads, may have decided first
        if (!thread_count_setting().compare_exchange_strong(undecided, n)) n = undecided;
    }
    return n;
}

// True once set_num_threads was called: a default chosen later (mpi::Session's share of
// the cores) must not override the program's own choice.
inline std::atomic<bool>& thread_count_chosen_by_program() {
    static std::atomic<bool> chosen{false};
    return chosen;
}

// Set while a thread's products and loops must stay on it (KernelsOnThisThread).
inline thread_local bool kernels_stay_on_this_thread = false;

}  // namespace detail

// The number of threads a product or a large loop runs on (1 without OpenMP). Throws
// std::invalid_argument, at the first call, if TAPESTRY_NUM_THREADS is set but is not
// a whole number from 1 to 4096.
inline int num_threads() { return threads_supported ? detail::requested_thread_count() : 1; }

// Runs products and large loops on n threads from now on. Throws std::invalid_argument
// for n < 1. Without OpenMP this records n (nn::DataParallel's default number of
// replicas), but products and loops still run on one thread. Call it while no other
// thread is running products: between steps, or at start-up.
inline void set_num_threads(int n) {
    if (n < 1) throw std::invalid_argument("set_num_threads(" + std::to_string(n) + "): expected at least 1 thread");
    detail::thread_count_setting().store(n, std::memory_order_relaxed);
    detail::thread_count_chosen_by_program().store(true, std::memory_order_relaxed);
    Eigen::setNbThreads(n);
}

// For threads of your own that already work side by side (one model each, or the
// replicas of nn/replicas.hpp): while it lives, this thread's products and loops run
// on it alone, instead of each of your threads starting num_threads() more.
// nn::DataParallel does this for its replicas.
class KernelsOnThisThread {
public:
    KernelsOnThisThread() : before_(detail::kernels_stay_on_this_thread) { detail::kernels_stay_on_this_thread = true; }
    ~KernelsOnThisThread() { detail::kernels_stay_on_this_thread = before_; }
    KernelsOnThisThread(const KernelsOnThisThread&) = delete;
    KernelsOnThisThread& operator=(const KernelsOnThisThread&) = delete;

private:
    bool before_;
};

}  // namespace tapestry
