#pragma once
// The floors' hand-written packet loops: a sum over whole packets in two accumulators.

#include <tapestry/core/eigen.hpp>
#include <tapestry/core/shape.hpp>

namespace bench {

// (Eigen's packet types as template arguments: see sum_of_elements in kernels/parallel.hpp.)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wignored-attributes"

// Calls step(i, accumulator) at the start i of every whole packet of `size` values,
// alternating two accumulators (one would wait on its own addition's latency), and
// returns the sum of their lanes. The values from whole_packets(size) on are the caller's.
template <class Packet, class Step>
auto sum_over_packets(tapestry::Index size, Step step) {
    namespace ei = Eigen::internal;
    constexpr tapestry::Index n = ei::unpacket_traits<Packet>::size;
    const tapestry::Index packets_end = size / n * n;
    Packet loss0 = ei::pset1<Packet>(0), loss1 = ei::pset1<Packet>(0);
    tapestry::Index i = 0;
    for (; i + 2 * n <= packets_end; i += 2 * n) {
        step(i, loss0);
        step(i + n, loss1);
    }
    if (i < packets_end) step(i, loss0);
    return ei::predux(ei::padd(loss0, loss1));
}

// Where the whole packets of `size` values end.
template <class Packet>
tapestry::Index whole_packets(tapestry::Index size) {
    constexpr tapestry::Index n = Eigen::internal::unpacket_traits<Packet>::size;
    return size / n * n;
}

#pragma GCC diagnostic pop

}  // namespace bench
