#pragma once
// The node builder. Every node on the tape is made here: the root of a fused
// elementwise chain (graph/evaluate.hpp) and every operation that is not elementwise
// (ops/). An operation supplies its inputs, and an op struct that holds its forward and
// its backward side by side:
//
//   struct SideBySide {                                         // ops/concat.hpp: Join<true>
//       static constexpr const char* name = "concat_columns";    // for messages
//       void forward(const auto& out, const auto& a, const auto& b) const {  // writes out.value()
//           out.value().leftCols(a.cols()) = a.array();
//           out.value().rightCols(b.cols()) = b.array();
//       }
//       void backward(const auto& dy, const auto& /*y*/, const auto& a, const auto& b) const {
//           a.backprop(dy.leftCols(a.cols()));                    // each input's share of dy
//           b.backprop(dy.rightCols(b.cols()));
//       }
//   };
//   return make_node<Var<T, R, C>>(SideBySide{}, a.rows(), a.cols() + b.cols(), a, b);
//
// and the builder does the rest, once for every operation: it compiles the node for
// its inputs' kernel forms (expr/expression.hpp: layers of 1000 and 500 units share one
// compiled node), allocates the value (and its adjoint, if anything trainable is
// upstream) on the active tape or, without one, in memory the value owns, runs forward,
// checks the value in anomaly mode, and records a backward step that runs the op's
// backward and then checks the gradients it sent.
//
// - Inputs are expressions: leaves, or fused elementwise chains that forward reads as
//   one Eigen expression (x.array()) and backward reaches through x.backprop(g). An op
//   that reads an input more than once, or in backward, takes it through as_leaf()
//   (graph/evaluate.hpp), which stores a computed operand first. Other input types may
//   join if they answer what the builder asks: verify(), needs_grad(), describe(),
//   for_each_leaf(f) and kernel_form() (the matrix product's GemmOperand does).
// - forward(out, inputs...) writes out.value() (an Eigen array map of the result). What
//   backward needs it keeps in the op's own members (the op is recorded by value) or
//   in out.keep<U>(n): memory that lives on the tape until backward, or only until
//   forward returns when no backward step will be recorded.
// - backward(dy, y, inputs...) is const; dy is d(loss)/d(value) and y the value, both
//   Eigen array maps of the result's kernel shape.
// - tangent(out, y, inputs...) (forward mode) writes the output's tangent from the
//   inputs' tangent(); backward_with_tangents(dy, dy_tangent, y, y_tangent, inputs...)
//   (second order) sends dy as backward does and the adjoint's tangent too. An op whose
//   Jacobian is constant where it is differentiable says `piecewise_linear = true`
//   instead of the second; one whose forward is linear and keeps nothing says
//   `linear = true` instead of both (graph/leaf_views.hpp).
// - describe(inputs...), if the op has it, names the node in messages; by default
//   "name(input, input)".

#include <cstdint>
#include <new>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>

#include "tapestry/graph/second_order_form.hpp"
#include "tapestry/graph/value.hpp"
#include "tapestry/kernels/scratch.hpp"
#include "tapestry/tape/anomaly.hpp"
#include "tapestry/tape/value_cache.hpp"

namespace tapestry::detail {

// Where a node's forward keeps what its backward reads: the recording when a step will
// be recorded, else scratch, marked when this is made (so that it is given back last-in
// first-out with whatever forward takes itself) and given back when forward returns.
// Not a template, and the scratch paths not inlined: every node shares this code.
class KeptMemory {
public:
    explicit KeptMemory(Recording* recording) : recording_(recording) {
        if (recording == nullptr) mark_ = mark_scratch();
    }
    KeptMemory(const KeptMemory&) = delete;
    KeptMemory& operator=(const KeptMemory&) = delete;
    ~KeptMemory() {
        if (recording_ == nullptr) release_scratch(mark_);
    }

    [[gnu::noinline]] void* take(std::size_t bytes) {
        if (recording_ != nullptr) return recording_->allocate_values<std::byte>(static_cast<Index>(bytes));
        return ScratchStack::of_this_thread().take(bytes);
    }

private:
    [[gnu::noinline]] static ScratchStack::Mark mark_scratch() { return ScratchStack::of_this_thread().mark(); }
    [[gnu::noinline]] static void release_scratch(ScratchStack::Mark mark) {
        ScratchStack::of_this_thread().release(mark);
    }

    Recording* recording_;
    ScratchStack::Mark mark_{};
};

// What an op's forward writes into, and where it keeps what its backward will need.
template <class T, int R, int C>
class NodeOutput {
public:
    NodeOutput(T* value, Index rows, Index cols, Recording* recording)
        : value_(value), rows_(rows), cols_(cols), recording_(recording), kept_(recording) {}
    NodeOutput(const NodeOutput&) = delete;
    NodeOutput& operator=(const NodeOutput&) = delete;

    Eigen::Map<KernelArray<T, R, C>> value() const { return {value_, rows_, cols_}; }
    T* data() const { return value_; }
    Index rows() const { return rows_; }
    Index cols() const { return cols_; }

    // Will a backward step be recorded for this node?
    bool recording() const { return recording_ != nullptr; }

    // The step recorded just before value `v` was complete: the step that made it, if its
    // node recorded one, for an op whose backward may hand that step its gradient
    // (Node::take_one_entry_per_column, which compares `v`'s value and shape with its own,
    // so that another step declines). nullptr unless this node is recorded for a
    // first-order sweep and `v` is on the same recording.
    template <class U>
    Node* step_that_may_have_made(const ValueParts<U>& v) const {
        if (recording_ == nullptr || recording_->with_tangents() || v.life != recording_->life() || v.position == 0)
            return nullptr;
        return recording_->step(v.position - 1);
    }

    // Memory for `count` values of U that backward will read: on the tape when
    // recording, else scratch that lives until forward returns. Scratch is last-in
    // first-out: keep what you need before forward takes scratch of its own.
    template <class U>
    U* keep(Index count) const {
        return static_cast<U*>(kept_.take(sizeof(U) * static_cast<std::size_t>(count)));
    }

private:
    T* value_;
    Index rows_, cols_;
    Recording* recording_;
    mutable KeptMemory kept_;
};

// "name(first input, second input)", or what the op says of itself.
template <class Op, class... Inputs>
[[gnu::cold]] std::string describe_node(const Op& op, const Inputs&... inputs) {
    if constexpr (requires { op.describe(inputs...); }) {
        return op.describe(inputs...);
    } else {
        std::string text = std::string(Op::name) + "(";
        const char* separator = "";
        ((text += separator + inputs.describe(), separator = ", "), ...);
        return text + ")";
    }
}

// Fills every field of `parts` for a new value (its owner only where the value owns its
// memory; on a tape it stays empty): on the active recording when there is one (with an
// adjoint if `needs_grad`), else in memory the value owns. Returns where its numbers go.
template <class T, int R = Eigen::Dynamic, int C = Eigen::Dynamic>
[[gnu::always_inline]] inline T* allocate_value(ValueParts<T>& parts, Recording* recording, Index rows, Index cols,
                                                bool needs_grad, std::size_t position, const char* made_by) {
    const Index count = R != Eigen::Dynamic && C != Eigen::Dynamic ? Index{R} * C : rows * cols;  // fixed: known here
    // A size the address space cannot hold is refused before its bytes (three blocks of
    // them for a second-order adjoint) could wrap around to a small allocation.
    if (count > PTRDIFF_MAX / 8 / static_cast<Index>(sizeof(T))) [[unlikely]]
        throw std::bad_alloc();
    T* value;
    T* adjoint = nullptr;
    const TapeLife* life = nullptr;  // none: the value owns its memory
    std::uint64_t epoch = 0;
    if (recording == nullptr) {
        OwnedBuffer owned = ValueCache::take(sizeof(T) * static_cast<std::size_t>(count));
        value = static_cast<T*>(owned.data);
        parts.owner = std::move(owned.owner);
    } else {
        value = recording->allocate_values<T>(count);
        if (needs_grad) adjoint = recording->allocate_adjoints<T>(count);
        life = recording->life();
        epoch = life->epoch();
    }
    // Field by field: a brace-initialised ValueParts is zero-filled first (rep stos),
    // which showed in a small node's profile (docs/performance.md).
    parts.value = value;
    parts.adjoint = adjoint;
    parts.rows = rows;
    parts.cols = cols;
    parts.life = life;
    parts.epoch = epoch;
    parts.position = position;
    parts.made_by = made_by;
    return value;
}

// The name of the op that makes a value, for errors about it: the op's own, or for a
// fused chain its outermost elementwise operation's.
template <class Op, class... Inputs>
constexpr const char* op_name() {
    if constexpr (requires { Op::name; })
        return Op::name;
    else if constexpr (sizeof...(Inputs) == 1 && (requires { Inputs::op_name; } && ...))
        return (Inputs::op_name, ...);
    else
        return nullptr;
}

// Where an op's tangent rule writes its output's tangent: as NodeOutput, value() and data().
template <class T, int R, int C>
struct TangentOutput {
    T* tangent;
    Index rows_, cols_;
    Eigen::Map<KernelArray<T, R, C>> value() const { return {tangent, rows_, cols_}; }
    T* data() const { return tangent; }
    Index rows() const { return rows_; }
    Index cols() const { return cols_; }
};

// The step a node records: the op with its inputs, where its value and adjoint are.
// backward() checks the inputs are still there, runs the op's backward and checks the
// gradients it sent; tangent() runs the op's tangent rule, tangent(out, y, inputs...)
// writing the output's tangent (out.value(), as forward writes the value) from the
// inputs' tangent() (forward mode), or says that the op has none yet;
// backward_with_tangents() runs the op's backward_with_tangents(dy, dy_tangent, y,
// y_tangent, inputs...), which sends dy as backward does and the adjoint's tangent too
// (second order), or says that the op has none yet.
[[noreturn, gnu::cold, gnu::noinline]] inline void throw_no_tangent_rule(const std::string& node) {
    throw tape_error("forward mode: " + node + " has no tangent rule yet (jvp, hvp and gnvp need one)");
}
[[noreturn, gnu::cold, gnu::noinline]] inline void throw_no_second_order_rule(const std::string& node) {
    throw tape_error("second order (hvp): " + node + " has no second-order rule yet");
}
// A tape made for forward mode or second order by hand, in a program compiled without them.
[[noreturn, gnu::cold, gnu::noinline]] inline void throw_not_compiled(const char* what, const char* macro) {
    throw tape_error(std::string(what) + " is not compiled into this program: define " + macro +
                     " for every file of it (graph/second_order_form.hpp)");
}

template <class T, int R, int C, class Op, class... Inputs>
class OpNode final : public Node {
public:
    OpNode(const Op& op, T* value, T* adjoint, Index rows, Index cols, const Inputs&... inputs)
        : op_(op), value_(value), adjoint_(adjoint), rows_(rows), cols_(cols), inputs_(inputs...) {}

    void backward() override {
        std::apply(
            [&](const Inputs&... inputs) {
                (inputs.verify(), ...);  // a Param destroyed or resized since the forward step throws here
                const Eigen::Map<const KernelArray<T, R, C>> dy(adjoint_, rows_, cols_), y(value_, rows_, cols_);
                op_.backward(dy, y, inputs...);
                check_gradients([&] { return describe_node(op_, inputs...); }, inputs...);
            },
            inputs_);
    }

    bool take_one_entry_per_column(const OneEntryPerColumn& gradient) override {
        if constexpr (requires { op_.take_one_entry_per_column(gradient); }) {
            // another step's value, recorded just before; the shape is compared as a guard
            if (gradient.value != value_ || gradient.rows != rows_ || gradient.cols != cols_) return false;
            return op_.take_one_entry_per_column(gradient);
        } else {
            return false;
        }
    }

    void tangent() override {
        if constexpr (!forward_mode_compiled) {
            throw_not_compiled("forward mode", "TAPESTRY_FORWARD_MODE");
        } else {
            tangent_step();
        }
    }

    void backward_with_tangents() override {
        if constexpr (!second_order_compiled) {
            throw_not_compiled("second order", "TAPESTRY_SECOND_ORDER");
        } else {
            second_order_step();
        }
    }

private:
    void tangent_step() {
        std::apply(
            [&](const Inputs&... inputs) {
                (inputs.verify(), ...);
                const TangentOutput<T, R, C> dt{Recording::tangent_of(adjoint_, rows_ * cols_), rows_, cols_};
                const Eigen::Map<const KernelArray<T, R, C>> y(value_, rows_, cols_);
                if constexpr (requires { op_.tangent(dt, y, inputs...); })
                    op_.tangent(dt, y, inputs...);
                else if constexpr (LinearOp<Op> && (is_leaf_v<Inputs> && ...))
                    op_.forward(dt, tangent_view(inputs)...);  // a linear map's tangent is the map of the tangents
                else
                    throw_no_tangent_rule(describe_node(op_, inputs...));
            },
            inputs_);
    }

    void second_order_step() {
        std::apply(
            [&](const Inputs&... inputs) {
                (inputs.verify(), ...);
                const Index n = rows_ * cols_;
                using Map = Eigen::Map<const KernelArray<T, R, C>>;
                const Map dy(adjoint_, rows_, cols_), y(value_, rows_, cols_);
                const Map dy_tangent(Recording::adjoint_tangent_of(adjoint_, n), rows_, cols_);
                const Map y_tangent(Recording::tangent_of(adjoint_, n), rows_, cols_);
                // In this order, so that the op's rule is not even looked up for an input
                // whose second-order step is not compiled (graph/second_order_form.hpp).
                if constexpr (!(second_order_input_v<Inputs> && ...)) {
                    throw_no_second_order_rule(describe_node(op_, inputs...));
                } else if constexpr (requires {
                                         op_.backward_with_tangents(dy, dy_tangent, y, y_tangent, inputs...);
                                     }) {
                    op_.backward_with_tangents(dy, dy_tangent, y, y_tangent, inputs...);
                } else if constexpr (PiecewiseLinearOp<Op> && (is_leaf_v<Inputs> && ...)) {
                    // The Jacobian does not move: the adjoint's tangent goes down as the adjoint does.
                    op_.backward(dy, y, gradient_view(inputs)...);
                    op_.backward(dy_tangent, y, adjoint_tangent_view(inputs)...);
                } else {
                    throw_no_second_order_rule(describe_node(op_, inputs...));
                }
                check_gradients([&] { return describe_node(op_, inputs...); }, inputs...);
            },
            inputs_);
    }

    Op op_;
    T* value_;
    T* adjoint_;
    Index rows_, cols_;
    std::tuple<Inputs...> inputs_;
};

// The builder's work, compiled once per op and kernel form of its inputs and result.
template <class T, int R, int C, class Op, class... Inputs>
ValueParts<T> make_kernel_node(Op op, Index rows, Index cols, const Inputs&... inputs) {
    (inputs.verify(), ...);
    const bool needs_grad = (false || ... || inputs.needs_grad());
    Recording* const tape = Recording::active();
    Recording* const recording = needs_grad ? tape : nullptr;
    constexpr bool has_step = sizeof...(Inputs) > 0;  // a node without inputs (a constant) has no backward step
    // Where backward will start from this value: past its own step, if it records one.
    const std::size_t position = tape == nullptr ? 0 : tape->size() + (has_step && recording != nullptr ? 1 : 0);
    // The result is written where the caller wants it (returned by name), in full, before
    // forward runs. The caller copies it 16 bytes at a time as soon as this returns, and a
    // load that spans two 8-byte stores still in flight waits for both to reach the cache:
    // written last, or copied from a local at the return, it cost a stall per node
    // (docs/performance.md, "Issue 23: a stall per node and a one-word owner").
    ValueParts<T> result;
    T* const value = allocate_value<T, R, C>(result, tape, rows, cols, needs_grad, position, op_name<Op, Inputs...>());
    {
        const NodeOutput<T, R, C> out(value, rows, cols, recording);
        op.forward(out, inputs...);
    }
    check_value(value, rows, cols, [&] { return describe_node(op, inputs...); });

    if constexpr (has_step) {
        if (recording != nullptr)
            recording->record<OpNode<T, R, C, Op, Inputs...>>(op, value, result.adjoint, rows, cols, inputs...);
    }
    if (tape != nullptr && tape->size() != position) [[unlikely]]  // forward recorded steps of its own
        result.position = tape->size();
    return result;
}

// An input in its kernel form: itself when that is its own form (no copy of its leaves).
template <class Input>
decltype(auto) kernel_form_of(const Input& input) {
    if constexpr (std::is_same_v<decltype(input.kernel_form()), Input>)
        return input;
    else
        return input.kernel_form();
}

// The builder's entry, for a result of static shape R x C and run-time shape
// rows x cols: what a Var<T, R, C> is made of.
template <class T, int R, int C, class Op, class... Inputs>
ValueParts<T> make_node_parts(Op op, Index rows, Index cols, const Inputs&... inputs) {
    constexpr int KR = kernel_form_extent(R, C, R), KC = kernel_form_extent(R, C, C);
    if constexpr (second_order_compiled && !(second_order_input_v<Inputs> && ...)) {
        const Recording* recording = Recording::active();
        if (recording != nullptr && recording->second_order()) [[unlikely]]
            return make_kernel_node<T, KR, KC>(std::move(op), rows, cols, second_order_form(inputs).kernel_form()...);
    }
    return make_kernel_node<T, KR, KC>(std::move(op), rows, cols, kernel_form_of(inputs)...);
}

// The same, as the Var an operation returns. `Result` is a Var<T, R, C>, whose
// constructor from ValueParts is private to everything but this function.
template <class Result, class Op, class... Inputs>
Result make_node(Op op, Index rows, Index cols, const Inputs&... inputs) {
    return Result(make_node_parts<typename Result::Scalar, Result::rows_at_compile_time, Result::cols_at_compile_time>(
        std::move(op), rows, cols, inputs...));
}

}  // namespace tapestry::detail
