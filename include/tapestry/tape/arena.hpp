#pragma once
// A bump allocator for everything one training step records: values, adjoints and
// backward closures. rewind() forgets the contents but keeps the blocks, so a step
// of the same shapes after a rewind makes no heap allocation.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <new>
#include <vector>

#include "tapestry/kernels/parallel.hpp"

namespace tapestry::detail {

class Arena {
public:
    // A value of 64 bytes or more starts on a cache line (Eigen's packets are at most 64
    // bytes wide); a smaller one on 16 bytes, so that the values, adjoints and steps of
    // scalar nodes lie side by side instead of a cache line each (docs/performance.md).
    static constexpr std::size_t wide_alignment = 64;
    static constexpr std::size_t narrow_alignment = 16;
    static constexpr std::size_t alignment_for(std::size_t bytes) {
        return bytes >= wide_alignment ? wide_alignment : narrow_alignment;
    }

    Arena() = default;
    Arena(const Arena&) = delete;
    Arena& operator=(const Arena&) = delete;
    ~Arena() {
        for (Block& block : blocks_) ::operator delete(block.data, std::align_val_t{wide_alignment});
    }

    // Inlined, and a bump of a cursor: a small node makes three of these (docs/performance.md).
    [[gnu::always_inline]] void* allocate(std::size_t bytes) { return bump(bytes, alignment_for(bytes)); }
    // For an object whose type asks for more than its size would get (a step holding a
    // fixed-size Eigen member): at most a cache line, which is what a block starts on.
    template <std::size_t Alignment>
    [[gnu::always_inline]] void* allocate_aligned(std::size_t bytes) {
        static_assert(Alignment <= wide_alignment && (Alignment & (Alignment - 1)) == 0,
                      "the arena aligns to a power of two up to 64 bytes");
        return bump(bytes, std::max(Alignment, alignment_for(bytes)));
    }

    template <class T>
    [[gnu::always_inline]] T* allocate_array(std::size_t count) {
        return static_cast<T*>(allocate(count * sizeof(T)));
    }

    void rewind() {
        for (Block& block : blocks_) block.used = 0;
        enter_unused_block(0);
    }

    // Zero-fills everything handed out since the last rewind (a large block on several
    // threads: at a few megabytes the fill is memory-bound, and each core has its own path).
    void zero_used() {
        save_current();
        constexpr double min_bytes_per_thread = 1 << 18;
        for (Block& block : blocks_) {
            const auto used = static_cast<Index>(block.used);
            const int pieces = pieces_for(double(used), min_bytes_per_thread, used / 4096);
            run_pieces(pieces, [&](int p) {
                const auto [begin, end] = piece_range(used, pieces, p, 64);
                std::memset(block.data + begin, 0, static_cast<std::size_t>(end - begin));
            });
        }
    }

    std::size_t bytes_reserved() const {
        std::size_t total = 0;
        for (const Block& block : blocks_) total += block.size;
        return total;
    }

    std::size_t bytes_used() const {
        std::size_t total = 0;
        for (std::size_t b = 0; b < blocks_.size(); ++b) total += b == current_ ? used_of_current() : blocks_[b].used;
        return total;
    }

private:
    // `used` is kept up to date for every block but the current one, whose end of use
    // is the cursor.
    struct Block {
        std::byte* data;
        std::size_t size;
        std::size_t used;
    };

    static constexpr std::uintptr_t round_up(std::uintptr_t n, std::size_t alignment) {
        return (n + alignment - 1) & ~std::uintptr_t(alignment - 1);
    }

    [[gnu::always_inline]] void* bump(std::size_t bytes, std::size_t alignment) {
        bytes = round_up(std::max<std::size_t>(bytes, 1), narrow_alignment);
        if (void* p = bump_current(bytes, alignment)) return p;
        return allocate_past_current(bytes, alignment);
    }
    // In the current block, or nullptr if it has no room.
    [[gnu::always_inline]] void* bump_current(std::size_t bytes, std::size_t alignment) {
        const std::uintptr_t start = round_up(cursor_, alignment);
        if (start > limit_ || bytes > limit_ - start) return nullptr;
        cursor_ = start + bytes;
        return reinterpret_cast<void*>(start);
    }

    std::size_t used_of_current() const { return cursor_ - reinterpret_cast<std::uintptr_t>(blocks_[current_].data); }
    void save_current() {
        if (current_ < blocks_.size()) blocks_[current_].used = used_of_current();
    }
    // Makes block b (or none, past the last) current. Every block after the current one
    // is unused since the last rewind, so the cursor starts at its beginning: reading its
    // `used` count right after rewind() wrote it stalled (a store-forwarding stall, 5 ns a tape).
    void enter_unused_block(std::size_t b) {
        current_ = b;
        if (b < blocks_.size()) {
            cursor_ = reinterpret_cast<std::uintptr_t>(blocks_[b].data);
            limit_ = cursor_ + blocks_[b].size;
        } else {
            cursor_ = limit_ = 0;
        }
    }

    // When the current block is full: the next one that fits, or a new one. Not inlined
    // into allocate(), which every recording operation inlines.
    [[gnu::noinline]] void* allocate_past_current(std::size_t bytes, std::size_t alignment) {
        save_current();
        for (std::size_t b = current_ + 1; b < blocks_.size(); ++b) {
            enter_unused_block(b);
            if (void* p = bump_current(bytes, alignment)) return p;
        }
        add_block(bytes);
        return bump_current(bytes, alignment);  // a new block starts on a cache line and holds `bytes`
    }

    // Blocks grow geometrically so that a step needs few of them; after the first
    // step they are all reused in order.
    void add_block(std::size_t at_least) {
        std::size_t previous = blocks_.empty() ? 0 : blocks_.back().size;
        std::size_t size = std::max({at_least, 2 * previous, std::size_t{1} << 16});
        auto* data = static_cast<std::byte*>(::operator new(size, std::align_val_t{wide_alignment}));
        blocks_.push_back(Block{data, size, 0});
        enter_unused_block(blocks_.size() - 1);
    }

    std::vector<Block> blocks_;
    std::size_t current_ = 0;
    // The current block's next free byte and its end (0 and 0 before the first block).
    std::uintptr_t cursor_ = 0, limit_ = 0;
};

}  // namespace tapestry::detail
