#pragma once
// The sigmoid cross-entropy summed over its elements, and its derivative per element, in
// one pass over the logits: e^-|y| is computed once and serves both log(1 + e^-|y|) (the
// loss) and the sigmoid (the derivative, sigmoid(y) - t). A loss node whose backward
// needs the derivative keeps it from its forward this way, instead of reading the
// logits and computing e^-|y| again (issue 23: in Model A, the loss's two passes cost
// about 4% of a step more than one).

#include <algorithm>
#include <cmath>
#include <type_traits>

#include "tapestry/core/eigen.hpp"
#include "tapestry/kernels/cascade_sum.hpp"
#include "tapestry/kernels/parallel.hpp"
#include "tapestry/kernels/vectorised_math.hpp"

namespace tapestry::detail {

// (Eigen's packet types as template arguments: see sum_of_elements in kernels/parallel.hpp.)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wignored-attributes"

// Passed as the derivative when only the sum is wanted (inference): the same sum, bit for
// bit. Cut into pieces as a derivative map is (ElementwiseCut::on_piece), into itself.
struct NoDerivative {
    NoDerivative middleCols(Index, Index) const { return {}; }
    NoDerivative middleRows(Index, Index) const { return {}; }
};

// Returns the sum over the elements of max(y, 0) - y t + log(1 + e^-|y|), and writes
// sigmoid(y) - t into `derivative` (unless it is NoDerivative). Logits, targets and the
// derivative are column-major Eigen arrays or expressions of one shape, read down each
// column a packet at a time (one element at a time if an operand cannot be read in
// packets). A column's last elements, fewer than a packet, are summed in double in float:
// many short columns would otherwise add up their rounding.
template <class Logits, class Targets, class Derivative>
typename Logits::Scalar sigmoid_cross_entropy_and_derivative(const Logits& logits, const Targets& targets,
                                                             Derivative&& derivative) {
    namespace ei = Eigen::internal;
    using T = typename Logits::Scalar;
    using Packet = typename ei::packet_traits<T>::type;
    using Series = Log1pExpMinusAbsFunctor<T>;
    constexpr Index n = ei::unpacket_traits<Packet>::size;
    constexpr bool keeps_derivative = !std::is_same_v<std::remove_cvref_t<Derivative>, NoDerivative>;
    static_assert(!Logits::IsRowMajor && !Targets::IsRowMajor, "read down columns");
    if constexpr (keeps_derivative) static_assert(!std::remove_cvref_t<Derivative>::IsRowMajor, "written down columns");
    constexpr bool by_packets = n > 1 && bool(ei::evaluator<Logits>::Flags & Eigen::PacketAccessBit) &&
                                bool(ei::evaluator<Targets>::Flags & Eigen::PacketAccessBit);
    const ei::evaluator<Logits> y_of(logits);
    const ei::evaluator<Targets> t_of(targets);
    const Index rows = logits.rows(), cols = logits.cols(), in_packets = by_packets ? rows / n * n : 0;
    const Packet zero = ei::pset1<Packet>(T(0)), one = ei::pset1<Packet>(T(1));
    // Two accumulators: one would wait on its own addition's latency. Their sum goes to a
    // cascade every block of elements (kernels/cascade_sum.hpp), so a long sum keeps its
    // digits.
    Packet sum0 = zero, sum1 = zero;
    double rest = 0;
    constexpr Index block = cascade_block<T>;
    Index since_hand_off = 0;
    CascadeSum<Packet> cascade;
    const auto hand_off = [&] {
        cascade.add({ei::padd(sum0, sum1), T(0)});
        sum0 = sum1 = zero;
        since_hand_off = 0;
    };
    // Always inlined: where g++ inlined it into the kernel without a derivative but not into
    // the other, it contracted different multiply-adds in each, and a float loss summed with
    // a tape differed in its last bits from the same loss without one.
    const auto packet_at = [&](Index i, Index j, auto& sum)
        __attribute__((always_inline)) {  // generic: compiled only if called
        const Packet y = y_of.template packet<Eigen::Unaligned, Packet>(i, j);
        const Packet t = t_of.template packet<Eigen::Unaligned, Packet>(i, j);
        const Packet u = Series::exp_of_minus_abs(y);
        sum = ei::padd(sum, ei::padd(ei::psub(ei::pmax(y, zero), ei::pmul(y, t)), Series::of_exp(u)));
        const Packet r = ei::pdiv(one, ei::padd(one, u));
        const Packet sigmoid = ei::pselect(ei::pcmp_le(zero, y), r, ei::pmul(u, r));
        if constexpr (keeps_derivative) ei::pstoreu(&derivative.coeffRef(i, j), ei::psub(sigmoid, t));
    };
    for (Index j = 0; j < cols; ++j) {
        if constexpr (by_packets) {
            Index i = 0;
            for (;;) {  // a block at a time
                const Index end = std::min(in_packets, i + block);
                for (; i + 2 * n <= end; i += 2 * n) {
                    packet_at(i, j, sum0);
                    packet_at(i + n, j, sum1);
                }
                if (end == in_packets) break;
                hand_off();
            }
            if (i < in_packets) packet_at(i, j, sum0);
            if ((since_hand_off += in_packets) >= block) hand_off();
        }
        for (Index i = in_packets; i < rows; ++i) {
            const T y = y_of.coeff(i, j), t = t_of.coeff(i, j);
            const T u = std::exp(-std::abs(y)), r = T(1) / (T(1) + u);
            rest += double(std::max(y, T(0)) - y * t + std::log1p(u));  // Series{}(y), e^-|y| taken once
            if constexpr (keeps_derivative) derivative.coeffRef(i, j) = (y >= T(0) ? r : u * r) - t;
        }
    }
    return cascade.total({ei::padd(sum0, sum1), T(0)}) + static_cast<T>(rest);
}

#pragma GCC diagnostic pop

// The same, cut among threads as parallel_sum cuts a sum: the pieces' sums are added in
// order, so a run repeats itself bit for bit.
template <class Logits, class Targets, class Derivative>
typename Logits::Scalar parallel_sigmoid_cross_entropy_and_derivative(const Logits& logits, const Targets& targets,
                                                                      Derivative&& derivative) {
    return sum_in_pieces<typename Logits::Scalar>(
        [](const auto& y, const auto& t, auto&& d) { return sigmoid_cross_entropy_and_derivative(y, t, d); }, logits,
        targets, derivative);
}

}  // namespace tapestry::detail
