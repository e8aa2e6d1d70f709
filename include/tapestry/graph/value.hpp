#pragma once
// A computed value as the graph sees it, whatever its static shape: where its numbers
// are (in a recording's arena, or owned), its adjoint, and what tells whether that
// memory is still its own. A Var is a typed handle to one (tapestry/var.hpp).

#include <cstddef>
#include <cstdint>

#include "tapestry/core/errors.hpp"
#include "tapestry/core/keep_alive.hpp"
#include "tapestry/tape/recording.hpp"

namespace tapestry::detail {

template <class T>
struct ValueParts {
    const T* value;
    T* adjoint;  // nullptr: nothing trainable upstream, or not recorded
    Index rows, cols;
    KeepAlive<TapeLife> life;  // empty: owned value (inference or constant)
    std::uint64_t epoch;
    std::size_t position;         // the recording's size after this value's node: backward starts here
    KeepAlive<const void> owner;  // keeps an owned value alive
};

// Throws tape_error unless the memory a value points to is still its own.
inline void verify_value(const void* value, const TapeLife* life, std::uint64_t epoch) {
    if (value == nullptr) throw_tape_error("this Var is empty: it was never assigned a value");
    if (life != nullptr && !life->alive) throw_tape_error("this Var was recorded on a tape that has been destroyed");
    if (life != nullptr && life->epoch != epoch)
        throw_tape_error("this Var was recorded on a tape that has been cleared since");
}

// What a value read by an expression must also be: on the active recording, or on none.
inline void verify_operand(const void* value, const TapeLife* life, std::uint64_t epoch) {
    verify_value(value, life, epoch);
    const Recording* active = Recording::active();
    if (active != nullptr && life != nullptr && life->tape != active)
        throw_tape_error("this Var was recorded on another tape than the active one");
}

}  // namespace tapestry::detail
