#pragma once
// One model trained on several threads: each thread runs a replica of the model (its own
// Params, copied from the model before every step) on its share of the batch, with its
// own tape; their gradients are added into the model's in replica order, so a run
// repeats itself bit for bit; one optimizer, on the model's Params, takes the step.
//
//   nn::DataParallel parallel(model, 4);             // 4 replicas, 4 threads
//   nn::Sgd<float> sgd(model.params(), options);
//   for (const auto& batch : batches) {
//       parallel.backward(batch.cols(), [&](Model& replica, Index first, Index count) {
//           return replica.loss(constant(batch.middleCols(first, count))) / batch.cols();
//       });
//       sgd.step();
//   }
//
// The loss of a share must add up to the batch's: sum over its examples, or divide by
// the whole batch's size, never by the share's. A model's Params are its own (copying a
// Model copies its Params), and `model.params()` names them in a ParamSet. Anything
// else a model keeps (batch norm's running statistics, a dropout generator) is each
// replica's own and is not merged back: replica 0's is what the model's would be only
// with one replica.

#include <condition_variable>
#include <cstddef>
#include <exception>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "tapestry/core/threads.hpp"
#include "tapestry/kernels/parallel.hpp"
#include "tapestry/nn/replicas.hpp"
#include "tapestry/tapestry.hpp"

namespace tapestry::detail {
template <class Set>
struct param_set_scalar;
template <class T>
struct param_set_scalar<nn::ParamSet<T>> {
    using type = T;
};
}  // namespace tapestry::detail

namespace tapestry::nn {

template <class Model>
class DataParallel {
    using Params = std::remove_cvref_t<decltype(std::declval<Model&>().params())>;

public:
    using Scalar = typename detail::param_set_scalar<Params>::type;

    // `replicas` copies of `model` (by default tapestry::num_threads(), or with no
    // OpenMP the count set_num_threads or TAPESTRY_NUM_THREADS asked for), each with a
    // thread of its own for as long as this object lives. The model must outlive it.
    explicit DataParallel(Model& model, int replicas = detail::requested_thread_count())
        : model_params_(model.params()), replicas_(check_count(replicas), model) {
        replica_params_.reserve(replicas_.size());
        for (Model& replica : replicas_) replica_params_.push_back(replica.params());
        for (const Params& p : replica_params_) detail::check_same_layout(model_params_, p, "DataParallel");
        shares_.resize(replicas_.size());
        threads_.reserve(replicas_.size());
        try {
            for (std::size_t r = 0; r < replicas_.size(); ++r) threads_.emplace_back([this, r] { work(r); });
        } catch (...) {  // no thread for a replica: stop those that started
            stop();
            throw;
        }
    }

    ~DataParallel() { stop(); }

    DataParallel(const DataParallel&) = delete;
    DataParallel& operator=(const DataParallel&) = delete;

    int replicas() const { return static_cast<int>(replicas_.size()); }

    // Replica r's Params (after a backward: its own gradient of its share).
    const Params& replica_params(int r) const { return replica_params_.at(static_cast<std::size_t>(r)); }

    // Cuts the batch's `batch_size` examples into one contiguous share per replica
    // (sizes within one of each other; an empty share is skipped), and on each
    // replica's thread runs backward from loss(replica, first, count), a 1x1 loss of
    // examples [first, first + count). Then adds every replica's gradient into the
    // model's Params' grad(), replica 0 first. Returns the sum of the shares' losses.
    // An exception thrown by a share's loss (or backward) is rethrown here, that of
    // the lowest replica; the model's gradients are then left as they were.
    template <class Loss>
    Scalar backward(Index batch_size, Loss&& loss) {
        if (batch_size < 0)
            throw std::invalid_argument("DataParallel::backward: a batch of " + std::to_string(batch_size) +
                                        " examples");
        for (std::size_t r = 0; r < replicas_.size(); ++r) {
            const auto [first, last] = detail::piece_range(batch_size, replicas(), static_cast<int>(r), 1);
            shares_[r] = Share{first, last - first, Scalar(0), nullptr};
        }
        // On each replica's thread: the model's current weights, then its share.
        auto job = [this, &loss](std::size_t r, Tape& tape) {
            copy_values(model_params_, replica_params_[r]);
            replica_params_[r].zero_grad();
            Share& share = shares_[r];
            Var<Scalar, 1, 1> value = loss(replicas_[r], share.first, share.count);
            tape.backward(value);
            share.loss = value.value()(0, 0);
        };
        run_on_every_replica(job);

        for (const Share& share : shares_)
            if (share.failure) std::rethrow_exception(share.failure);
        // Replica 0 first: each element of a gradient sums the replicas in one order.
        Scalar total = 0;
        for (std::size_t r = 0; r < replicas_.size(); ++r) {
            if (shares_[r].count == 0) continue;
            add_grads(replica_params_[r], model_params_);
            total += shares_[r].loss;
        }
        return total;
    }

private:
    struct Share {
        Index first, count;
        Scalar loss;
        std::exception_ptr failure;
    };

    static std::size_t check_count(int replicas) {
        if (replicas < 1)
            throw std::invalid_argument("DataParallel: " + std::to_string(replicas) + " replicas; expected at least 1");
        return static_cast<std::size_t>(replicas);
    }

    void stop() {
        {
            const std::lock_guard lock(mutex_);
            stopping_ = true;
        }
        start_.notify_all();
        for (std::thread& t : threads_) t.join();
    }

    // Hands `job` to every replica's thread and waits until all are done. Through a
    // plain function pointer and a context, not a std::function: nothing to allocate.
    template <class Job>
    void run_on_every_replica(Job& job) {
        {
            const std::lock_guard lock(mutex_);
            job_ = [](void* context, std::size_t r, Tape& tape) { (*static_cast<Job*>(context))(r, tape); };
            job_context_ = &job;
            pending_ = replicas_.size();
            ++generation_;
        }
        start_.notify_all();
        std::unique_lock lock(mutex_);
        done_.wait(lock, [this] { return pending_ == 0; });
    }

    // Replica r's thread: its tape lives here, so it is this thread's active tape, and
    // is reused (cleared) step after step.
    void work(std::size_t r) {
        const KernelsOnThisThread replicas_are_the_parallelism;
        std::exception_ptr no_tape;  // a tape that could not be made fails every share of this replica
        std::optional<Tape> tape;
        try {
            tape.emplace();
        } catch (...) {
            no_tape = std::current_exception();
        }
        long seen = 0;
        for (;;) {
            JobFunction job;
            void* context;
            {
                std::unique_lock lock(mutex_);
                start_.wait(lock, [&] { return stopping_ || generation_ != seen; });
                if (stopping_) return;
                seen = generation_;
                job = job_;
                context = job_context_;
            }
            if (shares_[r].count > 0) {
                try {
                    if (no_tape) std::rethrow_exception(no_tape);
                    tape->clear();
                    job(context, r, *tape);
                } catch (...) {
                    shares_[r].failure = std::current_exception();
                }
            }
            {
                const std::lock_guard lock(mutex_);
                if (--pending_ == 0) done_.notify_one();
            }
        }
    }

    using JobFunction = void (*)(void*, std::size_t, Tape&);

    Params model_params_;
    std::vector<Model> replicas_;
    std::vector<Params> replica_params_;
    std::vector<Share> shares_;

    std::mutex mutex_;
    std::condition_variable start_, done_;
    JobFunction job_ = nullptr;
    void* job_context_ = nullptr;
    std::size_t pending_ = 0;
    long generation_ = 0;
    bool stopping_ = false;
    std::vector<std::thread> threads_;  // last: started once everything they read exists
};

}  // namespace tapestry::nn
