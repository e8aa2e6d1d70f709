#pragma once
// A Param's gradient, and where a backward step sends one operand's gradient. The only
// file that knows what "stale" means.
//
// zero_grad() only marks a Param's gradient stale: logically zero, still holding old
// values (PyTorch's set_to_none, but keeping the buffer). The next backward contribution
// then overwrites instead of adding; a GEMM, which can only add, gets its zeros written
// right before it runs; every read writes them first. Zeroing costs nothing, and a
// gradient that one elementwise op produces costs one pass instead of three (fill,
// read, write).
//
// Reading is a const operation that may write the zeros, so that write is made safe for
// readers on several threads (an optimizer's step leaves every gradient stale): the
// flag is atomic and the zeros are written under a lock, once.

#include <algorithm>
#include <atomic>
#include <mutex>
#include <utility>

#include "tapestry/core/shape.hpp"
#include "tapestry/kernels/gemm.hpp"
#include "tapestry/kernels/parallel.hpp"
#include "tapestry/kernels/zeros.hpp"
#include "tapestry/tape/recording.hpp"

namespace tapestry::detail {

// Does the adjoint of the value at `position` (made by step position - 1) hold a
// gradient? Not before its first write in a first-order sweep (first_write); always
// otherwise (a sweep with tangents zeroed every adjoint). Sets nothing.
inline bool holds_gradient(const TapeLife* life, std::size_t position) {
    const unsigned char* const written = life != nullptr ? life->first_writes() : nullptr;
    return written == nullptr || (written[position - 1] & adjoint_written) != 0;
}

// Is this the first contribution to that adjoint in a first-order sweep? Then the caller
// writes over the adjoint, which holds whatever the arena held; else it adds. Every write
// of an adjoint in such a sweep comes through here (the seed's aside): what is not
// flagged is not read, and a gradient handed to the step (accept_hand_off) would be lost.
// Recording::sweep_backward says why. Called by the thread that sweeps only: the flag is
// tested and set without a lock.
[[gnu::always_inline]] inline bool first_write(const TapeLife* life, std::size_t position) {
    if (holds_gradient(life, position)) return false;
    life->first_writes()[position - 1] |= adjoint_written;
    return true;
}

// May a consumer hand the step that made the value at `position` its gradient, for the
// step to send on? Only as the first gradient that value receives in a first-order
// sweep: not once its adjoint is written or another consumer handed it one (a second
// hand-off writes the adjoint, which the step then reads with the first: one more pass
// per consumer would otherwise add up). If so, marks it, which makes the step run.
inline bool accept_hand_off(const TapeLife* life, std::size_t position) {
    unsigned char* const flags = life != nullptr ? life->first_writes() : nullptr;
    if (flags == nullptr || flags[position - 1] != 0) return false;
    flags[position - 1] = gradient_handed_off;
    return true;
}

// Was the step that made the value at `position` handed a gradient in this sweep? (What
// it kept from a sweep that ended in an exception is not this sweep's.)
inline bool holds_hand_off(const TapeLife* life, std::size_t position) {
    const unsigned char* const flags = life != nullptr ? life->first_writes() : nullptr;
    return flags != nullptr && (flags[position - 1] & gradient_handed_off) != 0;
}

// target (rows x cols, column-major) = or += `line` repeated: `line` (rows values) as
// every column when across_columns, else line[j] all down column j. Plain loops,
// compiled once per scalar type.
template <class T>
[[gnu::noinline]] void write_repeated(T* target, bool overwrite, const T* line, bool across_columns, Index rows,
                                      Index cols) {
    for (Index j = 0; j < cols; ++j) {
        T* column = target + j * rows;
        if (across_columns && overwrite)
            std::copy_n(line, rows, column);
        else if (across_columns)
            for (Index i = 0; i < rows; ++i) column[i] += line[i];
        else if (overwrite)
            std::fill_n(column, rows, line[j]);
        else
            for (Index i = 0; i < rows; ++i) column[i] += line[j];
    }
}

template <class T>
class ParamGradient {
public:
    ParamGradient(T* data, Index size) : data_(data), size_(size) {}
    ParamGradient(const ParamGradient&) = delete;
    ParamGradient& operator=(const ParamGradient&) = delete;

    // The gradient's memory, holding zeros if it was stale: for readers, and for
    // writers that can only add.
    T* read() {
        if (stale_.load(std::memory_order_acquire)) [[unlikely]]
            write_zeros();
        return data_;
    }

    // Where the gradient is, without writing due zeros: for identity checks only.
    const T* memory() const { return data_; }

    // zero_grad(): O(1), the memory is written when next used.
    void set_zero() { stale_.store(true, std::memory_order_relaxed); }
    // True if the gradient is zero by zero_grad() (its memory not yet written).
    bool is_zeroed() const { return stale_.load(std::memory_order_acquire); }

    // The backward pass (one thread per Param): g (an Eigen array expression of
    // rows x cols, read through KernelArray<T, R, C>) added into the gradient, or
    // written over it if it is stale.
    template <int R, int C, class G>
    void accumulate(Index rows, Index cols, const G& g) {
        Eigen::Map<KernelArray<T, R, C>> gradient(data_, rows, cols);
        if (take_for_writing())
            parallel_assign(gradient, g);
        else
            parallel_add(gradient, g);
    }

    // The backward pass, for a writer that produces the whole gradient piece by piece
    // (expr/one_pass.hpp): where it is, and whether each piece is written over it (it was
    // stale) or added. Not stale afterwards.
    std::pair<T*, bool> take_whole() { return {data_, take_for_writing()}; }

    // The backward pass: op(A) op(B) (rows x cols) added into the gradient, or written
    // over it if it is stale (stored column-major, see kernels/gemm.hpp).
    template <bool TransposeA, bool TransposeB>
    void accumulate_product(const T* A, Index a_rows, Index a_cols, const T* B, Index b_rows, Index b_cols) {
        if (take_for_writing())
            gemm_overwrite<TransposeA, TransposeB>(T(1), A, a_rows, a_cols, B, b_rows, b_cols, data_);
        else
            gemm_accumulate<TransposeA, TransposeB>(T(1), A, a_rows, a_cols, B, b_rows, b_cols, data_);
    }

    // The backward pass: a stored line repeated (see write_repeated) added into the
    // gradient, or written over it if it is stale.
    void accumulate_repeated(const T* line, bool across_columns, Index rows, Index cols) {
        write_repeated(data_, take_for_writing(), line, across_columns, rows, cols);
    }

    // After the Param's gradient was assigned as a whole (a copy of another Param's): the
    // memory, which may have moved if a Dynamic extent changed, holds a gradient now.
    void assigned(T* data, Index size) {
        data_ = data;
        size_ = size;
        stale_.store(false, std::memory_order_relaxed);
    }

private:
    // A writer about to produce the whole gradient: true if it must overwrite (the
    // memory is logically zero), false if it must add. Not stale afterwards.
    bool take_for_writing() {
        const bool overwrite = stale_.load(std::memory_order_relaxed);
        if (overwrite) stale_.store(false, std::memory_order_relaxed);
        return overwrite;
    }

    [[gnu::noinline]] void write_zeros() {
        const std::lock_guard<std::mutex> lock(zeroing_);
        if (stale_.load(std::memory_order_relaxed)) {
            std::fill_n(data_, size_, T(0));
            stale_.store(false, std::memory_order_release);
        }
    }

    T* data_;
    Index size_;
    std::atomic<bool> stale_{false};
    std::mutex zeroing_;
};

// Where a backward step sends one operand's gradient: a Var's adjoint on the tape, a
// Param's gradient, a buffer of the step's own, or nowhere (the operand takes none).
// Carries no compile-time shape, for steps compiled once per scalar type (the matrix
// product's).
template <class T>
class GradientSink {
public:
    static GradientSink nowhere() { return {}; }
    // A buffer that holds zeros or a gradient already, which every contribution adds into
    // (a step's partial sums, an adjoint's tangent in second order).
    static GradientSink into_buffer(T* buffer) {
        GradientSink sink;
        sink.adjoint_ = buffer;
        return sink;
    }
    // The adjoint (`size` values) of the value at `position` on the recording whose life
    // this is: written over by its first contribution in a sweep (first_write).
    static GradientSink into_adjoint(T* adjoint, const TapeLife* life, std::size_t position, Index size) {
        GradientSink sink;
        sink.adjoint_ = adjoint;
        sink.life_ = life;
        sink.position_ = position;
        sink.size_ = size;
        return sink;
    }
    static GradientSink into_param(ParamGradient<T>* gradient) {
        GradientSink sink;
        sink.param_ = gradient;
        return sink;
    }

    bool wanted() const { return adjoint_ != nullptr || param_ != nullptr; }

    // A stored line repeated (see write_repeated) added into the gradient.
    void add_repeated(const T* line, bool across_columns, Index rows, Index cols) const {
        if (param_ != nullptr)
            param_->accumulate_repeated(line, across_columns, rows, cols);
        else
            write_repeated(adjoint_, overwrites(), line, across_columns, rows, cols);
    }

    // op(A) op(B) added into the gradient.
    template <bool TransposeA, bool TransposeB>
    void add_product(const T* A, Index a_rows, Index a_cols, const T* B, Index b_rows, Index b_cols) const {
        if (param_ != nullptr)
            param_->template accumulate_product<TransposeA, TransposeB>(A, a_rows, a_cols, B, b_rows, b_cols);
        else if (overwrites())
            gemm_overwrite<TransposeA, TransposeB>(T(1), A, a_rows, a_cols, B, b_rows, b_cols, adjoint_);
        else
            gemm_accumulate<TransposeA, TransposeB>(T(1), A, a_rows, a_cols, B, b_rows, b_cols, adjoint_);
    }

    // `values` (rows x cols, column-major) added into the gradient.
    void add(const T* values, Index rows, Index cols) const {
        using Array = Eigen::Array<T, Eigen::Dynamic, Eigen::Dynamic>;
        const Eigen::Map<const Array> v(values, rows, cols);
        if (param_ != nullptr)
            param_->template accumulate<Eigen::Dynamic, Eigen::Dynamic>(rows, cols, v);
        else if (overwrites())
            parallel_assign(Eigen::Map<Array>(adjoint_, rows, cols), v);
        else
            parallel_add(Eigen::Map<Array>(adjoint_, rows, cols), v);
    }

    // Where a step that produces the whole gradient (a value per element, in one or more
    // passes) puts it, and whether it writes over what is there (a stale Param's
    // gradient, an adjoint not yet written in this sweep) or adds to it.
    struct Whole {
        T* data;  // nullptr: the operand takes no gradient
        bool overwrite;
    };
    Whole whole() const {
        if (param_ != nullptr) {
            const auto [data, overwrite] = param_->take_whole();
            return {data, overwrite};
        }
        if (adjoint_ == nullptr) return {nullptr, false};
        return {adjoint_, overwrites()};
    }

    // The gradient's memory, for a step that adds into part of it (a block, gathered
    // columns): a stale Param's zeros, or an adjoint's not yet written, are written first.
    T* memory_to_add_into() const {
        if (param_ != nullptr) return param_->read();
        if (overwrites()) std::fill_n(adjoint_, size_, T(0));
        return adjoint_;
    }

    // The gradient as it stands, for checks after the step: zeros for an adjoint not
    // written yet in this sweep, which reading does not mark as written (that would make
    // its step run, and anomaly checks change what a sweep computes).
    const T* read() const {
        if (param_ != nullptr) return param_->read();
        if (!holds_gradient(life_, position_)) return zeros<T>(size_);
        return adjoint_;
    }

private:
    GradientSink() = default;

    // True for the first contribution to a Var's adjoint in a first-order sweep.
    bool overwrites() const { return life_ != nullptr && first_write(life_, position_); }

    T* adjoint_ = nullptr;
    ParamGradient<T>* param_ = nullptr;
    const TapeLife* life_ = nullptr;  // a Var's adjoint's: where its sweep's flags are
    std::size_t position_ = 0;
    Index size_ = 0;
};

}  // namespace tapestry::detail
