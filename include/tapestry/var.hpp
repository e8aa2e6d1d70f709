#pragma once
// Var: the handle to a computed value. With an active tape the value and its
// adjoint live in the tape's arena and the Var remembers which tape generation
// they belong to; without one (inference) the Var owns its value.

#include <type_traits>
#include <utility>

#include "tapestry/core/diagnostics.hpp"
#include "tapestry/core/eigen.hpp"
#include "tapestry/core/errors.hpp"
#include "tapestry/expr/expression.hpp"
#include "tapestry/graph/evaluate.hpp"
#include "tapestry/graph/value.hpp"
#include "tapestry/param.hpp"

namespace tapestry {

template <class T, int Rows, int Cols>
class Var;

template <class X>
inline constexpr bool is_var_v = false;
template <class T, int R, int C>
inline constexpr bool is_var_v<Var<T, R, C>> = true;

namespace detail {
struct VarAccess;
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

    // Evaluates an expression: one fused kernel, one tape node.
    template <LazyExpression E>
    Var(const E& e)  // NOLINT(google-explicit-constructor): `Var h = sigmoid(...)` is the point
        : parts_(checked_parts(e)) {}

    // Copies a Param's value, with a node that passes the gradient on to it.
    template <class U, int R, int C>
    Var(const Param<U, R, C>& p)  // NOLINT(google-explicit-constructor)
        : parts_(checked_parts(detail::ParamAccess::leaf(p))) {}
    // A temporary Param would be gone before backward() writes its gradient.
    template <class U, int R, int C>
    Var(Param<U, R, C>&&) {  // NOLINT(google-explicit-constructor)
        diagnostic::report<
            diagnostic::a_temporary_param_cannot_be_used_in_an_expression_declare_it_as_a_variable<Param<U, R, C>>>();
    }

    // Views the same value as a Var of another static shape, checking the run-time extents.
    template <class U, int R, int C>
        requires(!std::is_same_v<U, T> || R != Rows || C != Cols)
    Var(const Var<U, R, C>& other)  // NOLINT(google-explicit-constructor)
        : parts_(checked_parts(other.leaf())) {}

    // The value, with the Var's compile-time shape. Throws tape_error if the
    // tape it was recorded on has been cleared or destroyed since.
    Eigen::Map<const Eigen::Matrix<T, Rows, Cols>> value() const {
        verify();
        return {parts_.value, parts_.rows, parts_.cols};
    }

    Index rows() const { return parts_.rows; }
    Index cols() const { return parts_.cols; }

    // The one number of a 1x1 Var (a loss): `loss.item()` or `static_cast<float>(loss)`.
    T item() const {
        if constexpr ((Rows != Dynamic && Rows != 1) || (Cols != Dynamic && Cols != 1)) {
            diagnostic::report<diagnostic::item_needs_a_1x1_var_not<Shape<Rows, Cols>>>();
            return T(0);
        } else {
            verify();
            if (parts_.rows != 1 || parts_.cols != 1)
                detail::throw_shape_error("item", parts_.rows, parts_.cols, 1, 1, "item() reads a 1x1 Var");
            return parts_.value[0];
        }
    }
    template <class U>
        requires std::is_arithmetic_v<U>
    explicit operator U() const {
        return static_cast<U>(item());
    }

    // Does the backward pass propagate into this Var (is anything trainable upstream)?
    bool requires_grad() const { return parts_.adjoint != nullptr; }

    // A view: h.transpose() in a product goes to the GEMM without a copy.
    auto transpose() const { return TransposeExpr<VarLeaf<T, Rows, Cols>>(leaf()); }

    // Throws tape_error unless the memory this Var points to is still its own.
    void verify() const { detail::verify_value(parts_); }

private:
    template <class, int, int>
    friend class Var;
    friend struct detail::VarAccess;
    template <class Result, class Op, class... Inputs>
    friend Result detail::make_node(Op, Index, Index, const Inputs&...);

    explicit Var(detail::ValueParts<T> parts) : parts_(std::move(parts)) {}

    // How expressions read this Var (checked to be on the active tape, or on none).
    VarLeaf<T, Rows, Cols> leaf() const { return VarLeaf<T, Rows, Cols>(parts_); }

    // The value of `e`, after the checks that assigning it to this Var needs: the scalar
    // type and a fixed shape at compile time (a diagnostic names both), Dynamic extents here.
    template <LazyExpression E>
    static detail::ValueParts<T> checked_parts(const E& e) {
        if constexpr (!std::is_same_v<typename E::Scalar, T>) {
            diagnostic::report<
                diagnostic::cannot_assign_expression_to_a_var_of_another_scalar_type<typename E::Scalar, T>>();
            return {};
        } else if constexpr (!shape_rules::agree(E::Rows, Rows) || !shape_rules::agree(E::Cols, Cols)) {
            diagnostic::report<diagnostic::cannot_assign_expression_to_a_var_of_another_shape<Shape<E::Rows, E::Cols>,
                                                                                              Shape<Rows, Cols>>>();
            return {};
        } else {
            if ((Rows != Dynamic && e.rows() != Rows) || (Cols != Dynamic && e.cols() != Cols))
                detail::throw_shape_error("assignment to Var", e.rows(), e.cols(), Rows == Dynamic ? e.rows() : Rows,
                                          Cols == Dynamic ? e.cols() : Cols,
                                          "the Var's fixed extents must match the expression's");
            return detail::evaluate_parts(e);
        }
    }

    // Held whatever the static shape, so that what does not depend on it is compiled once.
    detail::ValueParts<T> parts_{.value = nullptr,
                                 .adjoint = nullptr,
                                 .rows = Rows == Dynamic ? 0 : Rows,
                                 .cols = Cols == Dynamic ? 0 : Cols,
                                 .life = nullptr,
                                 .epoch = 0,
                                 .position = 0,
                                 .owner = {},
                                 .made_by = nullptr};
};

namespace detail {
// What the library reads of a Var beyond its public interface.
struct VarAccess {
    template <class T, int R, int C>
    static VarLeaf<T, R, C> leaf(const Var<T, R, C>& v) {
        return v.leaf();
    }
    template <class T, int R, int C>
    static const ValueParts<T>& parts(const Var<T, R, C>& v) {
        return v.parts_;
    }
    template <class T, int R, int C>
    static Var<T, R, C> make(ValueParts<T> parts) {
        return Var<T, R, C>(std::move(parts));
    }
};
}  // namespace detail

}  // namespace tapestry
