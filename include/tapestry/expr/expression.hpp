#pragma once
// The interface every lazy expression node implements, and the transpose view that
// every expression offers. An expression computes nothing when built; where it is
// needed (graph/evaluate.hpp, or a node that consumes it) it is evaluated as one Eigen
// array expression, one fused loop, and it sends an adjoint to its leaves by itself,
// recomputing cheap intermediates instead of storing them. Nothing here knows where
// values live: the leaves that read Params and Vars are in graph/leaf.hpp.
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
//
// and for forward mode and second order, where every operand supports them:
//
//   auto tangent() const;                   // the value's tangent, as an Eigen array expression
//   bool has_tangent() const;               // false where the tangent is zero by construction
//   void backprop_with_tangents(const G& g, const Gt& gt) const;  // g as backprop(g) does, and g's
//                                           // tangent gt into the leaves' adjoint tangents

#include <concepts>
#include <string>
#include <type_traits>
#include <utility>

#include "tapestry/core/shape.hpp"

namespace tapestry {

template <class Derived>
struct ExpressionBase;

namespace detail {

// Forward mode: an operand's term of a tangent, or exactly zero where the operand has no
// tangent (a constant, a Param outside the direction). Not the term times zero: where
// the partial derivative is infinite (sqrt at 0), that is NaN. Reads `keep` per packet,
// a loop-invariant branch.
template <class T>
struct KeepIf {
    bool keep;
    T operator()(T term) const { return keep ? term : T(0); }
    template <class Packet>
    Packet packetOp(const Packet& term) const {
        return keep ? term : Eigen::internal::pzero(term);
    }
};

// Second order: the term an elementwise op adds to its operand's adjoint tangent,
// g f''(x) ẋ, is left out where it is zero by construction: for an op whose derivative
// is piecewise constant (add, relu, clamp) its curvature rule returns NoCurvature, and
// for an operand without a tangent the term is dropped by KeepIf (not computed as
// inf * 0 where f'' is infinite).
struct NoCurvature {};

template <class Base, class Term, class T>
auto plus_curvature(const Base& base, const Term& term, KeepIf<T> keep) {
    if constexpr (std::is_same_v<Term, NoCurvature>)
        return base;
    else
        return base + term.unaryExpr(keep);
}

// Does the expression carry an adjoint's tangent to its leaves (second order)?
template <class E>
concept SecondOrder = requires(const E& e, const Eigen::Array<typename E::Scalar, Eigen::Dynamic, Eigen::Dynamic>& g) {
    e.tangent();
    e.backprop_with_tangents(g, g);
};

}  // namespace detail

// x.transpose(): a view. Elementwise, it reads its operand transposed and sends the
// adjoint back transposed; a matrix product reads a transposed leaf in place, as a
// GEMM flag (ops/matrix_product.hpp).
template <class Inner>
class TransposeExpr : public ExpressionBase<TransposeExpr<Inner>> {
public:
    using Scalar = typename Inner::Scalar;
    static constexpr int Rows = Inner::Cols, Cols = Inner::Rows;

    explicit TransposeExpr(Inner inner) : inner_(std::move(inner)) {}

    Index rows() const { return inner_.cols(); }
    Index cols() const { return inner_.rows(); }
    auto array() const { return inner_.array().transpose(); }
    auto tangent() const
        requires requires(const Inner& x) { x.tangent(); }
    {
        return inner_.tangent().transpose();
    }
    bool has_tangent() const { return inner_.has_tangent(); }
    bool needs_grad() const { return inner_.needs_grad(); }
    void verify() const { inner_.verify(); }

    template <class G>
    void backprop(const G& g) const {
        inner_.backprop(g.transpose());
    }
    template <class G, class Gt>
        requires detail::SecondOrder<Inner>
    void backprop_with_tangents(const G& g, const Gt& gt) const {
        inner_.backprop_with_tangents(g.transpose(), gt.transpose());
    }

    const Inner& inner() const { return inner_; }

    auto kernel_form() const { return TransposeExpr<decltype(inner_.kernel_form())>(inner_.kernel_form()); }
    [[gnu::cold]] std::string describe() const { return inner_.describe() + ".transpose()"; }
    template <class F>
    void for_each_leaf(F&& f) const {
        inner_.for_each_leaf(f);
    }

private:
    Inner inner_;
};

namespace detail {
template <class E>
inline constexpr bool is_transpose_v = false;
template <class Inner>
inline constexpr bool is_transpose_v<TransposeExpr<Inner>> = true;
}  // namespace detail

template <class Derived>
struct ExpressionBase {
    using is_tapestry_expression = void;

    // The value, computed now (after checking that every leaf's memory is still its own)
    // into a plain matrix that owns its numbers: a lazy Eigen expression here would
    // outlive, through `auto`, the memory it reads.
    auto value() const {
        self().verify();
        using Plain = detail::KernelArray<typename Derived::Scalar, Derived::Rows, Derived::Cols>;
        return Plain(self().array()).matrix().eval();
    }

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

template <class T>
struct Eigen::internal::functor_traits<tapestry::detail::KeepIf<T>> {
    enum { Cost = 1, PacketAccess = packet_traits<T>::Vectorizable };
};
