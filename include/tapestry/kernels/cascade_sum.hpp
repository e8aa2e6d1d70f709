#pragma once
// A long sum's blocks added as a binary tree (pairwise summation), for the kernels that
// sum in packet accumulators. An accumulator fed element after element rounds at every
// addition, to the precision of the large sum it holds, so its error grows with its
// count: 10^7 times 0.1f in 64 lanes came out 0.07% low. A kernel sums a block of
// elements (about a thousand) in its accumulators and hands their sum here, which gathers
// 16 blocks' sums before it adds them into the tree: the error grows with those two counts
// plus the logarithm of the number of gatherings, as in PyTorch's and NumPy's cascaded
// sums, for one addition per block. A sum of one block or less never reaches the tree.

#include <cstdint>

#include "tapestry/core/eigen.hpp"
#include "tapestry/core/shape.hpp"

namespace tapestry::detail {

// (Eigen's packet types as template arguments: see sum_of_elements in kernels/parallel.hpp.)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wignored-attributes"

// Elements a kernel sums in its accumulators before it hands their sum to a cascade: 64
// packets, a thousand floats with AVX-512, a few hundred with SSE.
template <class T>
inline constexpr Index cascade_block = 64 * Eigen::internal::packet_traits<T>::size;

// A block's sum as a packet of lanes and a scalar (what did not fit in a packet).
template <class Packet>
struct BlockSum {
    Packet lanes;
    typename Eigen::internal::unpacket_traits<Packet>::type scalar;
};

template <class Packet>
class CascadeSum {
public:
    using Scalar = typename Eigen::internal::unpacket_traits<Packet>::type;

    // Adds the next block's sum. Blocks gather 16 at a time, then go to the stack, which
    // holds the sums of 2^k gatherings for the set bits k of their count, largest first:
    // a binary counter, whose carries are additions of two sums of equal length. The
    // gathering is inlined into the kernel's loop, the rest is a call: with a call per
    // block, concat_rows's sum (512 x 64) took 4% more (bench_ops).
    [[gnu::always_inline]] void add(BlockSum<Packet> block) {
        gathered_ = plus(gathered_, block);
        if (++gathered_count_ == 16) carry_gathered();
    }

    // The blocks' sum and `last` (the sum of what followed them), the smaller sums first.
    // Without a block before it, `last` alone: a sum of a block or less is the kernel's.
    Scalar total(BlockSum<Packet> last) const {
        namespace ei = Eigen::internal;
        if (gathered_count_ == 0 && depth_ == 0) return ei::predux(last.lanes) + last.scalar;
        last = plus(gathered_, last);
        for (int k = depth_ - 1; k >= 0; --k) last = plus(last, stack_[k]);
        return ei::predux(last.lanes) + last.scalar;
    }

private:
    [[gnu::noinline]] void carry_gathered() {
        BlockSum<Packet> carry = gathered_;
        gathered_ = zero();
        gathered_count_ = 0;
        ++gatherings_;
        for (std::uint64_t count = gatherings_; (count & 1) == 0; count >>= 1) carry = plus(stack_[--depth_], carry);
        stack_[depth_++] = carry;
    }
    static BlockSum<Packet> zero() { return {Eigen::internal::pset1<Packet>(Scalar(0)), Scalar(0)}; }
    static BlockSum<Packet> plus(const BlockSum<Packet>& a, const BlockSum<Packet>& b) {
        return {Eigen::internal::padd(a.lanes, b.lanes), a.scalar + b.scalar};
    }

    BlockSum<Packet> gathered_ = zero();
    int gathered_count_ = 0;
    std::uint64_t gatherings_ = 0;
    int depth_ = 0;
    BlockSum<Packet> stack_[64];  // one per bit of the count; written only when 16 blocks end
};

#pragma GCC diagnostic pop

}  // namespace tapestry::detail
