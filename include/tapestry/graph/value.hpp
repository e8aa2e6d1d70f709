#pragma once
// A computed value as the graph sees it, whatever its static shape: where its numbers
// are (in a recording's arena, or owned), its adjoint, and what tells whether that
// memory is still its own. A Var is a typed handle to one (tapestry/var.hpp).

#include <cstddef>
#include <cstdint>

#include "tapestry/core/errors.hpp"
#include "tapestry/core/keep_alive.hpp"
#include "tapestry/core/shape.hpp"
#include "tapestry/tape/recording.hpp"

namespace tapestry::detail {

template <class T>
struct ValueParts {
    const T* value;
    T* adjoint;  // nullptr: nothing trainable upstream, or not recorded
    Index rows, cols;
    const TapeLife* life;  // the recording's; nullptr: owned value (inference or constant)
    std::uint64_t epoch;   // the recording's when the value was made
    std::size_t position;  // the recording's size after this value's node: backward starts here
    KeepAlive owner;       // keeps an owned value alive; empty on a tape
    const char* made_by;   // the operation's name, for errors about this value
};

// "this Var (128x64, made by sigmoid) <what>".
[[noreturn, gnu::cold, gnu::noinline]] inline void throw_about_value(Index rows, Index cols, const char* made_by,
                                                                     const char* what) {
    throw tape_error("this Var (" + to_string_shape(rows, cols) + ", made by " +
                     (made_by != nullptr ? made_by : "an operation") + ") " + what);
}

// Throws tape_error unless the memory a value points to is still its own.
template <class T>
[[gnu::always_inline]] inline void verify_value(const ValueParts<T>& v) {
    if (v.value == nullptr) throw_tape_error("this Var is empty: it was never assigned a value");
    if (v.life != nullptr && v.life->epoch() != v.epoch) [[unlikely]] {
        if (v.life->destroyed_since(v.epoch))
            throw_about_value(v.rows, v.cols, v.made_by, "was recorded on a tape that has been destroyed");
        throw_about_value(v.rows, v.cols, v.made_by,
                          "was recorded on a tape that has been cleared since: make it again after clear()");
    }
}

// What a value read by an expression must also be: on the active recording, or on none.
template <class T>
[[gnu::always_inline]] inline void verify_operand(const ValueParts<T>& v) {
    verify_value(v);
    const Recording* active = Recording::active();
    if (active != nullptr && v.life != nullptr && v.life != active->life()) [[unlikely]]
        throw_about_value(v.rows, v.cols, v.made_by, "was recorded on another tape than the active one");
}

}  // namespace tapestry::detail
