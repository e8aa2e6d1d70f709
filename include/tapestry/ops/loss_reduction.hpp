#pragma once
// How a loss reduces its per-example values: their mean (the default), their sum, or
// none (Reduction::None: a 1 x B row of each example's loss, summed over the example's
// elements, so that summing the row gives Reduction::Sum). None has a type of its own
// because it changes the loss's shape, which lives in the type.

#include "tapestry/core/shape.hpp"

namespace tapestry {

// The type of Reduction::None.
struct NoReduction {};

class Reduction {
public:
    static const Reduction Mean;
    static const Reduction Sum;
    static constexpr NoReduction None{};

    constexpr bool operator==(const Reduction&) const = default;

private:
    constexpr explicit Reduction(bool mean) : mean_(mean) {}
    bool mean_;
};

inline constexpr Reduction Reduction::Mean{true};
inline constexpr Reduction Reduction::Sum{false};

namespace detail {
// The factor that turns a sum of `count` values into the reduction asked for.
template <class T>
T reduction_scale(Reduction reduction, Index count) {
    return reduction == Reduction::Mean ? T(1) / static_cast<T>(count) : T(1);
}
}  // namespace detail

}  // namespace tapestry
