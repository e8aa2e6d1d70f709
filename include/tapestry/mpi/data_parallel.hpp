#pragma once
// One model trained by every rank of an MPI job, each on its share of every batch:
// data parallelism over processes and machines. Each rank holds the whole model; the
// root's weights are broadcast at the start; after each backward the gradients are
// summed over the ranks (MPI_Iallreduce, in a few large messages rather than one per
// Param); every rank then takes the same optimizer step, so the weights stay equal on
// every rank without being sent again.
//
//   mpi::DataParallel<float> parallel(session, params);   // the root's weights, everywhere
//   nn::Sgd<float> sgd(params, options);
//   Tape tape;
//   for (Index i = 0; i < batches.size(); ++i) {
//       const mpi::Share share = parallel.share(batches.count(i));
//       batches.get(i, batch, share.first, share.count);     // this rank's examples only
//       tape.clear();
//       const float loss = parallel.backward(tape, share, [&] {
//           return model_loss(constant(batch.x)) / float(batches.count(i));
//       });
//       sgd.step();
//   }
//
// The loss of a share must add up to the batch's, as with nn::DataParallel: sum over
// its examples, or divide by the whole batch's size, never by the share's. A batch
// smaller than the job gives some ranks no examples: they still take part (their
// loss function is not called) and contribute zeros. The optimizer must step the same
// Params as the DataParallel holds (check_in_sync(optimizer) compares them too).

#include <mpi.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

#include "tapestry/kernels/parallel.hpp"
#include "tapestry/mpi/session.hpp"
#include "tapestry/nn/optim/optimizer.hpp"
#include "tapestry/nn/param_set.hpp"
#include "tapestry/tapestry.hpp"

namespace tapestry::mpi {

// This rank's examples of a batch: [first, first + count).
struct Share {
    Index first = 0;
    Index count = 0;
};

struct DataParallelOptions {
    // Gradients are summed in messages of about this size (Params packed together, or
    // one large Param in place): fewer, larger messages pay each call's latency once.
    std::size_t bucket_bytes = std::size_t{4} << 20;
    int root = 0;  // whose weights are broadcast at the start, and who keeps a held gradient
    // At most this many elements per MPI call (0: 1 GB's worth); a longer bucket goes in pieces.
    Index max_elements_per_message = 0;
};

template <class T>
class DataParallel {
public:
    DataParallel(const Session& session, nn::ParamSet<T> params, DataParallelOptions options = {})
        : session_(session), params_(std::move(params)), options_(options) {
        if (options_.root < 0 || options_.root >= session_.size())
            throw distributed_error("mpi::DataParallel: root " + std::to_string(options_.root) + " in a job of " +
                                    std::to_string(session_.size()) + " ranks");
        if (options_.max_elements_per_message <= 0 ||
            options_.max_elements_per_message > detail::max_elements_per_call<T>)
            options_.max_elements_per_message = detail::max_elements_per_call<T>;
        plan_buckets();
        broadcast_values();
    }

    int rank() const { return session_.rank(); }
    int ranks() const { return session_.size(); }
    const nn::ParamSet<T>& params() const { return params_; }

    // This rank's share of a batch of `batch_size` examples: contiguous, the shares of
    // ranks 0, 1, ... in order, sizes within one of each other (the larger ones last).
    Share share(Index batch_size) const {
        if (batch_size < 0)
            throw value_error("mpi::DataParallel::share: a batch of " + std::to_string(batch_size) + " examples");
        const auto [first, last] = tapestry::detail::piece_range(batch_size, ranks(), rank(), 1);
        return {first, last - first};
    }

    // Backward from loss() (a 1x1 Var: the loss of this rank's share) on `tape`, then
    // the Params' gradients summed over every rank. Returns the batch's loss, summed over
    // the ranks. With an empty share (a batch smaller than the job) loss is not called.
    //
    // A gradient the Params already hold (an optimizer accumulating several batches) is
    // counted once: it is the same on every rank, so the root keeps it and the others
    // start from zero.
    //
    // If loss() or the backward pass throws on any rank, every rank throws the same
    // distributed_error naming the lowest such rank and its message, and the job's
    // gradient is what it was before the call (the root's put back, the others' zero,
    // as at the start of every call): the ranks stay in step, and the next batch can go on.
    template <class Loss>
    T backward(Tape& tape, Share share, Loss&& loss) {
        T local_loss = 0;
        std::exception_ptr failure;
        try {
            if (rank() == options_.root)
                keep_held_gradient();
            else
                params_.zero_grad();
            if (share.count > 0) {
                Var<T, 1, 1> value = loss();
                tape.backward(value);
                local_loss = value.value()(0, 0);
            }
        } catch (...) {
            failure = std::current_exception();
        }
        // One small message first: the losses and whether anyone failed.
        std::array<double, 2> status{static_cast<double>(local_loss), failure ? 1.0 : 0.0};
        detail::check(MPI_Allreduce(MPI_IN_PLACE, status.data(), 2, MPI_DOUBLE, MPI_SUM, session_.communicator()),
                      "MPI_Allreduce (losses)");
        if (status[1] > 0) fail_everywhere(failure);
        sum_gradients();
        return static_cast<T>(status[0]);
    }

    // Every Param's grad() replaced by its sum over the ranks, bucket by bucket. For a
    // loop of your own (backward() calls it): every rank's gradient is counted, so a
    // gradient held from earlier batches must be on one rank only, zero on the others.
    void sum_gradients() {
        const MPI_Datatype type = detail::datatype_of<T>();
        std::size_t requests = 0;
        for (const Bucket& bucket : buckets_) {
            T* data = bucket.packed ? staging_.data() + bucket.staging_offset : grad_data(bucket.first_param);
            if (bucket.packed) pack(bucket);
            detail::in_pieces(bucket.elements, options_.max_elements_per_message, [&](Index offset, int count) {
                detail::check(MPI_Iallreduce(MPI_IN_PLACE, data + offset, count, type, MPI_SUM, session_.communicator(),
                                             &requests_[requests++]),
                              "MPI_Iallreduce (gradients)");
            });
        }
        detail::check(MPI_Waitall(static_cast<int>(requests), requests_.data(), MPI_STATUSES_IGNORE),
                      "MPI_Waitall (gradients)");
        for (const Bucket& bucket : buckets_)
            if (bucket.packed) unpack(bucket);
    }

    // A number summed over the ranks (a test loss over shards of the test set, say).
    double sum(double x) const {
        detail::check(MPI_Allreduce(MPI_IN_PLACE, &x, 1, MPI_DOUBLE, MPI_SUM, session_.communicator()),
                      "MPI_Allreduce");
        return x;
    }

    // Throws distributed_error, on every rank, unless every rank holds the same weights
    // bit for bit (a fingerprint of them is compared): they should, since every rank
    // takes the same steps from the same summed gradients. A job that drifted can be
    // put back in step with mpi::broadcast_state (mpi/checkpoint.hpp).
    void check_in_sync() const { compare_fingerprints(fingerprint(), "weights"); }

    // The same, with the optimizer's state and counters too, after checking that the
    // optimizer steps the Params this DataParallel sums (same names, shapes and memory).
    void check_in_sync(const nn::Optimizer<T>& optimizer) const {
        const nn::ParamSet<T>& stepped = optimizer.params();
        bool same = stepped.size() == params_.size();
        for (std::size_t i = 0; same && i < params_.size(); ++i)
            same = stepped[i].name == params_[i].name && stepped[i].value().data() == params_[i].value().data();
        if (!same)
            throw distributed_error(
                "mpi::DataParallel::check_in_sync: the optimizer steps other Params than this DataParallel sums");
        std::uint64_t hash = fingerprint();
        for (std::size_t i = 0; i < stepped.size(); ++i)
            for (const auto& state : optimizer.state(i))
                hash = fnv1a(hash, state.data(), static_cast<std::size_t>(state.size()));
        const long counters[2] = {optimizer.iteration(), optimizer.pending()};
        hash = fnv1a(hash, counters, 2);
        compare_fingerprints(hash, "weights or optimizer states");
    }

private:
    // Consecutive Params summed in one message: `packed` through the staging buffer, or
    // (one Param alone) in place in its gradient.
    struct Bucket {
        std::size_t first_param, end_param;
        Index elements;
        bool packed;
        Index staging_offset;
    };

    static Index elements_of(const nn::NamedParam<T>& p) { return p.rows * p.cols; }
    T* grad_data(std::size_t i) const { return params_[i].grad().data(); }

    void plan_buckets() {
        const Index bucket_elements = std::max<Index>(1, static_cast<Index>(options_.bucket_bytes / sizeof(T)));
        Index staged = 0, all = 0;
        std::size_t calls = 0;
        for (std::size_t i = 0; i < params_.size();) {
            std::size_t end = i + 1;
            Index elements = elements_of(params_[i]);
            while (end < params_.size() && elements + elements_of(params_[end]) <= bucket_elements)
                elements += elements_of(params_[end++]);
            const bool packed = end - i > 1;
            buckets_.push_back({i, end, elements, packed, staged});
            if (packed) staged += elements;
            all += elements;
            calls += static_cast<std::size_t>((elements + options_.max_elements_per_message - 1) /
                                              options_.max_elements_per_message);
            i = end;
        }
        staging_.resize(static_cast<std::size_t>(staged));
        requests_.resize(calls);
        total_elements_ = all;
    }

    // Params [first, end)'s gradients copied into `out` back to back, or from `in`.
    void copy_grads_out(std::size_t first, std::size_t end, T* out) const {
        for (std::size_t i = first; i < end; ++i) {
            const Index n = elements_of(params_[i]);
            std::memcpy(out, grad_data(i), static_cast<std::size_t>(n) * sizeof(T));
            out += n;
        }
    }
    void copy_grads_in(std::size_t first, std::size_t end, const T* in) {
        for (std::size_t i = first; i < end; ++i) {
            const Index n = elements_of(params_[i]);
            std::memcpy(grad_data(i), in, static_cast<std::size_t>(n) * sizeof(T));
            in += n;
        }
    }
    void pack(const Bucket& bucket) {
        copy_grads_out(bucket.first_param, bucket.end_param, staging_.data() + bucket.staging_offset);
    }
    void unpack(const Bucket& bucket) {
        copy_grads_in(bucket.first_param, bucket.end_param, staging_.data() + bucket.staging_offset);
    }

    // The root's gradients, if they hold anything (an accumulation in progress), copied
    // aside so that a failed share can put them back. Nothing to copy otherwise, the
    // usual case: an optimizer's update leaves them zeroed.
    void keep_held_gradient() {
        holding_ = false;
        for (const auto& p : params_) holding_ = holding_ || !p.grad_is_zeroed();
        if (!holding_) return;
        held_.resize(static_cast<std::size_t>(total_elements_));
        copy_grads_out(0, params_.size(), held_.data());
    }

    void put_back_held_gradient() {
        params_.zero_grad();
        if (holding_) copy_grads_in(0, params_.size(), held_.data());
    }

    void broadcast_values() {
        for (const auto& p : params_)
            detail::broadcast(p.value().data(), elements_of(p), options_.root, session_.communicator(),
                              options_.max_elements_per_message, "MPI_Bcast (weights)");
    }

    // Every rank learns the lowest failing rank's message, puts its gradients back and throws.
    [[noreturn]] void fail_everywhere(const std::exception_ptr& failure) {
        int failed_rank = failure ? rank() : ranks();
        detail::check(MPI_Allreduce(MPI_IN_PLACE, &failed_rank, 1, MPI_INT, MPI_MIN, session_.communicator()),
                      "MPI_Allreduce (failed rank)");
        std::array<char, 1024> message{};
        if (failed_rank == rank())
            std::strncpy(message.data(), detail::message_of(failure).c_str(), message.size() - 1);
        detail::check(
            MPI_Bcast(message.data(), static_cast<int>(message.size()), MPI_CHAR, failed_rank, session_.communicator()),
            "MPI_Bcast (failure)");
        if (rank() == options_.root)
            put_back_held_gradient();
        else
            params_.zero_grad();
        throw distributed_error("rank " + std::to_string(failed_rank) + " of " + std::to_string(ranks()) +
                                " failed in its share of the batch: " + message.data());
    }

    // FNV-1a over the bytes of `count` values.
    template <class V>
    static std::uint64_t fnv1a(std::uint64_t hash, const V* values, std::size_t count) {
        const auto* bytes = reinterpret_cast<const unsigned char*>(values);
        for (std::size_t b = 0; b < count * sizeof(V); ++b) hash = (hash ^ bytes[b]) * 1099511628211ull;
        return hash;
    }

    std::uint64_t fingerprint() const {
        std::uint64_t hash = 14695981039346656037ull;
        for (const auto& p : params_) hash = fnv1a(hash, p.value().data(), static_cast<std::size_t>(elements_of(p)));
        return hash;
    }

    void compare_fingerprints(std::uint64_t mine, const char* what) const {
        std::vector<std::uint64_t> all(static_cast<std::size_t>(ranks()));
        detail::check(MPI_Allgather(&mine, 1, MPI_UINT64_T, all.data(), 1, MPI_UINT64_T, session_.communicator()),
                      "MPI_Allgather (fingerprints)");
        std::string differing;
        for (int r = 1; r < ranks(); ++r)
            if (all[static_cast<std::size_t>(r)] != all[0])
                differing += (differing.empty() ? "" : ", ") + std::to_string(r);
        if (!differing.empty())
            throw distributed_error("mpi::DataParallel: the " + std::string(what) + " of rank(s) " + differing +
                                    " differ from rank 0's: the ranks did not take the same steps");
    }

    const Session& session_;
    nn::ParamSet<T> params_;
    DataParallelOptions options_;
    std::vector<Bucket> buckets_;
    std::vector<T> staging_;
    std::vector<MPI_Request> requests_;
    Index total_elements_ = 0;
    std::vector<T> held_;  // the root's held gradient during a call, if any
    bool holding_ = false;
};

}  // namespace tapestry::mpi
