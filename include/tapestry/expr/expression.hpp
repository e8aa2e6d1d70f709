#pragma once
// The interface every lazy expression node implements. An expression computes
// nothing when built; it is evaluated as one Eigen array expression (one fused
// loop) where it is materialised, and it propagates an adjoint to its leaves by
// itself, recomputing cheap intermediates instead of storing them.
//
//   using Scalar; static constexpr int Rows, Cols;
//   Index rows() const, cols() const;       // run-time extents
//   auto array() const;                     // the value, as an unevaluated Eigen array expression
//   bool needs_grad() const;                // does any leaf take a gradient?
//   void verify() const;                    // throws tape_error if a leaf's tape memory is gone
//   void backprop(const G& g) const;        // adds g = d(loss)/d(this), of this shape, into the leaves
//   void backprop_given_value(const G& g, const Y& y);  // the same, given this node's value y, stored
//   std::string describe() const;           // e.g. "sigmoid(add(Var 128x64, Param 128x1))", for errors
//   void for_each_leaf(F f) const;          // f(leaf) for each leaf that takes a gradient (anomaly checks)
//   auto kernel_form() const;               // the same expression with large fixed extents Dynamic (below)

#include <concepts>
#include <string>
#include <type_traits>

#include "tapestry/core/shape.hpp"

namespace tapestry {

template <class Inner>
class TransposeExpr;

template <class Derived>
struct ExpressionBase {
    using is_tapestry_expression = void;

    // The value as an (unevaluated) Eigen matrix expression, as Eigen's own `auto` gives.
    auto value() const { return self().array().matrix(); }

    auto transpose() const { return TransposeExpr<Derived>(self()); }

    // The same expression, computing the same values, with every extent a loop does not
    // need at compile time (detail::kernel_form_extent) erased to Dynamic. Shapes are
    // checked when an expression is built; what is compiled after that (the fused loop,
    // the backward step) is compiled once per kernel form, so `sigmoid(W * h + b)` for
    // layers of 1000, 500 and 250 units is one function instead of three. A node
    // without fixed extents of its own is its own kernel form.
    Derived kernel_form() const { return self(); }

    // Most nodes gain nothing from knowing their value; unary ones override this.
    template <class G, class Y>
    void backprop_given_value(const G& g, const Y& /*value*/) const {
        self().backprop(g);
    }

private:
    const Derived& self() const { return static_cast<const Derived&>(*this); }
};

template <class E>
concept LazyExpression = requires { typename std::remove_cvref_t<E>::is_tapestry_expression; } &&
                         std::derived_from<std::remove_cvref_t<E>, ExpressionBase<std::remove_cvref_t<E>>>;

}  // namespace tapestry
