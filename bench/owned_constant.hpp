#pragma once
// Data that every benchmark call reads: a constant that owns its values, made outside
// any tape, so that each tape reads it in place (a constant made under a tape is
// copied into that tape on every call).

#include <tapestry/tapestry.hpp>

namespace bench {

template <class M>
auto owned_constant(const M& m) {
    tapestry::InferenceMode outside_any_tape;
    return tapestry::constant(m);
}

}  // namespace bench
