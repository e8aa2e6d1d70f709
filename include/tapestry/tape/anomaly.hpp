#pragma once
// Anomaly detection: inside a DetectAnomaly scope, every value an operation computes
// and every gradient it sends back are checked for NaN and infinity, and the first
// one found throws anomaly_error naming the operation, its operands' shapes, the
// element, and whether it happened in the forward or the backward pass.
//
//   DetectAnomaly guard;
//   tape.backward(loss_of(model));   // throws at the first NaN, where it appears
//
// Outside a scope the cost is one thread-local load per operation and per backward step.

#include <cmath>
#include <string>
#include <type_traits>

#include "tapestry/core/errors.hpp"

namespace tapestry {

// A NaN or an infinity where an operation produced it.
struct anomaly_error : error {
    using error::error;
};

namespace detail {
inline thread_local int anomaly_scopes = 0;
}  // namespace detail

class DetectAnomaly {
public:
    DetectAnomaly() { ++detail::anomaly_scopes; }
    DetectAnomaly(const DetectAnomaly&) = delete;
    DetectAnomaly& operator=(const DetectAnomaly&) = delete;
    ~DetectAnomaly() { --detail::anomaly_scopes; }

    static bool active() { return detail::anomaly_scopes > 0; }
};

namespace detail {

inline bool detecting_anomalies() { return anomaly_scopes > 0; }

// The index of the first value that is NaN or infinite, or -1. Not templated on the
// description, so that one loop serves every operation.
template <class T>
Index first_non_finite(const T* data, Index size) {
    for (Index i = 0; i < size; ++i)
        if (!std::isfinite(data[i])) return i;
    return -1;
}

// A description of where an anomaly is, built only when one is found. Held as a
// reference to any callable returning std::string, so that the checking code below is
// compiled once per scalar type instead of once per operation's description.
class Description {
public:
    template <class F>
        requires(!std::is_same_v<F, Description> && std::is_invocable_r_v<std::string, const F&>)
    Description(const F& describe)  // NOLINT(google-explicit-constructor): call sites pass lambdas
        : callable_(&describe), call_([](const void* f) { return (*static_cast<const F*>(f))(); }) {}

    std::string operator()() const { return call_(callable_); }

private:
    const void* callable_;
    std::string (*call_)(const void*);
};

// The error path is marked cold: compilers then optimise it for size, and the
// operations that carry it compile faster.
template <class T>
[[noreturn, gnu::cold, gnu::noinline]] void throw_anomaly(const char* pass, Description what, const T* data, Index at,
                                                          Index rows, Index cols) {
    throw anomaly_error("anomaly in the " + std::string(pass) + " pass: " + what() + " has " +
                        (std::isnan(data[at]) ? "NaN"
                         : data[at] > 0       ? "+inf"
                                              : "-inf") +
                        " at (" + std::to_string(at % rows) + ", " + std::to_string(at / rows) + ") of its " +
                        to_string_shape(rows, cols));
}

// Throws anomaly_error if any of the rows x cols values (column-major) is not finite.
// `what` is called only then: a description costs string building.
template <class T>
void check_finite(const T* data, Index rows, Index cols, const char* pass, Description what) {
    const Index at = first_non_finite(data, rows * cols);
    if (at >= 0) [[unlikely]]
        throw_anomaly(pass, what, data, at, rows, cols);
}

// Forward: the value an operation just computed.
template <class T>
void check_value(const T* value, Index rows, Index cols, Description operation) {
    if (detecting_anomalies())
        check_finite(value, rows, cols, "forward", [&] { return "the value of " + operation(); });
}

// Backward: the gradient one input (a leaf named by kind and shape) has just received.
// Shape-free, so that it is compiled once per scalar type, not once per operation.
template <class T>
void check_gradient(Description operation, const char* input_kind, const T* adjoint, Index rows, Index cols) {
    check_finite(adjoint, rows, cols, "backward", [&] {
        return "the gradient that " + operation() + " sends to " + describe_operand(input_kind, rows, cols);
    });
}

// Backward: the gradients an operation's step has just added into its inputs.
template <class... Leaves>
void check_gradients(Description operation, const Leaves&... inputs) {
    if (!detecting_anomalies()) return;
    const auto check = [&](const auto& leaf) {
        if (leaf.needs_grad()) check_gradient(operation, leaf.kind(), leaf.adjoint_data(), leaf.rows(), leaf.cols());
    };
    (inputs.for_each_leaf(check), ...);
}

}  // namespace detail
}  // namespace tapestry
