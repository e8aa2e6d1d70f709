#pragma once
// Short-lived memory, per thread: a costly gradient expression evaluated once
// (BinaryExpr::backprop), what a node's forward keeps only while it runs
// (graph/node.hpp). Uses nest, so buffers are taken and given back
// last-in first-out from a bump stack that grows on demand and keeps its memory: after
// the first step that needed it, scratch allocates nothing.

#include <algorithm>
#include <cstddef>
#include <memory>
#include <new>
#include <vector>

#include "tapestry/core/shape.hpp"
#include "tapestry/kernels/parallel.hpp"

namespace tapestry::detail {

class ScratchStack {
public:
    static ScratchStack& of_this_thread() {
        thread_local ScratchStack stack;
        return stack;
    }

    struct Mark {
        std::size_t chunk, used;
    };
    Mark mark() const { return {current_, used_}; }

    void* take(std::size_t bytes) {
        bytes = (bytes + alignment - 1) / alignment * alignment;
        if (current_ < chunks_.size() && used_ + bytes <= chunks_[current_].size) return bump(bytes);
        // The chunks after the current one hold nothing live (last-in first-out).
        const std::size_t next = current_ < chunks_.size() && used_ > 0 ? current_ + 1 : current_;
        if (next == chunks_.size()) chunks_.emplace_back();
        if (chunks_[next].size < bytes) chunks_[next] = Chunk(std::max(bytes, 2 * chunks_[next].size));
        current_ = next;
        used_ = 0;
        return bump(bytes);
    }

    void release(Mark m) {
        current_ = m.chunk;
        used_ = m.used;
        // Everything given back: merge the chunks, so that the next pass fits in one.
        if (current_ == 0 && used_ == 0 && chunks_.size() > 1) {
            std::size_t total = 0;
            for (const Chunk& c : chunks_) total += c.size;
            chunks_.clear();
            chunks_.emplace_back(total);
        }
    }

private:
    static constexpr std::size_t alignment = 64;

    struct Chunk {
        Chunk() = default;
        explicit Chunk(std::size_t bytes)
            : data(static_cast<std::byte*>(::operator new(bytes, std::align_val_t{alignment}))), size(bytes) {}
        struct Free {
            void operator()(std::byte* p) const { ::operator delete(p, std::align_val_t{alignment}); }
        };
        std::unique_ptr<std::byte[], Free> data;
        std::size_t size = 0;
    };

    void* bump(std::size_t bytes) {
        void* p = chunks_[current_].data.get() + used_;
        used_ += bytes;
        return p;
    }

    std::vector<Chunk> chunks_;
    std::size_t current_ = 0, used_ = 0;
};

// Scratch taken inside this scope is given back when it ends.
class ScratchScope {
public:
    ScratchScope() : mark_(ScratchStack::of_this_thread().mark()) {}
    ScratchScope(const ScratchScope&) = delete;
    ScratchScope& operator=(const ScratchScope&) = delete;
    ~ScratchScope() { ScratchStack::of_this_thread().release(mark_); }

    template <class T>
    T* take(Index count) {
        return static_cast<T*>(ScratchStack::of_this_thread().take(sizeof(T) * static_cast<std::size_t>(count)));
    }
    // rows x cols values of T, as an array of an operand's kernel shape.
    template <class T, int R, int C>
    Eigen::Map<KernelArray<T, R, C>> array(Index rows, Index cols) {
        return {take<T>(rows * cols), rows, cols};
    }

private:
    ScratchStack::Mark mark_;
};

// An Eigen expression evaluated once into scratch, read back as an array, for the
// lifetime of this object.
template <class T, int R, int C>
class EvaluatedOnce {
public:
    template <class G>
    explicit EvaluatedOnce(const G& g)
        : mark_(ScratchStack::of_this_thread().mark()),
          data_(static_cast<T*>(ScratchStack::of_this_thread().take(sizeof(T) * static_cast<std::size_t>(g.size())))),
          rows_(g.rows()),
          cols_(g.cols()) {
        parallel_assign(Eigen::Map<KernelArray<T, R, C>, Eigen::Aligned64>(data_, rows_, cols_), g);
    }
    EvaluatedOnce(const EvaluatedOnce&) = delete;
    EvaluatedOnce& operator=(const EvaluatedOnce&) = delete;
    ~EvaluatedOnce() { ScratchStack::of_this_thread().release(mark_); }

    // The same type as a stored adjoint's map (not declared aligned), so that the
    // backward code it reaches is the code already compiled for an adjoint, not a copy.
    Eigen::Map<const KernelArray<T, R, C>> array() const { return {data_, rows_, cols_}; }
    // The scratch itself, for a step that finishes the gradient in place.
    T* data() const { return data_; }

private:
    ScratchStack::Mark mark_;
    T* data_;
    Index rows_, cols_;
};

// send(g, gt), with both evaluated once into scratch if either is costly to recompute:
// for a second-order step, which reads each more than once.
template <class T, int R, int C, class G, class Gt, class Send>
void send_evaluated_if_costly(const G& g, const Gt& gt, Send&& send) {
    if constexpr (costly_to_recompute<G> || costly_to_recompute<Gt>) {
        const EvaluatedOnce<T, R, C> g_once(g), gt_once(gt);
        send(g_once.array(), gt_once.array());
    } else {
        send(g, gt);
    }
}

}  // namespace tapestry::detail
