#pragma once
// The exceptions tapestry throws. Every check runs before any value is written,
// so a caught error leaves Params, Vars and the tape as they were.

#include <stdexcept>
#include <string>

#include "tapestry/core/shape.hpp"

namespace tapestry {

// Base of everything tapestry throws.
struct error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// Two run-time shapes that an operation cannot combine; the message names both.
struct shape_error : error {
    using error::error;
};

// A Var used after its tape was cleared or destroyed, or on the wrong tape.
struct tape_error : error {
    using error::error;
};

// An argument whose value (not shape) is unusable, such as a class label out of range.
struct value_error : error {
    using error::error;
};

// An index outside what it indexes: a column id past an embedding table's end, a block
// that reaches beyond its matrix. A value_error, so code that catches those catches it.
struct index_error : value_error {
    using value_error::value_error;
};

namespace detail {

[[noreturn, gnu::cold]] inline void throw_shape_error(const char* operation, Index r1, Index c1, Index r2, Index c2,
                                                      const char* requirement) {
    throw shape_error(std::string(operation) + ": shapes " + to_string_shape(r1, c1) + " and " +
                      to_string_shape(r2, c2) + " do not agree (" + requirement + ")");
}

[[noreturn, gnu::cold, gnu::noinline]] inline void throw_tape_error(const char* what) { throw tape_error(what); }

}  // namespace detail
}  // namespace tapestry
