#pragma once
// Var: the handle to a computed value. With an active tape the value and its
// adjoint live in the tape's arena and the Var remembers which tape generation
// they belong to; without one (inference) the Var owns its value.

#include <cstdint>
#include <string>

#include "tapestry/core/eigen.hpp"
#include "tapestry/core/errors.hpp"
#include "tapestry/core/shared.hpp"
#include "tapestry/param.hpp"
#include "tapestry/tape/anomaly.hpp"
#include "tapestry/tape/tape.hpp"
#include "tapestry/tape/value_cache.hpp"

namespace tapestry {

template <class T, int Rows, int Cols>
class Var;

template <class X>
inline constexpr bool is_var_v = false;
template <class T, int R, int C>
inline constexpr bool is_var_v<Var<T, R, C>> = true;

namespace detail {
// What a Var can be made from: an expression, a Param, or a Var of another static shape.
template <class E, class V>
concept VarSource = requires { typename std::remove_cvref_t<E>::is_tapestry_expression; } ||
                    is_param_v<std::remove_cvref_t<E>> ||
                    (is_var_v<std::remove_cvref_t<E>> && !std::is_same_v<std::remove_cvref_t<E>, V>);

// What a Var is made of, whatever its static shape.
template <class T>
struct VarParts {
    const T* value;
    T* adjoint;  // nullptr: nothing trainable upstream, or not recorded
    Index rows, cols;
    Shared<TapeLife> life;  // empty: owned value (inference or constant)
    std::uint64_t epoch;
    std::size_t position;  // tape size after this Var's node: backward starts here
    Shared<const void> owner;  // keeps an owned value alive
};

// Var::verify(), compiled once rather than once per Var shape.
inline void verify_var(const void* value, const TapeLife* life, std::uint64_t epoch) {
    if (value == nullptr) throw_tape_error("this Var is empty: it was never assigned a value");
    if (life != nullptr && !life->alive) throw_tape_error("this Var was recorded on a tape that has been destroyed");
    if (life != nullptr && life->epoch != epoch)
        throw_tape_error("this Var was recorded on a tape that has been cleared since");
}

// What a Var read by an expression must also be: on the active tape, or on none.
inline void verify_var_operand(const void* value, const TapeLife* life, std::uint64_t epoch) {
    verify_var(value, life, epoch);
    const Tape* active = Tape::active();
    if (active != nullptr && life != nullptr && life->tape != active)
        throw_tape_error("this Var was recorded on another tape than the active one");
}

// Defined in expr/materialize.hpp.
template <class T, int Rows, int Cols, class E>
Var<T, Rows, Cols> var_from(E&& operand);
}  // namespace detail

template <class T, int Rows, int Cols>
class Var {
    static_assert(std::is_floating_point_v<T>, "Var<T, Rows, Cols>: T must be float or double");

public:
    using Scalar = T;
    static constexpr int rows_at_compile_time = Rows;
    static constexpr int cols_at_compile_time = Cols;

    // An empty Var, to be assigned later; reading it throws tape_error.
    Var() = default;

    // Evaluates any expression (one fused kernel, one tape node) into a Var. From
    // a Param, copies its value (with a node that passes the gradient on); from a
    // Var of another static shape, views the same value, checking the run-time extents.
    // Defined in expr/materialize.hpp.
    template <class E>
        requires detail::VarSource<E, Var>
    Var(E&& operand)  // NOLINT(google-explicit-constructor): `Var h = sigmoid(...)` is the point
        : Var(detail::var_from<T, Rows, Cols>(std::forward<E>(operand))) {}

    // The value, with the Var's compile-time shape. Throws tape_error if the
    // tape it was recorded on has been cleared or destroyed since.
    Eigen::Map<const Eigen::Matrix<T, Rows, Cols>> value() const {
        verify();
        return {parts_.value, parts_.rows, parts_.cols};
    }

    Index rows() const { return parts_.rows; }
    Index cols() const { return parts_.cols; }

    // Does the backward pass propagate into this Var (is anything trainable upstream)?
    bool requires_grad() const { return parts_.adjoint != nullptr; }

    // A view: h.transpose() in a product goes to the GEMM without a copy.
    auto transpose() const;

    // Throws tape_error unless the memory this Var points to is still its own.
    void verify() const { detail::verify_var(parts_.value, parts_.life.get(), parts_.epoch); }
    void verify_as_operand() const { detail::verify_var_operand(parts_.value, parts_.life.get(), parts_.epoch); }

    // ----- for operations (not part of the user-facing API) -----
    using Parts = detail::VarParts<T>;
    explicit Var(Parts p) : parts_(std::move(p)) {}

    const Parts& parts() const& { return parts_; }
    Parts parts() && { return std::move(parts_); }
    const T* value_data() const { return parts_.value; }
    T* adjoint_data() const { return parts_.adjoint; }
    const void* tape_identity() const { return parts_.life ? parts_.life->tape : nullptr; }
    std::size_t position() const { return parts_.position; }
    const detail::Shared<const void>& owner() const { return parts_.owner; }

private:
    // Held whatever the static shape, so that what does not depend on it is compiled once.
    Parts parts_{nullptr, nullptr, Rows == Dynamic ? 0 : Rows, Cols == Dynamic ? 0 : Cols, {}, 0, 0, {}};
};

namespace detail {

// A fresh Var for `rows x cols` values: in the active tape's arena when recording
// (with an adjoint if `needs_grad`), else in memory the Var owns.
template <class T, int R, int C>
struct NewValue {
    T* value;
    T* adjoint;
    Tape* tape;
    typename Var<T, R, C>::Parts parts;
};

template <class T, int R, int C>
NewValue<T, R, C> new_value(Index rows, Index cols, bool needs_grad) {
    Tape* tape = Tape::active();
    const Index n = rows * cols;
    if (tape == nullptr) {
        auto owned = ValueCache::take(sizeof(T) * static_cast<std::size_t>(n));
        T* data = static_cast<T*>(owned.get());
        return {data, nullptr, nullptr, {data, nullptr, rows, cols, nullptr, 0, 0, std::move(owned)}};
    }
    T* value = tape->allocate_values<T>(n);
    T* adjoint = needs_grad ? tape->allocate_adjoints<T>(n) : nullptr;
    return {value, adjoint, tape, {value, adjoint, rows, cols, tape->life(), tape->life()->epoch, 0, nullptr}};
}

// Finishes a Var made by new_value(): records its backward step, if it has one.
template <class T, int R, int C, class Step>
Var<T, R, C> finish_value(NewValue<T, R, C>& fresh, Step&& step) {
    if (fresh.tape != nullptr && fresh.adjoint != nullptr)
        fresh.parts.position = fresh.tape->record(std::forward<Step>(step));
    else if (fresh.tape != nullptr)
        fresh.parts.position = fresh.tape->size();
    return Var<T, R, C>(std::move(fresh.parts));
}

}  // namespace detail

// A leaf without gradient: the data, a target, anything the loss does not train.
// The matrix is copied (into the tape's arena when one is active), so a temporary is fine.
// Any Eigen matrix or array expression will do.
template <class Derived>
auto constant(const Eigen::DenseBase<Derived>& m) {
    using T = typename Derived::Scalar;
    constexpr int R = Derived::RowsAtCompileTime;
    constexpr int C = Derived::ColsAtCompileTime;
    auto fresh = detail::new_value<T, R, C>(m.rows(), m.cols(), false);
    Eigen::Map<detail::KernelArray<T, R, C>>(fresh.value, m.rows(), m.cols()) = m.derived().array();
    detail::check_value(fresh.value, m.rows(), m.cols(), [&] { return "constant " + to_string_shape(m.rows(), m.cols()); });
    return detail::finish_value(fresh, [] {});
}

// A constant that belongs to no tape: it owns its copy of m, and every tape reads it in
// place. For data that many gradients read (a regression's design matrix, a fixed
// target): constant(m) under an active tape copies m into that tape on every call.
template <class Derived>
auto shared_constant(const Eigen::DenseBase<Derived>& m) {
    InferenceMode outside_any_tape;
    return constant(m);
}

}  // namespace tapestry
