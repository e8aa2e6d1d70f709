#pragma once
// Mini-batches over a data set stored one example per column. The order of each
// epoch is a seeded shuffle that depends only on (seed, epoch), so a run resumed at
// epoch k sees the same batches as an uninterrupted one. The last batch of an epoch
// may be smaller (its matrix has Dynamic columns).

#include <algorithm>
#include <numeric>
#include <random>
#include <vector>

#include "tapestry/core/errors.hpp"

namespace tapestry::data {

template <class T>
struct Batch {
    Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic> x;  // features x examples
    std::vector<int> labels;                             // empty if the data set has none
};

template <class T>
class Batches {
public:
    using Matrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>;

    // Examples with one label each.
    Batches(const Matrix& examples, const std::vector<int>& labels, Index batch_size, std::uint64_t seed)
        : Batches(examples, &labels, batch_size, seed) {}
    // Examples without labels (an autoencoder's).
    Batches(const Matrix& examples, Index batch_size, std::uint64_t seed)
        : Batches(examples, nullptr, batch_size, seed) {}
    // The data are referenced, not copied: a temporary would dangle.
    Batches(Matrix&&, const std::vector<int>&, Index, std::uint64_t) = delete;
    Batches(const Matrix&, std::vector<int>&&, Index, std::uint64_t) = delete;
    Batches(Matrix&&, Index, std::uint64_t) = delete;

    // Batches per epoch, the last one possibly smaller.
    Index size() const { return (examples_.cols() + batch_size_ - 1) / batch_size_; }
    Index examples() const { return examples_.cols(); }

    // Shuffles the order for `epoch` (0-based).
    void start_epoch(long epoch) {
        std::iota(order_.begin(), order_.end(), Index{0});
        std::mt19937_64 rng(seed_ + 0x9E3779B97F4A7C15ull * static_cast<std::uint64_t>(epoch + 1));
        std::shuffle(order_.begin(), order_.end(), rng);
    }

    // The examples in batch i: the batch size, but for a smaller last batch.
    Index count(Index i) const {
        check_batch(i);
        return std::min(batch_size_, examples_.cols() - i * batch_size_);
    }

    // Batch i of the current epoch, copied into `out` (its buffers are reused).
    void get(Index i, Batch<T>& out) const { get(i, out, 0, count(i)); }

    // Examples [first, first + n) of batch i, the share of it that one process of a
    // distributed job trains on (mpi::DataParallel::share): only those are copied.
    void get(Index i, Batch<T>& out, Index first, Index n) const {
        const Index in_batch = count(i);
        if (first < 0 || n < 0 || first + n > in_batch)
            throw index_error("Batches: examples [" + std::to_string(first) + ", " + std::to_string(first + n) +
                              ") of batch " + std::to_string(i) + ", which holds " + std::to_string(in_batch));
        const Index begin = i * batch_size_ + first;
        out.x.resize(examples_.rows(), n);
        out.labels.clear();
        for (Index j = 0; j < n; ++j) {
            const Index source = order_[static_cast<std::size_t>(begin + j)];
            out.x.col(j) = examples_.col(source);
            if (labels_ != nullptr) out.labels.push_back((*labels_)[static_cast<std::size_t>(source)]);
        }
    }

private:
    Batches(const Matrix& examples, const std::vector<int>* labels, Index batch_size, std::uint64_t seed)
        : examples_(examples),
          labels_(labels),
          batch_size_(batch_size),
          seed_(seed),
          order_(static_cast<std::size_t>(examples.cols())) {
        if (batch_size <= 0) throw value_error("Batches: batch size must be positive");
        if (labels != nullptr && static_cast<Index>(labels->size()) != examples.cols())
            throw shape_error("Batches: " + std::to_string(labels->size()) + " labels for " +
                              std::to_string(examples.cols()) + " examples");
        start_epoch(0);
    }

    void check_batch(Index i) const {
        if (i < 0 || i >= size())
            throw value_error("Batches: batch " + std::to_string(i) + " of " + std::to_string(size()));
    }

    const Matrix& examples_;
    const std::vector<int>* labels_;  // nullptr: no labels
    Index batch_size_;
    std::uint64_t seed_;
    std::vector<Index> order_;
};

}  // namespace tapestry::data
