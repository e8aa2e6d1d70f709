#pragma once
// DerivativeWorkspace<T>: what jvp, hvp and gnvp keep between calls, so that a call after
// the first allocates nothing when it records what the one before did (the same f on
// data of the same sizes): the tapes, emptied and refilled; the direction; the Params'
// gradients, kept while the sweeps use them; and the results, returned by reference.
//
//   DerivativeWorkspace<double> workspace;
//   for (int i = 0; i < cg_iterations; ++i) {
//       const GnvpResult<double>& Gv = gnvp(model, loss, params, p, workspace);  // valid until the next call
//       ...
//   }
//
// A workspace's tape is active only inside a call: what the program computes between
// calls records onto its own Tape, or nothing. Vars that f returned or made are gone
// once the next call starts (reading one throws tape_error, as after Tape::clear()).
// One call at a time: f must not use the workspace it is differentiated with (that
// throws tape_error). One workspace serves one thread at a time; it may be moved to
// another between calls.

#include <memory>
#include <string>

#include "tapestry/core/errors.hpp"
#include "tapestry/functional/results.hpp"
#include "tapestry/tape.hpp"

namespace tapestry {

namespace detail {

// A Tape that is active only for the scope begin() returns, and empty at its start.
class ReusableTape : public Tape {
public:
    struct ForForwardMode {};
    explicit ReusableTape(ForForwardMode) : Tape(2, Dormant{}) {}
    struct ForSecondOrder {};
    explicit ReusableTape(ForSecondOrder) : Tape(3, Dormant{}) {}

    [[nodiscard]] ActiveScope begin() { return activate_emptied(); }
};

struct WorkspaceAccess;

}  // namespace detail

template <class T>
class DerivativeWorkspace {
public:
    DerivativeWorkspace() = default;
    DerivativeWorkspace(const DerivativeWorkspace&) = delete;
    DerivativeWorkspace& operator=(const DerivativeWorkspace&) = delete;
    DerivativeWorkspace(DerivativeWorkspace&&) noexcept = default;
    DerivativeWorkspace& operator=(DerivativeWorkspace&&) noexcept = default;

    // Heap memory held for reuse, in bytes: the tapes' and the buffers'.
    std::size_t bytes() const {
        std::size_t total = 0;
        for (const auto* tape : {forward_tape_.get(), second_order_tape_.get()})
            if (tape != nullptr) total += tape->bytes();
        for (const auto* buffer : {&direction_, &kept_gradients_, &hvp_.gradient, &hvp_.product, &gnvp_.product})
            total += static_cast<std::size_t>(buffer->size()) * sizeof(T);
        for (const auto* buffer : {&jvp_.value, &jvp_.tangent, &curvature_})
            total += static_cast<std::size_t>(buffer->size()) * sizeof(T);
        return total;
    }

private:
    friend struct detail::WorkspaceAccess;
    using Vector = Eigen::Matrix<T, Eigen::Dynamic, 1>;

    // Made at their first use: a program that calls only jvp holds no second-order tape.
    std::unique_ptr<detail::ReusableTape> forward_tape_;
    std::unique_ptr<detail::ReusableTape> second_order_tape_;
    Vector direction_;                                            // v, contiguous, alive through the sweeps
    Vector kept_gradients_;                                       // the Params' gradients from before the call
    Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic> curvature_;  // gnvp's H J v at the model's output
    JvpResult<T> jvp_;
    HvpResult<T> hvp_;
    GnvpResult<T> gnvp_;
    bool in_use_ = false;  // a call has it (WorkspaceClaim)
};

namespace detail {

// jvp's, hvp's and gnvp's way into a workspace.
struct WorkspaceAccess {
    // A call's claim on the workspace: a second, nested one would overwrite the direction
    // and the tape the first is reading.
    template <class T>
    static void claim(DerivativeWorkspace<T>& w, const char* function) {
        if (w.in_use_)
            throw tape_error(std::string(function) +
                             ": its DerivativeWorkspace is in use by a call that has not returned: f must not use "
                             "the workspace it is differentiated with (give it one of its own)");
        w.in_use_ = true;
    }
    template <class T>
    static void release(DerivativeWorkspace<T>& w) {
        w.in_use_ = false;
    }

    template <class T>
    static ReusableTape& forward_tape(DerivativeWorkspace<T>& w) {
        if (!w.forward_tape_) w.forward_tape_ = std::make_unique<ReusableTape>(ReusableTape::ForForwardMode{});
        return *w.forward_tape_;
    }
    template <class T>
    static ReusableTape& second_order_tape(DerivativeWorkspace<T>& w) {
        if (!w.second_order_tape_)
            w.second_order_tape_ = std::make_unique<ReusableTape>(ReusableTape::ForSecondOrder{});
        return *w.second_order_tape_;
    }
    template <class T>
    static auto& direction(DerivativeWorkspace<T>& w) {
        return w.direction_;
    }
    template <class T>
    static auto& kept_gradients(DerivativeWorkspace<T>& w) {
        return w.kept_gradients_;
    }
    template <class T>
    static auto& curvature(DerivativeWorkspace<T>& w) {
        return w.curvature_;
    }
    template <class T>
    static JvpResult<T>& jvp(DerivativeWorkspace<T>& w) {
        return w.jvp_;
    }
    template <class T>
    static HvpResult<T>& hvp(DerivativeWorkspace<T>& w) {
        return w.hvp_;
    }
    template <class T>
    static GnvpResult<T>& gnvp(DerivativeWorkspace<T>& w) {
        return w.gnvp_;
    }
};

// Holds a workspace for one call (WorkspaceAccess::claim), until it returns or throws.
template <class T>
class WorkspaceClaim {
public:
    WorkspaceClaim(DerivativeWorkspace<T>& workspace, const char* function) : workspace_(workspace) {
        WorkspaceAccess::claim(workspace, function);
    }
    WorkspaceClaim(const WorkspaceClaim&) = delete;
    WorkspaceClaim& operator=(const WorkspaceClaim&) = delete;
    ~WorkspaceClaim() { WorkspaceAccess::release(workspace_); }

private:
    DerivativeWorkspace<T>& workspace_;
};

}  // namespace detail

}  // namespace tapestry
