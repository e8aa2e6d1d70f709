#pragma once
// DerivativeWorkspace<T>: what jvp, hvp and gnvp keep between calls, so that a call
// allocates nothing when it records what that function's previous call on the workspace
// recorded (the same f on data of the same sizes, on the same thread, f allocating
// nothing itself): the tapes, emptied and refilled; the direction; the Params' gradients,
// kept while the sweeps use them; and the results, returned by reference.
//
//   DerivativeWorkspace<double> workspace;
//   for (int i = 0; i < cg_iterations; ++i) {
//       const GnvpResult<double>& Gv = gnvp(model, loss, params, p, workspace);
//       ...
//   }
//
// Each function has its result in the workspace, overwritten when that function's next
// call on it starts (so also while its f runs, and if that call throws): bind it by
// reference, or copy what must outlive the next call. jvp records on a tape of its own,
// hvp and gnvp share one; a tape is active only inside a call, so what the program
// computes between calls records onto its own Tape, or nothing. A Var that f made is
// gone when the next call on its tape starts (reading it throws tape_error, as after
// Tape::clear()); until then the tape keeps the last call's steps and values, and what
// they hold alive, and its memory, for as long as the workspace lives.
//
// One call at a time: f must not use the workspace it is differentiated with, nor may
// another thread use it meanwhile, nor may it be moved during a call (each throws
// tape_error). It may be moved, or handed to another thread, between calls.

#include <atomic>
#include <memory>
#include <string>

#include "tapestry/core/errors.hpp"
#include "tapestry/functional/flat_params.hpp"
#include "tapestry/functional/results.hpp"
#include "tapestry/operand.hpp"
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
    // Between calls only: the tapes move with the workspace, and Vars made on them stay valid.
    DerivativeWorkspace(DerivativeWorkspace&& other) : DerivativeWorkspace() { take(other); }
    DerivativeWorkspace& operator=(DerivativeWorkspace&& other) {
        if (this != &other) take(other);
        return *this;
    }

private:
    friend struct detail::WorkspaceAccess;
    using Vector = Eigen::Matrix<T, Eigen::Dynamic, 1>;

    void take(DerivativeWorkspace& other) {
        if (in_use_.load() || other.in_use_.load())
            throw tape_error("DerivativeWorkspace: moved while a call on it has not returned");
        forward_tape_ = std::move(other.forward_tape_);
        second_order_tape_ = std::move(other.second_order_tape_);
        direction_ = std::move(other.direction_);
        kept_gradients_ = std::move(other.kept_gradients_);
        curvature_ = std::move(other.curvature_);
        jvp_ = std::move(other.jvp_);
        hvp_ = std::move(other.hvp_);
        gnvp_ = std::move(other.gnvp_);
    }

    // Made at their first use: a program that calls only jvp holds no second-order tape.
    std::unique_ptr<detail::ReusableTape> forward_tape_;
    std::unique_ptr<detail::ReusableTape> second_order_tape_;
    Vector direction_;                                            // v, contiguous, alive through the sweeps
    Vector kept_gradients_;                                       // the Params' gradients from before the call
    Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic> curvature_;  // gnvp's H J v at the model's output
    JvpResult<T> jvp_;
    HvpResult<T> hvp_;
    GnvpResult<T> gnvp_;
    std::atomic<bool> in_use_{false};  // a call holds it (WorkspaceClaim); atomic, to catch a second thread
};

namespace detail {

// jvp's, hvp's and gnvp's way into a workspace.
struct WorkspaceAccess {
    // A call's claim on the workspace: a second one, nested or on another thread, would
    // overwrite the direction and the tape the first is reading.
    template <class T>
    static void claim(DerivativeWorkspace<T>& w, const char* function) {
        if (w.in_use_.exchange(true))
            throw tape_error(std::string(function) +
                             ": its DerivativeWorkspace is in use by a call that has not returned (f must not use "
                             "the workspace it is differentiated with, nor another thread meanwhile)");
    }
    template <class T>
    static void release(DerivativeWorkspace<T>& w) {
        w.in_use_.store(false);
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

// Records f on `tape` (a workspace's, emptied and made active for the call), with
// `direction` as the Params' tangents and `product` (if not null) where their adjoints'
// tangents go, and runs `sweep(recording, value)` on f's value. Params outside the set
// have no direction: forward mode reads a zero tangent for them, second order holds them
// fixed. jvp, hvp and gnvp share it.
template <class T, class F, class Sweep>
void record_with_directions(const char* function, ReusableTape& tape, F&& f, const nn::ParamSet<T>& params,
                            const T* direction, T* product, Sweep&& sweep) {
    const ActiveScope active = tape.begin();
    Recording& recording = *Recording::active();
    for_each_segment(params, [&](const auto& p, Index offset, Index) {
        recording.set_param_tangent(p.identity(), direction + offset, product != nullptr ? product + offset : nullptr);
    });
    const auto output = evaluate(f());
    const ValueParts<typename decltype(output)::Scalar>& parts = VarAccess::parts(output);
    // The Params' directions are found through the active recording: f must leave it active.
    if (Recording::active() != &recording || (parts.life != nullptr && parts.life != recording.life()))
        throw tape_error(std::string(function) + ": f must record on " + function +
                         "'s own tape, but it left another Tape or an InferenceMode active");
    sweep(recording, output);
}

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
