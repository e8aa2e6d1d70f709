#pragma once
// The floors' sigmoid cross-entropy: its sum and its gradient in one pass over the logits,
// the fastest way we know to write them by hand. e^-|y| is computed once per element and
// serves both log(1 + e^-|y|) (as a series: the library's kernel, shared so that the floor
// computes the same math) and the sigmoid, 1 / (1 + e^-|y|) or e^-|y| / (1 + e^-|y|) by
// y's sign. The library does the same pass in its forward (kernels/logistic_loss.hpp) but
// cannot write the gradient there: its forward runs before backward() knows the
// gradient's scale, so it keeps sigmoid(y) - t and its backward scales that in a pass of
// its own.

#include <algorithm>
#include <cmath>

#include <tapestry/kernels/vectorised_math.hpp>

#include "packet_loop.hpp"

namespace bench {

// (Eigen's packet types as template arguments: see sum_of_elements in kernels/parallel.hpp.)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wignored-attributes"

// Returns the sum over i of max(y, 0) - y t + log(1 + e^-|y|), and writes (or with
// AddIntoGradient, adds) gradient_scale (sigmoid(y) - t) into `gradient`, which may be
// `logits`: each value is read before its gradient is written. Each holds `size` values.
template <bool AddIntoGradient = false, class T>
T sigmoid_cross_entropy_and_gradient(const T* logits, const T* targets, tapestry::Index size, T gradient_scale,
                                     T* gradient) {
    namespace ei = Eigen::internal;
    using Packet = typename ei::packet_traits<T>::type;
    using Series = tapestry::detail::Log1pExpMinusAbsFunctor<T>;
    const Packet zero = ei::pset1<Packet>(T(0)), one = ei::pset1<Packet>(T(1)),
                 scale = ei::pset1<Packet>(gradient_scale);
    const auto step = [&](tapestry::Index i, Packet& loss) {
        const Packet y = ei::ploadu<Packet>(logits + i), t = ei::ploadu<Packet>(targets + i);
        const Packet u = Series::exp_of_minus_abs(y);
        loss = ei::padd(loss, ei::padd(ei::psub(ei::pmax(y, zero), ei::pmul(y, t)), Series::of_exp(u)));
        const Packet r = ei::pdiv(one, ei::padd(one, u));
        const Packet sigmoid = ei::pselect(ei::pcmp_le(zero, y), r, ei::pmul(u, r));
        const Packet g = ei::pmul(scale, ei::psub(sigmoid, t));
        ei::pstoreu(gradient + i, AddIntoGradient ? ei::padd(ei::ploadu<Packet>(gradient + i), g) : g);
    };
    T total = sum_over_packets<Packet>(size, step);
    for (tapestry::Index i = whole_packets<Packet>(size); i < size; ++i) {
        const T y = logits[i], t = targets[i];
        total += std::max(y, T(0)) - y * t + Series{}(y);
        const T g = gradient_scale * (T(1) / (T(1) + std::exp(-y)) - t);
        gradient[i] = AddIntoGradient ? gradient[i] + g : g;
    }
    return total;
}

#pragma GCC diagnostic pop

}  // namespace bench
