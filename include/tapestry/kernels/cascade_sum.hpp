#pragma once
// A long sum's blocks added as a binary tree (pairwise summation), for the kernels that
// sum in packet accumulators. An accumulator fed element after element rounds at every
// addition, to the precision of the large sum it holds, so its error grows with its
// count: 10^7 times 0.1f in 64 lanes came out 0.07% low. A kernel sums a block of
// elements (about a thousand) in its accumulators, gathers 16 blocks' sums in a register,
// then hands that sum here: the error grows with those two counts plus the logarithm of
// the number of hand-offs, as in PyTorch's and NumPy's cascaded sums, for one addition
// per block. A sum of one block or less never reaches the cascade.

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
    // Adds the next block's sum. The stack holds the sums of 2^k blocks for the set bits k
    // of the count of blocks, largest first: a binary counter, whose carries are additions
    // of two sums of equal length.
    void add(BlockSum<Packet> block) {
        namespace ei = Eigen::internal;
        ++blocks_;
        for (std::uint64_t count = blocks_; (count & 1) == 0; count >>= 1) {
            --depth_;
            block.lanes = ei::padd(stack_[depth_].lanes, block.lanes);
            block.scalar += stack_[depth_].scalar;
        }
        stack_[depth_++] = block;
    }

    bool empty() const { return depth_ == 0; }

    // The blocks' sum and `last` (the sum of what followed them), the smaller sums first.
    auto total(BlockSum<Packet> last) const {
        namespace ei = Eigen::internal;
        for (int k = depth_ - 1; k >= 0; --k) {
            last.lanes = ei::padd(last.lanes, stack_[k].lanes);
            last.scalar += stack_[k].scalar;
        }
        return ei::predux(last.lanes) + last.scalar;
    }

private:
    std::uint64_t blocks_ = 0;
    int depth_ = 0;
    BlockSum<Packet> stack_[64];  // one per bit of the count; written only when a block ends
};

#pragma GCC diagnostic pop

}  // namespace tapestry::detail
