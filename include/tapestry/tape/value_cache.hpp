#pragma once
// Memory for values computed without a tape (plain inference and constants), kept
// per thread for reuse.
//
// Why: without a tape every value is a fresh allocation, and glibc serves the large
// ones (a 784 x 256 float batch is 800 KB) with mmap and returns them to the system
// when freed, so each forward pass would page-fault all of its values in again. A
// model's shapes repeat from call to call, so a freed buffer is kept and handed to the
// next value of the same size.

#include <cstddef>
#include <cstdint>
#include <new>
#include <vector>

#include "tapestry/core/keep_alive.hpp"

namespace tapestry::detail {

// A value's memory and the handle that keeps it alive.
struct OwnedBuffer {
    void* data;
    KeepAlive owner;
};

class ValueCache {
public:
    // A buffer of at least `bytes` bytes, 64-byte aligned, given back to the cache of
    // whichever thread lets go of it last.
    // More than half the address space is refused before the rounding and the header
    // could wrap the size around to a small one.
    static OwnedBuffer take(std::size_t bytes) {
        if (bytes > static_cast<std::size_t>(PTRDIFF_MAX) / 2) throw std::bad_alloc();
        bytes = (bytes + alignment - 1) / alignment * alignment;
        Block* block = nullptr;
        if (ValueCache* cache = of_this_thread()) {
            if (cache->kept_.capacity() < max_kept) cache->kept_.reserve(max_kept);  // here: give_back may not allocate
            block = cache->reuse(bytes);
        }
        if (block == nullptr) block = new (::operator new(header_bytes + bytes, std::align_val_t{alignment})) Block{};
        block->holders.store(1, std::memory_order_relaxed);
        block->give_back = &give_back;
        block->bytes = bytes;
        return {reinterpret_cast<std::byte*>(block) + header_bytes, KeepAlive::adopt(block)};
    }

private:
    static constexpr std::size_t alignment = 64;
    static constexpr std::size_t max_kept = 32;  // per thread: a model's worth of activations

    // The header in front of a buffer: the holders' count and the buffer's size.
    struct Block : CountedBlock {
        std::size_t bytes;
    };
    static constexpr std::size_t header_bytes = alignment;  // so that the buffer is aligned too
    static_assert(sizeof(Block) <= header_bytes);

    ~ValueCache() {
        alive() = false;
        for (const Kept& kept : kept_) free_block(kept.block);
    }

    // A trivially destructible flag outlives the cache, so a value dropped during
    // thread exit (after the cache is gone) is freed instead of kept.
    static bool& alive() {
        thread_local bool flag = true;
        return flag;
    }
    static ValueCache* of_this_thread() {
        if (!alive()) return nullptr;
        thread_local ValueCache cache;
        return &cache;
    }

    Block* reuse(std::size_t bytes) {
        for (std::size_t i = 0; i < kept_.size(); ++i)
            if (kept_[i].bytes == bytes) {
                Block* block = kept_[i].block;
                kept_[i] = kept_.back();
                kept_.pop_back();
                return block;
            }
        return nullptr;
    }

    static void give_back(CountedBlock* counted) noexcept {
        auto* block = static_cast<Block*>(counted);
        ValueCache* cache = of_this_thread();
        // Only into room that take() reserved: a thread that has taken no value frees it.
        if (cache != nullptr && cache->kept_.size() < cache->kept_.capacity()) {
            cache->kept_.push_back({block, block->bytes});
            return;
        }
        free_block(block);
    }

    static void free_block(Block* block) noexcept {
        block->~Block();
        ::operator delete(block, std::align_val_t{alignment});
    }

    // Each buffer's size beside it, so that reuse() reads no header (a large buffer's is a
    // page of its own).
    struct Kept {
        Block* block;
        std::size_t bytes;
    };
    std::vector<Kept> kept_;
};

}  // namespace tapestry::detail
