#pragma once
// The tape: an arena of values and adjoints, and the backward steps in the order
// they were recorded. Constructing a Tape makes it the active tape of this thread;
// operations on Params and Vars record onto the active tape, or onto nothing
// (plain inference) when there is none.

#include <cstdint>
#include <memory>
#include <type_traits>
#include <utility>
#include <vector>

#include "tapestry/core/errors.hpp"
#include "tapestry/core/shared.hpp"
#include "tapestry/tape/arena.hpp"

namespace tapestry {

class Tape;

template <class T, int Rows, int Cols>
class Var;

namespace detail {

// One recorded backward step: adds its output's adjoint into its inputs' adjoints.
struct Node {
    virtual void backward() = 0;
    virtual ~Node() = default;
};

template <class F>
struct ClosureNode final : Node {
    template <class G>
    explicit ClosureNode(G&& f) : step(std::forward<G>(f)) {}
    void backward() override { step(); }
    F step;
};

// Outlives its tape, so that a Var can tell whether the memory it points into is
// still its own: the tape bumps `epoch` on clear() and sets `alive` to false when it dies.
struct TapeLife {
    const void* tape;
    std::uint64_t epoch;
    bool alive;
};

inline thread_local Tape* active_tape = nullptr;

}  // namespace detail

class Tape {
public:
    Tape() : life_(std::make_shared<detail::TapeLife>(detail::TapeLife{this, 0, true})),
             previous_(detail::active_tape) {
        detail::active_tape = this;
    }

    Tape(const Tape&) = delete;
    Tape& operator=(const Tape&) = delete;

    ~Tape() {
        destroy_nodes();
        life_->alive = false;
        detail::active_tape = previous_;
    }

    // The tape that operations on this thread record onto, or nullptr (inference).
    static Tape* active() { return detail::active_tape; }

    // Adds d(loss)/d(param) into grad() of every Param the loss depends on.
    // Defined in tape/backward.hpp, where Var is complete.
    template <class L>
    void backward(L&& loss);

    // Drops every node and invalidates every Var recorded so far; keeps the memory.
    void clear() {
        destroy_nodes();
        values_.rewind();
        adjoints_.rewind();
        ++life_->epoch;
    }

    // Number of recorded backward steps.
    std::size_t size() const { return nodes_.size(); }

    // What the current recording occupies, in bytes: the values with the backward
    // steps' captured state (one arena), and the adjoints (the other).
    struct Usage {
        std::size_t values_and_steps;
        std::size_t adjoints;
    };
    Usage bytes_used() const { return {values_.bytes_used(), adjoints_.bytes_used()}; }

    // Heap memory the tape holds (arenas and node index), whether used or kept for reuse.
    std::size_t bytes() const {
        return values_.bytes_reserved() + adjoints_.bytes_reserved() +
               nodes_.capacity() * sizeof(detail::Node*);
    }

    // ----- for operations (not part of the user-facing API) -----

    template <class T>
    T* allocate_values(Index count) {
        return values_.allocate_array<T>(static_cast<std::size_t>(count));
    }

    // Adjoint buffers come from their own arena, so that backward() can zero all of
    // them in one pass instead of every operation zeroing its own.
    template <class T>
    T* allocate_adjoints(Index count) {
        return adjoints_.allocate_array<T>(static_cast<std::size_t>(count));
    }

    // Records `step` to run during backward(). Returns its position on the tape.
    template <class F>
    std::size_t record(F&& step) {
        using Closure = detail::ClosureNode<std::decay_t<F>>;
        void* where = values_.allocate(sizeof(Closure));
        static_assert(alignof(Closure) <= detail::Arena::alignment);
        return append(new (where) Closure(std::forward<F>(step)));
    }

    const detail::Shared<detail::TapeLife>& life() const { return life_; }

private:
    template <class T, int R, int C>
    void backward_from(const Var<T, R, C>& loss);

    // Not inlined into record(): one copy of the vector's growth path serves every kind of step.
    [[gnu::noinline]] std::size_t append(detail::Node* node) {
        nodes_.push_back(node);
        return nodes_.size();
    }

    void destroy_nodes() {
        for (auto it = nodes_.rbegin(); it != nodes_.rend(); ++it) (*it)->~Node();
        nodes_.clear();
    }

    detail::Arena values_;
    detail::Arena adjoints_;
    std::vector<detail::Node*> nodes_;
    detail::Shared<detail::TapeLife> life_;
    Tape* previous_;
};

// A scope in which nothing is recorded, even if a tape is active: the same model
// code computes plain values (used by gradcheck for its finite differences).
class InferenceMode {
public:
    InferenceMode() : saved_(detail::active_tape) { detail::active_tape = nullptr; }
    InferenceMode(const InferenceMode&) = delete;
    InferenceMode& operator=(const InferenceMode&) = delete;
    ~InferenceMode() { detail::active_tape = saved_; }

private:
    Tape* saved_;
};

}  // namespace tapestry
