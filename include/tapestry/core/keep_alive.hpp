#pragma once
// KeepAlive: holding one keeps a counted block of memory alive (a value computed without a
// tape, which Vars, expressions and recorded steps read). The block counts its holders in
// a header of its own and says how it is given back, so that a handle is one pointer,
// null for the values a tape owns (most of them), and copying or dropping an empty one is
// a test of that pointer. Every operand is copied into its expression and into its step,
// and a std::shared_ptr there (two words, an owner_before() test per copy) cost about a
// tenth of a small node's time (docs/performance.md, "Issue 23: a stall per node and a
// one-word owner"). Counting a holder in or out is an out-of-line call, compiled once:
// inlined atomics in every small per-shape function that copies or drops a Var bloated the
// object code (docs/performance.md, "Compile time").

#include <atomic>
#include <cstddef>
#include <utility>

namespace tapestry::detail {

// The header of a block that KeepAlive handles hold. `give_back` is called once, by
// whichever holder lets go last, on that holder's thread.
struct CountedBlock {
    std::atomic<std::size_t> holders;
    void (*give_back)(CountedBlock*) noexcept;
};

class KeepAlive {
public:
    KeepAlive() noexcept = default;
    KeepAlive(std::nullptr_t) noexcept {}  // NOLINT(google-explicit-constructor): as a pointer

    // The handle of a block whose count of holders already includes it.
    static KeepAlive adopt(CountedBlock* block) noexcept {
        KeepAlive handle;
        handle.block_ = block;
        return handle;
    }

    KeepAlive(const KeepAlive& other) noexcept : block_(other.block_) {
        if (block_ != nullptr) hold(block_);
    }
    KeepAlive(KeepAlive&& other) noexcept : block_(std::exchange(other.block_, nullptr)) {}
    KeepAlive& operator=(const KeepAlive& other) noexcept {
        KeepAlive(other).swap(*this);  // the old block is let go with the temporary
        return *this;
    }
    KeepAlive& operator=(KeepAlive&& other) noexcept {
        KeepAlive(std::move(other)).swap(*this);
        return *this;
    }
    ~KeepAlive() {
        if (block_ != nullptr) let_go(block_);
    }

    explicit operator bool() const noexcept { return block_ != nullptr; }
    const CountedBlock* block() const noexcept { return block_; }
    void swap(KeepAlive& other) noexcept { std::swap(block_, other.block_); }

private:
    [[gnu::noinline]] static void hold(CountedBlock* block) noexcept {
        block->holders.fetch_add(1, std::memory_order_relaxed);
    }
    // acq_rel: every holder's reads of the block happen before it is given back.
    [[gnu::noinline]] static void let_go(CountedBlock* block) noexcept {
        if (block->holders.fetch_sub(1, std::memory_order_acq_rel) == 1) block->give_back(block);
    }

    CountedBlock* block_ = nullptr;
};

}  // namespace tapestry::detail
