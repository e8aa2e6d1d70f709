#pragma once
// What a tape or a ParamSet holds of a Param, and what tells it that the Param is gone.
//
// A Param's record keeps its gradient's bookkeeping (ParamGradient) and a generation
// that changes whenever the Param's storage stops being the one others recorded: the
// Param is destroyed, or an assignment gives it storage of another size. Records are
// recycled and never freed, so whoever outlives the Param can still read the generation
// (one compare) and throw, instead of reading or writing freed memory. While the
// generation is unchanged, storage() reads where the Param's numbers are now, which
// also catches a Dynamic Param resized in place through value() or grad() (the Param
// itself notices that at its next use and takes the new storage, see param.hpp).

#include <atomic>
#include <cstdint>
#include <memory>

#include "tapestry/core/immortal_pool.hpp"
#include "tapestry/graph/gradient.hpp"

namespace tapestry::detail {

// Where a Param's numbers are. The gradient's shape is the value's while the Param keeps
// them consistent (param.hpp), so one shape serves both.
template <class T>
struct ParamStorage {
    T* value = nullptr;
    T* grad = nullptr;
    Index rows = 0, cols = 0;
    bool operator==(const ParamStorage&) const = default;
};

template <class T>
class ParamRecord : public ParamGradient<T> {
public:
    // Reads a Param's value and gradient matrices, whose types only the Param knows.
    using Probe = ParamStorage<T> (*)(void* value_matrix, void* grad_matrix);

    struct Release {
        void operator()(ParamRecord* record) const { record->retire(); }
    };
    using Owner = std::unique_ptr<ParamRecord, Release>;

    // A record for a Param whose matrices are `value_matrix` and `grad_matrix` (on the
    // heap, so that they do not move when the Param does), read through `probe`.
    // `resizable`: a Dynamic extent, so the matrices can be resized in place.
    static Owner acquire(void* value_matrix, void* grad_matrix, Probe probe, bool resizable) {
        ParamRecord* record = ImmortalPool<ParamRecord>::take_or_make([] { return new ParamRecord(); });
        record->value_matrix_ = value_matrix;
        record->grad_matrix_ = grad_matrix;
        record->probe_ = probe;
        record->resizable_ = resizable;
        record->known_ = record->storage();
        record->assigned(record->known_.grad, record->known_.rows * record->known_.cols);
        return Owner(record);
    }

    std::uint64_t generation() const { return generation_.load(std::memory_order_acquire); }
    // False for a Param of fixed shape, whose storage never moves while its generation holds.
    bool resizable() const { return resizable_; }

    // Where the Param's numbers are now. Only while generation() is the one the caller
    // recorded: after that, the matrices it reads may be gone.
    ParamStorage<T> storage() const { return probe_(value_matrix_, grad_matrix_); }

    // True if the storage is where this record last saw it: the Param has not been given
    // other memory since (by an assignment, or a Dynamic matrix resized in place).
    bool storage_unchanged() const { return storage() == known_; }
    const ParamStorage<T>& known() const { return known_; }

    // The Param's storage moved: what recorded the old one must not use it. The
    // gradient's memory is the new one, holding a gradient.
    void storage_replaced() {
        known_ = storage();
        this->assigned(known_.grad, known_.rows * known_.cols);
        generation_.fetch_add(1, std::memory_order_release);
    }

private:
    ParamRecord() : ParamGradient<T>(nullptr, 0) {}

    void retire() {
        generation_.fetch_add(1, std::memory_order_release);
        ImmortalPool<ParamRecord>::give_back(this);
    }

    std::atomic<std::uint64_t> generation_{0};
    ParamStorage<T> known_{};  // the storage as acquire() or storage_replaced() saw it
    void* value_matrix_ = nullptr;
    void* grad_matrix_ = nullptr;
    Probe probe_ = nullptr;
    bool resizable_ = true;
};

// What a reader (a leaf on a tape, a ParamSet) recorded of a Param: enough to tell later,
// in one compare (and, for a Dynamic Param, one probe), whether the Param still has that storage.
template <class T>
struct ParamSnapshot {
    ParamRecord<T>* record;
    std::uint64_t generation;
    ParamStorage<T> storage;

    // Of a Param whose storage is the one its record last saw (param.hpp makes sure).
    static ParamSnapshot of(ParamRecord<T>* record) { return {record, record->generation(), record->known()}; }

    // nullptr while the Param has the storage recorded, else what happened to it.
    const char* change() const {
        if (record->generation() != generation) [[unlikely]]
            return "was destroyed, or given storage of another size,";
        // Only a Dynamic matrix can be resized in place; asking where it is now is an
        // indirect call, a tenth of a small node's cost, saved for every fixed Param.
        if (record->resizable() && (record->storage() != storage || record->memory() != storage.grad)) [[unlikely]]
            return "was resized (its value or gradient)";
        return nullptr;
    }
};

}  // namespace tapestry::detail
