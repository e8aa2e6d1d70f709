#pragma once
// One model trained by every rank of an MPI job, each on its share of every batch:
// data parallelism over processes and machines. Each rank holds the whole model; the
// root's weights are broadcast at the start; after each backward the gradients are
// summed over the ranks (MPI_Allreduce, a few large messages rather than one per
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
// loss function is not called) and contribute zeros.

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
    int root = 0;  // whose weights are broadcast at the start
};

template <class T>
class DataParallel {
public:
    DataParallel(const Session& session, nn::ParamSet<T> params, DataParallelOptions options = {})
        : session_(session), params_(std::move(params)), options_(options) {
        if (options_.root < 0 || options_.root >= session_.size())
            throw distributed_error("mpi::DataParallel: root " + std::to_string(options_.root) + " in a job of " +
                                    std::to_string(session_.size()) + " ranks");
        plan_buckets();
        broadcast_values();
    }

    int rank() const { return session_.rank(); }
    int ranks() const { return session_.size(); }
    const nn::ParamSet<T>& params() const { return params_; }

    // This rank's share of a batch of `batch_size` examples: contiguous, the shares of
    // ranks 0, 1, ... in order, sizes within one of each other.
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
    // A gradient the Params already held (an optimizer accumulating several batches)
    // is counted once: the root keeps it, the other ranks start from zero.
    //
    // If loss() or the backward pass throws on any rank, every rank throws the same
    // distributed_error naming the lowest such rank and its message, and every rank's
    // gradients are zeroed: the ranks stay in step, and the next batch can go on.
    template <class Loss>
    T backward(Tape& tape, Share share, Loss&& loss) {
        if (rank() != options_.root) params_.zero_grad();
        T local_loss = 0;
        std::exception_ptr failure;
        if (share.count > 0) {
            try {
                Var<T, 1, 1> value = loss();
                tape.backward(value);
                local_loss = value.value()(0, 0);
            } catch (...) {
                failure = std::current_exception();
            }
        }
        // One small message first: the losses and whether anyone failed.
        std::array<double, 2> status{static_cast<double>(local_loss), failure ? 1.0 : 0.0};
        detail::check(MPI_Allreduce(MPI_IN_PLACE, status.data(), 2, MPI_DOUBLE, MPI_SUM, session_.communicator()),
                      "MPI_Allreduce (losses)");
        if (status[1] > 0) fail_everywhere(failure);
        sum_gradients();
        return static_cast<T>(status[0]);
    }

    // Every Param's grad() replaced by its sum over the ranks, bucket by bucket (for a
    // loop of your own; backward() calls it).
    void sum_gradients() {
        const MPI_Datatype type = detail::datatype_of<T>();
        std::size_t requests = 0;
        for (const Bucket& bucket : buckets_) {
            T* data = bucket.packed ? staging_.data() + bucket.staging_offset : grad_data(bucket.first_param);
            if (bucket.packed) pack(bucket);
            for (Index done = 0; done < bucket.elements; done += detail::max_elements_per_call) {
                const int n = static_cast<int>(std::min(detail::max_elements_per_call, bucket.elements - done));
                detail::check(MPI_Iallreduce(MPI_IN_PLACE, data + done, n, type, MPI_SUM, session_.communicator(),
                                             &requests_[requests++]),
                              "MPI_Iallreduce (gradients)");
            }
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
    // takes the same steps from the same summed gradients.
    void check_in_sync() const {
        std::uint64_t mine = fingerprint();
        std::vector<std::uint64_t> all(static_cast<std::size_t>(ranks()));
        detail::check(MPI_Allgather(&mine, 1, MPI_UINT64_T, all.data(), 1, MPI_UINT64_T, session_.communicator()),
                      "MPI_Allgather (weights' fingerprints)");
        std::string differing;
        for (int r = 1; r < ranks(); ++r)
            if (all[static_cast<std::size_t>(r)] != all[0])
                differing += (differing.empty() ? "" : ", ") + std::to_string(r);
        if (!differing.empty())
            throw distributed_error("mpi::DataParallel: the weights of rank(s) " + differing +
                                    " differ from rank 0's: the ranks did not take the same steps");
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
        Index staged = 0;
        std::size_t calls = 0;
        for (std::size_t i = 0; i < params_.size();) {
            std::size_t end = i + 1;
            Index elements = elements_of(params_[i]);
            while (end < params_.size() && elements + elements_of(params_[end]) <= bucket_elements)
                elements += elements_of(params_[end++]);
            const bool packed = end - i > 1;
            buckets_.push_back({i, end, elements, packed, staged});
            if (packed) staged += elements;
            calls += static_cast<std::size_t>((elements + detail::max_elements_per_call - 1) /
                                              detail::max_elements_per_call);
            i = end;
        }
        staging_.resize(static_cast<std::size_t>(staged));
        requests_.resize(calls);
    }

    void pack(const Bucket& bucket) {
        T* out = staging_.data() + bucket.staging_offset;
        for (std::size_t i = bucket.first_param; i < bucket.end_param; ++i) {
            const Index n = elements_of(params_[i]);
            std::memcpy(out, grad_data(i), static_cast<std::size_t>(n) * sizeof(T));
            out += n;
        }
    }

    void unpack(const Bucket& bucket) {
        const T* in = staging_.data() + bucket.staging_offset;
        for (std::size_t i = bucket.first_param; i < bucket.end_param; ++i) {
            const Index n = elements_of(params_[i]);
            std::memcpy(grad_data(i), in, static_cast<std::size_t>(n) * sizeof(T));
            in += n;
        }
    }

    void broadcast_values() {
        for (const auto& p : params_) broadcast(p.value().data(), elements_of(p), "MPI_Bcast (weights)");
    }

    void broadcast(T* data, Index elements, const char* call) const {
        for (Index done = 0; done < elements; done += detail::max_elements_per_call) {
            const int n = static_cast<int>(std::min(detail::max_elements_per_call, elements - done));
            detail::check(MPI_Bcast(data + done, n, detail::datatype_of<T>(), options_.root, session_.communicator()),
                          call);
        }
    }

    // Every rank learns the lowest failing rank's message, zeroes its gradients and throws.
    [[noreturn]] void fail_everywhere(const std::exception_ptr& failure) {
        int failed_rank = failure ? rank() : ranks();
        detail::check(MPI_Allreduce(MPI_IN_PLACE, &failed_rank, 1, MPI_INT, MPI_MIN, session_.communicator()),
                      "MPI_Allreduce (failed rank)");
        std::array<char, 1024> message{};
        if (failed_rank == rank()) {
            std::string what = "an exception that is not a std::exception";
            try {
                std::rethrow_exception(failure);
            } catch (const std::exception& e) {
                what = e.what();
            } catch (...) {}
            std::strncpy(message.data(), what.c_str(), message.size() - 1);
        }
        detail::check(
            MPI_Bcast(message.data(), static_cast<int>(message.size()), MPI_CHAR, failed_rank, session_.communicator()),
            "MPI_Bcast (failure)");
        params_.zero_grad();
        throw distributed_error("rank " + std::to_string(failed_rank) + " of " + std::to_string(ranks()) +
                                " failed in its share of the batch: " + message.data());
    }

    // FNV-1a over the bytes of every weight.
    std::uint64_t fingerprint() const {
        std::uint64_t hash = 14695981039346656037ull;
        for (const auto& p : params_) {
            const auto* bytes = reinterpret_cast<const unsigned char*>(p.value().data());
            for (std::size_t b = 0; b < static_cast<std::size_t>(elements_of(p)) * sizeof(T); ++b)
                hash = (hash ^ bytes[b]) * 1099511628211ull;
        }
        return hash;
    }

    const Session& session_;
    nn::ParamSet<T> params_;
    DataParallelOptions options_;
    std::vector<Bucket> buckets_;
    std::vector<T> staging_;
    std::vector<MPI_Request> requests_;
};

}  // namespace tapestry::mpi
