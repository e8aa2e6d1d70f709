#pragma once
// The matrix product C = op(A) op(B) (`a * b`), where op is the identity or a transpose
// view. A Param or Var operand (transposed or not) is read in place by Eigen's GEMM; any
// other expression is evaluated first. Backward is two GEMMs that add into the operands'
// gradients:
//   d op(A) += dC op(B)^T      d op(B) += op(A)^T dC
// written for the stored (untransposed) operands:
//   A stored as is:   dA += dC op(B)^T        A stored transposed:   dA += op(B) dC^T
//   B stored as is:   dB += op(A)^T dC        B stored transposed:   dB += dC^T op(A)
// unless dC is uniform (the product is only summed or averaged): then row and column
// sums do instead.

#include <algorithm>
#include <optional>
#include <string>
#include <utility>

#include "tapestry/core/diagnostics.hpp"
#include "tapestry/core/errors.hpp"
#include "tapestry/core/keep_alive.hpp"
#include "tapestry/core/shape.hpp"
#include "tapestry/graph/evaluate.hpp"
#include "tapestry/graph/gradient.hpp"
#include "tapestry/graph/node.hpp"
#include "tapestry/kernels/gemm.hpp"
#include "tapestry/kernels/zeros.hpp"
#include "tapestry/operand.hpp"

namespace tapestry {
namespace diagnostic {
template <class LeftShape, class RightShape>
struct matrix_product_of_incompatible_shapes_left_cols_must_equal_right_rows;
}  // namespace diagnostic

namespace shape_rules {
template <int R1, int C1, int R2, int C2>
struct MatrixProduct {
    static constexpr bool ok = agree(C1, R2);
    static constexpr int rows = R1;
    static constexpr int cols = C2;
};

template <int R1, int C1, int R2, int C2>
using Product [[deprecated("shape_rules::Product is shape_rules::MatrixProduct")]] = MatrixProduct<R1, C1, R2, C2>;
}  // namespace shape_rules

namespace detail {

// A product operand as the GEMM reads it: the stored matrix, where its gradient goes,
// and what keeps a value made without a tape alive. It carries no compile-time shape,
// so every product of one scalar type and transpose combination shares one node: a
// model with many layer shapes compiles the product four times per scalar type, not
// once per layer.
template <class T>
struct GemmOperand {
    const T* data;
    GradientSink<T> gradient;
    Index stored_rows, stored_cols;
    bool transposed;        // read as op(X) = X^T
    const char* leaf_kind;  // "Param" or "Var", for messages
    KeepAlive owner;
    std::optional<ParamSnapshot<T>> param;  // a Param's: checked before the backward step reads it
    T* value_adjoint = nullptr;             // a Var's adjoint, which its tangent follows (forward mode)

    // The input protocol of the node builder (graph/node.hpp). A Var's memory was checked
    // when the operand was made and is the tape's; a Param may have changed since.
    void verify() const {
        if (!param) return;
        if (const char* change = param->change()) [[unlikely]]
            ParamLeaf<T, Dynamic, Dynamic>::throw_param_changed(describe(), change);
    }
    bool needs_grad() const { return gradient.wanted(); }
    GemmOperand kernel_form() const { return *this; }
    [[gnu::cold]] std::string describe() const {
        return describe_operand(leaf_kind, stored_rows, stored_cols) + (transposed ? ".transpose()" : "");
    }
    // As a leaf, for the checks after a backward step (tape/anomaly.hpp).
    const char* kind() const { return leaf_kind; }
    Index rows() const { return stored_rows; }
    Index cols() const { return stored_cols; }
    template <class F>
    void for_each_leaf(F&& f) const {
        if (needs_grad()) f(*this);
    }
    const T* adjoint_data() const { return gradient.read(); }
    // Forward mode: the stored operand's tangent (as ParamLeaf's and VarLeaf's), or zeros.
    const T* tangent_data() const {
        const Index n = stored_rows * stored_cols;
        if (param) {
            const Recording* recording = Recording::active();
            const void* tangent = recording != nullptr ? recording->param_tangent(param->record) : nullptr;
            return tangent != nullptr ? static_cast<const T*>(tangent) : zeros<T>(n);
        }
        return value_adjoint != nullptr ? Recording::tangent_of(value_adjoint, n) : zeros<T>(n);
    }
    // Forward mode and second order: does the operand have a tangent (not zero by construction)?
    bool has_tangent() const {
        if (param) {
            const Recording* recording = Recording::active();
            return recording != nullptr && recording->param_tangent(param->record) != nullptr;
        }
        return value_adjoint != nullptr;
    }
    // Second order: a Param the recording has no direction for is held fixed (no gradient).
    bool held_fixed() const {
        const Recording* recording = Recording::active();
        return param && recording != nullptr && !recording->knows_param(param->record);
    }
    // Second order: where the operand's adjoint tangent goes (a Param's slice of H v, a
    // Var's adjoint tangent), or nowhere.
    GradientSink<T> adjoint_tangent_sink() const {
        if (param) {
            const Recording* recording = Recording::active();
            T* slot = recording != nullptr ? static_cast<T*>(recording->param_adjoint_tangent(param->record)) : nullptr;
            return slot != nullptr ? GradientSink<T>::into_buffer(slot) : GradientSink<T>::nowhere();
        }
        return value_adjoint != nullptr ? GradientSink<T>::into_buffer(
                                              Recording::adjoint_tangent_of(value_adjoint, stored_rows * stored_cols))
                                        : GradientSink<T>::nowhere();
    }
};

template <class T, int R, int C>
GemmOperand<T> gemm_operand(const ParamLeaf<T, R, C>& p, bool transposed) {
    return {p.value_data(), p.gradient_sink(), p.rows(), p.cols(), transposed, "Param", nullptr, p.snapshot()};
}

template <class T, int R, int C>
GemmOperand<T> gemm_operand(const VarLeaf<T, R, C>& v, bool transposed) {
    return {v.value_data(), v.gradient_sink(), v.rows(),     v.cols(),         transposed,
            "Var",          v.parts().owner,   std::nullopt, v.parts().adjoint};
}

// A leaf, or a transposed leaf, is read in place; anything else is evaluated first.
template <LazyExpression E>
constexpr bool is_transposed_leaf() {
    if constexpr (is_transpose_v<E>)
        return is_leaf_v<std::remove_cvref_t<decltype(std::declval<const E&>().inner())>>;
    else
        return false;
}

template <LazyExpression E>
auto gemm_operand_of(const E& e) {
    if constexpr (is_transposed_leaf<E>())
        return gemm_operand(e.inner(), true);
    else
        return gemm_operand(as_leaf(e), false);
}

// True when every one of the n values is zero.
template <class T>
bool is_zero(const T* values, Index n) {
    return std::all_of(values, values + n, [](T v) { return v == T(0); });
}

// True when every element of the n values equals the first (never for a NaN).
template <class T>
bool is_uniform(const T* values, Index n) {
    return n > 0 && std::all_of(values + 1, values + n, [first = values[0]](T v) { return v == first; });
}

// sums[i] = c * (sum of line i of m), where the lines are m's rows (along_rows) or
// columns. Not inlined: called twice per step, and two inlined copies of the
// vectorised loops cost compile time, not run time.
template <class T>
[[gnu::noinline]] void line_sums(T c, const GemmOperand<T>& m, bool along_rows, T* sums) {
    using Column = Eigen::Map<const Eigen::Matrix<T, Eigen::Dynamic, 1>>;
    if (along_rows) {
        std::fill_n(sums, m.rows(), T(0));
        for (Index j = 0; j < m.cols(); ++j)
            for (Index i = 0; i < m.rows(); ++i) sums[i] += m.data[i + j * m.rows()];
        std::for_each(sums, sums + m.rows(), [c](T& s) { s *= c; });
    } else {
        for (Index j = 0; j < m.cols(); ++j) sums[j] = c * Column(m.data + j * m.rows(), m.rows()).sum();
    }
}

// The backward step for dC = c 1 1^T, which is what a product receives when the loss
// only sums or averages it:
//   d op(A) += c 1 (op(B) 1)^T      d op(B) += c (op(A)^T 1) 1^T,
// row and column sums instead of two GEMMs (O(n^2) instead of O(n^3) for n x n
// operands). Plain loops over column-major storage with the transposes as run-time
// flags, compiled once per scalar type.
template <class T>
void add_uniform_product_gradient(T c, const GemmOperand<T>& lhs, const GemmOperand<T>& rhs) {
    // The sums go to the per-thread GEMM workspace: a backward step allocates nothing.
    const Index inner = lhs.transposed ? lhs.rows() : lhs.cols();
    T* sums = gemm_workspace<T>(static_cast<std::size_t>(inner));
    if (lhs.needs_grad()) {  // the row sums of op(B), added to every row of d op(A)
        line_sums(c, rhs, !rhs.transposed, sums);
        lhs.gradient.add_repeated(sums, lhs.transposed, lhs.rows(), lhs.cols());
    }
    if (rhs.needs_grad()) {  // the column sums of op(A), added to every column of d op(B)
        line_sums(c, lhs, lhs.transposed, sums);
        rhs.gradient.add_repeated(sums, !rhs.transposed, rhs.rows(), rhs.cols());
    }
}

}  // namespace detail

namespace ops {

// The node of a matrix product op(A) op(B): A and B read in place as GEMM operands,
// backward as at the top of this file.
template <bool TransposeA, bool TransposeB>
struct Gemm {
    static constexpr const char* name = "matrix product";

    template <class T>
    void forward(const auto& out, const detail::GemmOperand<T>& a, const detail::GemmOperand<T>& b) const {
        detail::gemm_overwrite<TransposeA, TransposeB>(T(1), a.data, a.rows(), a.cols(), b.data, b.rows(), b.cols(),
                                                       out.data());
    }

    // d op(A) op(B) = op(dA) op(B) + op(A) op(dB): two more GEMMs.
    template <class T>
    void tangent(const auto& out, const auto&, const detail::GemmOperand<T>& a, const detail::GemmOperand<T>& b) const {
        detail::gemm_overwrite<TransposeA, TransposeB>(T(1), a.tangent_data(), a.rows(), a.cols(), b.data, b.rows(),
                                                       b.cols(), out.data());
        detail::gemm_accumulate<TransposeA, TransposeB>(T(1), a.data, a.rows(), a.cols(), b.tangent_data(), b.rows(),
                                                        b.cols(), out.data());
    }

    template <class T>
    void backward(const auto& dy, const auto&, const detail::GemmOperand<T>& a, const detail::GemmOperand<T>& b) const {
        const T* dC = dy.data();
        const Index rows = dy.rows(), cols = dy.cols();
        if (detail::is_uniform(dC, rows * cols)) {
            detail::add_uniform_product_gradient(dC[0], a, b);
            return;
        }
        send(dC, rows, cols, a, a.data, a.gradient, b, b.data, b.gradient);
    }

    // Second order: the adjoint dC goes down as in backward; its tangent, by the product
    // rule, as dĊ op(B)ᵀ + dC op(Ḃ)ᵀ to A and op(A)ᵀ dĊ + op(Ȧ)ᵀ dC to B: up to four more
    // GEMMs, each left out where a factor is zero (an operand without a tangent, a dĊ
    // of zeros: gnvp's last sweep). A Param held fixed receives nothing.
    template <class T>
    void backward_with_tangents(const auto& dy, const auto& dy_tangent, const auto& y, const auto&,
                                const detail::GemmOperand<T>& a, const detail::GemmOperand<T>& b) const {
        const bool a_fixed = a.held_fixed(), b_fixed = b.held_fixed();
        if (a_fixed || b_fixed) {
            detail::GemmOperand<T> a_sent = a, b_sent = b;
            if (a_fixed) a_sent.gradient = detail::GradientSink<T>::nowhere();
            if (b_fixed) b_sent.gradient = detail::GradientSink<T>::nowhere();
            backward(dy, y, a_sent, b_sent);
        } else {
            backward(dy, y, a, b);
        }
        const Index rows = dy.rows(), cols = dy.cols();
        const auto nowhere = detail::GradientSink<T>::nowhere();
        const detail::GradientSink<T> a_sink = a.needs_grad() && !a_fixed ? a.adjoint_tangent_sink() : nowhere;
        const detail::GradientSink<T> b_sink = b.needs_grad() && !b_fixed ? b.adjoint_tangent_sink() : nowhere;
        if (!a_sink.wanted() && !b_sink.wanted()) return;
        if (!detail::is_zero(dy_tangent.data(), rows * cols))
            send(dy_tangent.data(), rows, cols, a, a.data, a_sink, b, b.data, b_sink);
        const T* a_tangent = a.has_tangent() ? a.tangent_data() : nullptr;
        const T* b_tangent = b.has_tangent() ? b.tangent_data() : nullptr;
        send(dy.data(), rows, cols, a, a_tangent, b_tangent != nullptr ? a_sink : nowhere, b, b_tangent,
             a_tangent != nullptr ? b_sink : nowhere);
    }

private:
    // dC op(B_values)ᵀ into a_sink and op(A_values)ᵀ dC into b_sink (each as op(X) reads
    // it), where the sinks want them.
    template <class T>
    static void send(const T* dC, Index rows, Index cols, const detail::GemmOperand<T>& a, const T* a_values,
                     const detail::GradientSink<T>& a_sink, const detail::GemmOperand<T>& b, const T* b_values,
                     const detail::GradientSink<T>& b_sink) {
        if (a_sink.wanted()) {
            if constexpr (TransposeA)
                a_sink.template add_product<TransposeB, true>(b_values, b.rows(), b.cols(), dC, rows, cols);
            else
                a_sink.template add_product<false, !TransposeB>(dC, rows, cols, b_values, b.rows(), b.cols());
        }
        if (b_sink.wanted()) {
            if constexpr (TransposeB)
                b_sink.template add_product<true, TransposeA>(dC, rows, cols, a_values, a.rows(), a.cols());
            else
                b_sink.template add_product<!TransposeA, false>(a_values, a.rows(), a.cols(), dC, rows, cols);
        }
    }
};

}  // namespace ops

template <LazyExpression A, LazyExpression B>
auto matrix_product(const A& a, const B& b) {
    using Rule = shape_rules::MatrixProduct<A::Rows, A::Cols, B::Rows, B::Cols>;
    using Result = Var<typename A::Scalar, Rule::rows, Rule::cols>;
    // After a compile-time diagnostic, an empty Var of the declared result type
    // keeps the compiler from adding errors of its own.
    if constexpr (!detail::same_scalar<A, B>) {
        detail::report_scalar_mismatch<A, B>();
        return Result();
    } else if constexpr (!Rule::ok) {
        diagnostic::report<diagnostic::matrix_product_of_incompatible_shapes_left_cols_must_equal_right_rows<
            Shape<A::Rows, A::Cols>, Shape<B::Rows, B::Cols>>>();
        return Result();
    } else {
        if (a.cols() != b.rows())
            detail::throw_shape_error("matrix product", a.rows(), a.cols(), b.rows(), b.cols(),
                                      "the left shape's columns must equal the right shape's rows");
        a.verify();
        b.verify();
        const auto lhs = detail::gemm_operand_of(a);  // in this order: each may record a node
        const auto rhs = detail::gemm_operand_of(b);
        using Op = ops::Gemm<detail::is_transposed_leaf<A>(), detail::is_transposed_leaf<B>()>;
        return detail::make_node<Result>(Op{}, a.rows(), b.cols(), lhs, rhs);
    }
}

template <Operand A, Operand B>
auto operator*(A&& a, B&& b) {
    return matrix_product(as_expression(std::forward<A>(a)), as_expression(std::forward<B>(b)));
}

}  // namespace tapestry
