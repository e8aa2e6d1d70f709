#pragma once
// What a Tape records into: an arena of values and backward steps, an arena of
// adjoints, and the steps in the order they were recorded. The recording that is
// active on a thread is the one operations record onto; with none (plain inference,
// or inside InferenceMode) they record nothing.
//
// The user's handle is Tape (tapestry/tape.hpp), which adds backward(loss); everything
// below it (values, nodes, operations) needs only this.

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <type_traits>
#include <utility>
#include <vector>

#include "tapestry/core/errors.hpp"
#include "tapestry/core/immortal_pool.hpp"
#include "tapestry/core/shape.hpp"
#include "tapestry/tape/arena.hpp"

namespace tapestry::detail {

class TapeLife;

// The bits of a step's flag in a first-order sweep (Recording::sweep_backward), which runs
// the steps whose flag is not 0: the adjoint of the value it made holds a gradient, and a
// consumer handed the step a gradient of its own to send on (Node::
// take_one_entry_per_column). Set and read through graph/gradient.hpp.
inline constexpr unsigned char adjoint_written = 1, gradient_handed_off = 2;

// A consumer's gradient with respect to a value that is zero but for one entry per
// column (nll_loss's), offered to the step that made the value (Node::
// take_one_entry_per_column) before it is written into the value's adjoint.
struct OneEntryPerColumn {
    const void* value;     // the value's first element: the step compares it with its own
    Index rows, cols;      // the value's shape
    const TapeLife* life;  // where the sweep's flags are, and the value's position
    std::size_t position;
    const int* entry_rows;  // cols rows, the consumer's: alive until the tape is cleared
    const void* entries;    // cols values of the value's scalar type, alive for the call
};

// One recorded step: backward() adds its output's adjoint into its inputs' adjoints;
// tangent() writes its output's tangent from its inputs' (forward mode, on a recording
// made with tangents); backward_with_tangents() does what backward() does and adds the
// adjoint's tangent into its inputs' too (Hessian-vector products, on a recording made
// for second order).
struct Node {
    virtual void backward() = 0;
    virtual void tangent() = 0;
    virtual void backward_with_tangents() = 0;
    // A consumer's gradient offered in place of being written into the adjoint of the
    // value this step made. A step that can send it on to its inputs in closed form keeps
    // it for its own backward() and returns true (log_softmax down columns: then
    // w (softmax - onehot) in one pass, the fused cross-entropy's, where the adjoint would
    // be filled with zeros, summed and read again). Any other returns false, and the
    // consumer writes the adjoint as usual. First-order sweeps only (accept_hand_off in
    // graph/gradient.hpp).
    virtual bool take_one_entry_per_column(const OneEntryPerColumn& /*gradient*/) { return false; }
    virtual ~Node() = default;
};

// What tells a value whether the memory it points into is still its own, without a
// reference count: values are copied and dropped at every operation, and an atomic
// count on each copy weighed on every small node (docs/performance.md). A life is never
// freed: a recording takes one from a pool and gives it back when it dies, so a Var
// that outlives its tape can still read it. Its epoch only grows: a recording starts
// an epoch when it takes the life, on every clear(), and when it dies; a value records
// the epoch it was made in. Epochs before `first_epoch` (the current owner's first, or
// all of them while the life is in the pool) belonged to a recording that is gone.
// Atomic, because a value may be checked on a thread other than its tape's.
class TapeLife {
public:
    static TapeLife* acquire() {
        TapeLife* life = ImmortalPool<TapeLife>::take_or_make([] { return new TapeLife(); });
        life->first_epoch_.store(life->next_epoch(), std::memory_order_release);
        return life;
    }

    // The recording died. first_epoch is written before the epoch that makes values
    // fail their check, so that a thread that sees the new epoch also sees that the
    // recording was destroyed (not cleared). Only the owner writes the epoch.
    void retire() noexcept {
        const std::uint64_t next = epoch_.load(std::memory_order_relaxed) + 1;
        first_epoch_.store(next, std::memory_order_relaxed);
        epoch_.store(next, std::memory_order_release);
        ImmortalPool<TapeLife>::give_back(this);
    }
    struct Retire {
        void operator()(TapeLife* life) const noexcept { life->retire(); }
    };

    // clear(): what was recorded so far is gone.
    void start_epoch() { next_epoch(); }

    std::uint64_t epoch() const { return epoch_.load(std::memory_order_acquire); }

    // For a value made in `epoch`, which is not the current one: was its recording
    // destroyed (else it was cleared since)?
    bool destroyed_since(std::uint64_t epoch) const { return epoch < first_epoch_.load(std::memory_order_acquire); }

    // While a first-order backward sweep of the recording runs: one flag per step, whose
    // bits say that the adjoint of the value it made has been written in this sweep, and
    // that a consumer handed the step a gradient to send on (adjoint_written and
    // gradient_handed_off, above; set and read in graph/gradient.hpp). Else nullptr: the
    // adjoints were zeroed and every contribution adds. Read and written by the thread
    // that sweeps only.
    unsigned char* first_writes() const { return first_writes_; }
    void set_first_writes(unsigned char* flags) { first_writes_ = flags; }

private:
    TapeLife() = default;

    std::uint64_t next_epoch() { return epoch_.fetch_add(1, std::memory_order_acq_rel) + 1; }

    std::atomic<std::uint64_t> epoch_{0};
    std::atomic<std::uint64_t> first_epoch_{0};
    unsigned char* first_writes_ = nullptr;
};

class Recording;

// The scopes that decide a thread's active recording, innermost on top: a Tape's
// (its recording) or an InferenceMode's (none). A doubly linked list rather than a
// saved pointer per scope, so that scopes may end in any order: an outer Tape destroyed
// before an inner one, or a Tape destroyed inside an InferenceMode, unlinks only itself.
// Each scope holds its thread's list, so that it may also end on another thread (a Tape
// handed to a worker and destroyed there, even after its own thread ended): it unlinks
// itself from the list of the thread it was made on. Until then it stays that thread's
// active scope, and the unlinking edits that thread's list without a lock: the thread
// that made it must run no tapestry code while another thread destroys it (join it, or
// hand the Tape over once it is done with it). Only the thread's copy of its active
// recording, which the thread's exit clears, is written under a lock.
class ActiveScope {
public:
    explicit ActiveScope(Recording* recording) : recording_(recording), list_(this_thread_list()) {
        below_ = list_->top;
        if (below_ != nullptr) below_->above_ = this;
        list_->top = this;
        list_->publish();
    }
    ActiveScope(const ActiveScope&) = delete;
    ActiveScope& operator=(const ActiveScope&) = delete;
    ~ActiveScope() {
        if (above_ != nullptr)
            above_->below_ = below_;
        else
            list_->top = below_;
        if (below_ != nullptr) below_->above_ = above_;
        list_->publish();
    }

    // One load: every operation asks, some more than once (docs/performance.md).
    static Recording* active() { return active_on_this_thread; }

private:
    struct List {
        ActiveScope* top = nullptr;
        // The thread's copy of top's recording, while the thread lives. Locked: a Tape
        // handed over may be destroyed on another thread while its own thread exits.
        Recording** active = nullptr;
        std::mutex active_lock;
        void publish() {
            const std::lock_guard<std::mutex> lock(active_lock);
            if (active != nullptr) *active = top != nullptr ? top->recording_ : nullptr;
        }
    };
    // Made on a thread's first use; lives while that thread or any scope made on it does.
    struct ListOfThisThread {
        std::shared_ptr<List> list = std::make_shared<List>();
        ListOfThisThread() { list->active = &active_on_this_thread; }
        ~ListOfThisThread() {
            const std::lock_guard<std::mutex> lock(list->active_lock);
            list->active = nullptr;
            active_on_this_thread = nullptr;
        }
    };
    static const std::shared_ptr<List>& this_thread_list() {
        thread_local const ListOfThisThread holder;
        return holder.list;
    }
    // The active recording, kept by publish(); plain data, so that reading it is one
    // load, where reading through the list took four dependent ones.
    static inline thread_local constinit Recording* active_on_this_thread = nullptr;

    Recording* recording_;
    std::shared_ptr<List> list_;
    ActiveScope* below_ = nullptr;
    ActiveScope* above_ = nullptr;
};

class Recording {
public:
    Recording(const Recording&) = delete;
    Recording& operator=(const Recording&) = delete;

    // The recording operations on this thread record onto, or nullptr.
    static Recording* active() { return ActiveScope::active(); }

    template <class T>
    [[gnu::always_inline]] T* allocate_values(Index count) {
        return values_.allocate_array<T>(static_cast<std::size_t>(count));
    }

    // Adjoint buffers come from their own arena: a sweep with tangents zeroes all of
    // them in one pass (a first-order sweep zeroes none: see sweep_backward). On a
    // recording made with tangents, each adjoint of n values is followed by the value's
    // tangent, and on one made for second order then by the adjoint's tangent, so that
    // whoever knows a value's adjoint knows both (tangent_of, adjoint_tangent_of).
    template <class T>
    [[gnu::always_inline]] T* allocate_adjoints(Index count) {
        return adjoints_.allocate_array<T>(static_cast<std::size_t>(blocks_per_adjoint_ * count));
    }
    template <class T>
    static T* tangent_of(T* adjoint, Index count) {
        return adjoint + count;
    }
    template <class T>
    static T* adjoint_tangent_of(T* adjoint, Index count) {
        return adjoint + 2 * count;
    }

    // Records a step (a Node made in place from `args`). Returns its position on the tape.
    template <class N, class... Args>
    std::size_t record(Args&&... args) {
        void* where = values_.allocate_aligned<alignof(N)>(sizeof(N));
        return append(new (where) N(std::forward<Args>(args)...));
    }

    // Forward mode: does every value made on this recording carry a tangent, and what is
    // a Param's (its record's) tangent, or nullptr for zero.
    bool with_tangents() const { return blocks_per_adjoint_ >= 2; }
    // Second order: does every adjoint also carry its tangent (graph/second_order_form.hpp)?
    bool second_order() const { return blocks_per_adjoint_ >= 3; }
    const void* param_tangent(const void* param_record) const {
        const ParamDirection* known = find_param(param_record);
        return known != nullptr ? known->tangent : nullptr;
    }
    // Second order: where a Param's adjoint tangent (its slice of H v) is added, or nullptr.
    void* param_adjoint_tangent(const void* param_record) const {
        const ParamDirection* known = find_param(param_record);
        return known != nullptr ? known->adjoint_tangent : nullptr;
    }
    // Sets a Param's tangent (read by the next sweep) and, for second order, where its
    // adjoint's tangent goes (zeros, added into), by its record.
    void set_param_tangent(const void* param_record, const void* tangent, void* adjoint_tangent = nullptr) {
        for (ParamDirection& known : param_directions_)
            if (known.record == param_record) {
                known = {param_record, tangent, adjoint_tangent};
                return;
            }
        param_directions_.push_back({param_record, tangent, adjoint_tangent});
    }

    // Is this Param (its record) part of the derivative being taken? On a recording for
    // second order, a Param the recording was given no direction for is held fixed: no
    // gradient is sent to it (hvp and gnvp leave it alone).
    bool knows_param(const void* param_record) const { return find_param(param_record) != nullptr; }

    // Runs every step's tangent() in recording order, from `first` up to `position`.
    void sweep_tangents(std::size_t position, std::size_t first = 0) {
        if (!with_tangents()) throw_tape_error("forward mode: this recording was made without tangents");
        for (std::size_t i = first; i < position; ++i) nodes_[i]->tangent();
    }

    // Second order, forward over reverse. zero_adjoints() zeroes every adjoint with its
    // tangents; sweep_backward_with_tangents runs every step's backward_with_tangents()
    // from the one before `position` down to the one at `stop`.
    void zero_adjoints() { adjoints_.zero_used(); }
    void sweep_backward_with_tangents(std::size_t position, std::size_t stop = 0) {
        if (blocks_per_adjoint_ < 3) throw_tape_error("second order: this recording was made without it");
        for (std::size_t i = position; i-- > stop;) nodes_[i]->backward_with_tangents();
    }

    // hvp's sweeps: zero the adjoints, the tangent sweep up to the output, `seed` writes
    // the output's adjoint (and its tangent, if not zero), the reverse sweep.
    template <class Seed>
    void sweep_second_order(std::size_t output_position, Seed&& seed) {
        if (blocks_per_adjoint_ < 3) throw_tape_error("second order: this recording was made without it");
        zero_adjoints();
        sweep_tangents(output_position);
        seed();
        sweep_backward_with_tangents(output_position);
    }

    // Number of recorded backward steps.
    std::size_t size() const { return recorded_; }
    // The step at `index` (below size()).
    Node* step(std::size_t index) const { return nodes_[index]; }

    // Identifies this recording to the values made on it (none other holds this life).
    const TapeLife* life() const { return life_.get(); }

protected:
    Recording() : life_(TapeLife::acquire()) { scope_.emplace(this); }
    // 1: adjoints only; 2: each followed by its value's tangent (forward mode); 3: and by
    // the adjoint's tangent (second order).
    explicit Recording(int blocks_per_adjoint) : Recording() { blocks_per_adjoint_ = blocks_per_adjoint; }
    // A recording that is not active when made, but for each scope that activate()
    // returns: one reused across calls (functional/workspace.hpp) must not record what
    // the user computes between them.
    struct Dormant {};
    Recording(int blocks_per_adjoint, Dormant) : life_(TapeLife::acquire()) {
        blocks_per_adjoint_ = blocks_per_adjoint;
    }
    ~Recording() { destroy_nodes(); }

    // Makes this recording the thread's active one until the returned scope ends.
    [[nodiscard]] ActiveScope activate() { return ActiveScope(this); }
    // Forgets every Param's direction (set_param_tangent), keeping the memory.
    void forget_param_directions() { param_directions_.clear(); }

    // Lets `seed` write the output's adjoint (a value of this recording) and runs the
    // steps from the output's own position down to the first. No adjoint is zeroed: the
    // first contribution a value's adjoint receives in the sweep is written over it and
    // the later ones are added (first_write, graph/gradient.hpp), and a step whose
    // value's adjoint received none, and that was handed no gradient either
    // (Node::take_one_entry_per_column), is skipped, its gradient being zero. Its first (often
    // only) consumer thus writes a value's gradient in one pass, where zeroing it and
    // adding read and wrote it twice more. A second sweep gives the same contributions
    // again. On a recording with tangents every adjoint is zeroed first and every
    // contribution added, as the second-order sweep does.
    template <class Seed>
    void sweep_backward(std::size_t output_position, Seed&& seed) {
        const bool first_order = blocks_per_adjoint_ == 1;
        if (!first_order) adjoints_.zero_used();
        written_.assign(output_position, first_order ? 0 : 1);  // with tangents, every step runs
        const FirstWritesScope scope(*life_, first_order ? written_.data() : nullptr);
        seed();  // the one write of an adjoint not made through first_write: flagged here
        written_[output_position - 1] = adjoint_written;
        for (std::size_t i = output_position; i-- > 0;)
            if (written_[i] != 0) nodes_[i]->backward();
    }

    void clear() {
        destroy_nodes();
        values_.rewind();
        adjoints_.rewind();
        life_->start_epoch();
    }

    std::size_t values_bytes_used() const { return values_.bytes_used(); }
    std::size_t adjoints_bytes_used() const { return adjoints_.bytes_used(); }
    std::size_t bytes_reserved() const {
        return values_.bytes_reserved() + adjoints_.bytes_reserved() + nodes_.size() * sizeof(Node*) +
               written_.capacity();
    }

private:
    // Inlined but for the index's growth, whose one copy serves every kind of step: a
    // store and an increment, where std::vector::push_back, left out of line in a large
    // program, was a call per node (3% of a small node's time).
    [[gnu::always_inline]] std::size_t append(Node* node) {
        if (recorded_ == nodes_.size()) [[unlikely]]
            grow_nodes();
        nodes_[recorded_] = node;
        return ++recorded_;
    }
    [[gnu::noinline]] void grow_nodes() { nodes_.resize(std::max<std::size_t>(64, 2 * nodes_.size())); }

    struct ParamDirection {
        const void* record;
        const void* tangent;
        void* adjoint_tangent;
    };
    const ParamDirection* find_param(const void* param_record) const {
        for (const ParamDirection& known : param_directions_)
            if (known.record == param_record) return &known;
        return nullptr;
    }

    void destroy_nodes() {
        for (std::size_t i = recorded_; i-- > 0;) nodes_[i]->~Node();
        recorded_ = 0;
    }

    Arena values_;
    Arena adjoints_;
    // The flags of a first-order sweep, one per step (sweep_backward), found through the
    // recording's life, which every value and every sink made at record time already
    // holds: no thread-local to look up. Only the sweeping thread reads or sets them (a
    // step decides to write or add before it hands work to other threads).
    class FirstWritesScope {
    public:
        FirstWritesScope(TapeLife& life, unsigned char* flags) : life_(life) { life_.set_first_writes(flags); }
        ~FirstWritesScope() { life_.set_first_writes(nullptr); }
        FirstWritesScope(const FirstWritesScope&) = delete;
        FirstWritesScope& operator=(const FirstWritesScope&) = delete;

    private:
        TapeLife& life_;
    };
    std::vector<unsigned char> written_;

    std::vector<Node*> nodes_;  // the steps, nodes_[0, recorded_); its size is the room for them
    std::size_t recorded_ = 0;
    int blocks_per_adjoint_ = 1;
    std::vector<ParamDirection> param_directions_;
    // Retired after the scope has unlinked, and also if the scope's constructor throws.
    std::unique_ptr<TapeLife, TapeLife::Retire> life_;
    // Destroyed first, so that the recording is no longer active when its parts go; empty if Dormant.
    std::optional<ActiveScope> scope_;
};

}  // namespace tapestry::detail

namespace tapestry {

// A scope in which nothing is recorded, even if a tape is active: the same model
// code computes plain values (gradcheck uses it for its finite differences).
class InferenceMode {
public:
    InferenceMode() = default;
    InferenceMode(const InferenceMode&) = delete;
    InferenceMode& operator=(const InferenceMode&) = delete;

private:
    detail::ActiveScope scope_{nullptr};
};

}  // namespace tapestry
