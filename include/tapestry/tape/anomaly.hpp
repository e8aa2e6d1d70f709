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

// Throws anomaly_error if any of the rows x cols values (column-major) is not finite.
// `what` is called only then: a description costs string building.
template <class T, class Describe>
void check_finite(const T* data, Index rows, Index cols, const char* pass, const Describe& what) {
    for (Index i = 0; i < rows * cols; ++i) {
        if (std::isfinite(data[i])) continue;
        throw anomaly_error("anomaly in the " + std::string(pass) + " pass: " + what() + " has " +
                            (std::isnan(data[i]) ? "NaN" : data[i] > 0 ? "+inf" : "-inf") + " at (" +
                            std::to_string(i % rows) + ", " + std::to_string(i / rows) + ") of its " +
                            to_string_shape(rows, cols));
    }
}

// Forward: the value an operation just computed.
template <class T, class Describe>
void check_value(const T* value, Index rows, Index cols, const Describe& operation) {
    if (detecting_anomalies()) check_finite(value, rows, cols, "forward", [&] { return "the value of " + operation(); });
}

// Backward: the gradients an operation's step has just added into its inputs.
template <class Describe, class... Leaves>
void check_gradients(const Describe& operation, const Leaves&... inputs) {
    if (!detecting_anomalies()) return;
    const auto check = [&](const auto& leaf) {
        if (!leaf.needs_grad()) return;
        check_finite(leaf.adjoint_data(), leaf.rows(), leaf.cols(), "backward",
                     [&] { return "the gradient that " + operation() + " sends to " + leaf.describe(); });
    };
    (inputs.for_each_leaf(check), ...);
}

}  // namespace detail
}  // namespace tapestry
