#pragma once
// concat_columns(a, b) = [a b], the columns of b after those of a (two batches as one);
// concat_rows(a, b) = [a; b], the rows of b below those of a (two feature sets as one).
// A view: the expression that reads it reads a and b in place (no joined copy), and its
// backward hands each operand its block of the gradient.

#include <string>
#include <type_traits>
#include <utility>

#include "tapestry/core/diagnostics.hpp"
#include "tapestry/core/errors.hpp"
#include "tapestry/expr/broadcast.hpp"
#include "tapestry/expr/expression.hpp"
#include "tapestry/graph/evaluate.hpp"
#include "tapestry/graph/leaf_views.hpp"
#include "tapestry/operand.hpp"

namespace tapestry {
namespace diagnostic {
template <class LeftShape, class RightShape>
struct concat_columns_needs_operands_with_the_same_number_of_rows;
template <class TopShape, class BottomShape>
struct concat_rows_needs_operands_with_the_same_number_of_columns;
}  // namespace diagnostic

namespace shape_rules {
// Along the joined axis the extents add up; across it they must agree.
template <int Joined1, int Across1, int Joined2, int Across2>
struct Concat {
    static constexpr bool ok = agree(Across1, Across2);
    static constexpr int joined = fixed(Joined1) && fixed(Joined2) ? Joined1 + Joined2 : Dynamic;
    static constexpr int across = merge(Across1, Across2);
};
}  // namespace shape_rules

namespace detail {

// Element (i, j) of [a b] (SideBySide) or [a; b], both stored column-major. A packet is
// consecutive rows of one column: for [a b] it lies in a or in b; for [a; b] one that
// straddles the seam is put together element by element.
template <class T, bool SideBySide, bool ColumnMajor>
struct JoinedValues {
    const T* a;
    const T* b;
    Index a_rows, a_cols, b_rows;

    T operator()(Index i, Index j) const {
        if constexpr (SideBySide)
            return j < a_cols ? a[j * a_rows + i] : b[(j - a_cols) * b_rows + i];
        else
            return i < a_rows ? a[j * a_rows + i] : b[j * b_rows + (i - a_rows)];
    }
    template <class Packet>
    Packet packetOp(Index i, Index j) const {
        constexpr Index n = Eigen::internal::unpacket_traits<Packet>::size;
        if constexpr (SideBySide) {
            return Eigen::internal::ploadu<Packet>(j < a_cols ? a + j * a_rows + i : b + (j - a_cols) * b_rows + i);
        } else {
            if (i + n <= a_rows) return Eigen::internal::ploadu<Packet>(a + j * a_rows + i);
            if (i >= a_rows) return Eigen::internal::ploadu<Packet>(b + j * b_rows + (i - a_rows));
            alignas(Packet) T seam[n];
            for (Index k = 0; k < n; ++k) seam[k] = (*this)(i + k, j);
            return Eigen::internal::pload<Packet>(seam);
        }
    }
};

}  // namespace detail
}  // namespace tapestry

template <class T, bool SideBySide, bool ColumnMajor>
struct Eigen::internal::functor_traits<tapestry::detail::JoinedValues<T, SideBySide, ColumnMajor>> {
    enum {
        Cost = 2,
        PacketAccess = ColumnMajor && tapestry::detail::whole_packets_only && packet_traits<T>::Vectorizable,
        IsRepeatable = true
    };
};

namespace tapestry {

// A and B: stored leaves (a Param's or a Var's), read in place.
template <bool SideBySide, class A, class B>
class ConcatExpr : public ExpressionBase<ConcatExpr<SideBySide, A, B>>,
                   public detail::StoredLeavesView<ConcatExpr<SideBySide, A, B>> {
    using Rule = shape_rules::Concat<SideBySide ? A::Cols : A::Rows, SideBySide ? A::Rows : A::Cols,
                                     SideBySide ? B::Cols : B::Rows, SideBySide ? B::Rows : B::Cols>;

public:
    using Scalar = typename A::Scalar;
    static constexpr int Rows = SideBySide ? Rule::across : Rule::joined;
    static constexpr int Cols = SideBySide ? Rule::joined : Rule::across;
    static constexpr const char* name = SideBySide ? "concat_columns" : "concat_rows";
    static constexpr const char* op_name = name;  // names a value stored from it

    ConcatExpr(A a, B b) : a_(std::move(a)), b_(std::move(b)) {}

    Index rows() const { return SideBySide ? a_.rows() : a_.rows() + b_.rows(); }
    Index cols() const { return SideBySide ? a_.cols() + b_.cols() : a_.cols(); }
    auto array() const {
        using Array = detail::KernelArray<Scalar, Rows, Cols>;
        using Joined = detail::JoinedValues<Scalar, SideBySide, !Array::IsRowMajor>;
        return Array::NullaryExpr(rows(), cols(),
                                  Joined{a_.value_data(), b_.value_data(), a_.rows(), a_.cols(), b_.rows()});
    }
    bool needs_grad() const { return a_.needs_grad() || b_.needs_grad(); }
    void verify() const {
        a_.verify();
        b_.verify();
    }

    template <class G>
    void backprop(const G& g) const {
        if constexpr (SideBySide) {
            if (a_.needs_grad()) a_.backprop(g.leftCols(a_.cols()));
            if (b_.needs_grad()) b_.backprop(g.rightCols(b_.cols()));
        } else {
            if (a_.needs_grad()) a_.backprop(g.topRows(a_.rows()));
            if (b_.needs_grad()) b_.backprop(g.bottomRows(b_.rows()));
        }
    }

    // The same concatenation of f(a) and f(b) (graph/leaf_views.hpp).
    template <class F>
    auto with_leaves(F&& f) const {
        auto a = f(a_);
        auto b = f(b_);
        return ConcatExpr<SideBySide, decltype(a), decltype(b)>(std::move(a), std::move(b));
    }

    auto kernel_form() const {
        return ConcatExpr<SideBySide, decltype(a_.kernel_form()), decltype(b_.kernel_form())>(a_.kernel_form(),
                                                                                              b_.kernel_form());
    }
    [[gnu::cold]] std::string describe() const {
        return std::string(name) + "(" + a_.describe() + ", " + b_.describe() + ")";
    }
    template <class F>
    void for_each_leaf(F&& f) const {
        a_.for_each_leaf(f);
        b_.for_each_leaf(f);
    }

private:
    A a_;
    B b_;
};

namespace detail {

template <bool SideBySide, class A, class B>
auto concat(A a, B b) {
    // Extents along the joined axis (columns side by side) and across it.
    constexpr int joined_a = SideBySide ? A::Cols : A::Rows, across_a = SideBySide ? A::Rows : A::Cols;
    constexpr int joined_b = SideBySide ? B::Cols : B::Rows, across_b = SideBySide ? B::Rows : B::Cols;
    using Rule = shape_rules::Concat<joined_a, across_a, joined_b, across_b>;
    using Result = ConcatExpr<SideBySide, decltype(as_leaf(a)), decltype(as_leaf(b))>;
    using Misuse = std::conditional_t<SideBySide,
                                      diagnostic::concat_columns_needs_operands_with_the_same_number_of_rows<
                                          Shape<A::Rows, A::Cols>, Shape<B::Rows, B::Cols>>,
                                      diagnostic::concat_rows_needs_operands_with_the_same_number_of_columns<
                                          Shape<A::Rows, A::Cols>, Shape<B::Rows, B::Cols>>>;
    if constexpr (!same_scalar<A, B>) {
        report_scalar_mismatch<A, B>();
        return Var<typename A::Scalar, Dynamic, Dynamic>();
    } else if constexpr (!Rule::ok) {
        diagnostic::report<Misuse>();
        return Var<typename A::Scalar, Dynamic, Dynamic>();
    } else {
        if (SideBySide ? a.rows() != b.rows() : a.cols() != b.cols())
            throw_shape_error(
                Result::name, a.rows(), a.cols(), b.rows(), b.cols(),
                SideBySide ? "both need the same number of rows" : "both need the same number of columns");
        auto stored_a = as_leaf(a);  // in this order: each may record a node
        auto stored_b = as_leaf(b);
        return Result(std::move(stored_a), std::move(stored_b));
    }
}

}  // namespace detail

template <Operand A, Operand B>
auto concat_columns(A&& left, B&& right) {
    return detail::concat<true>(as_expression(std::forward<A>(left)), as_expression(std::forward<B>(right)));
}

template <Operand A, Operand B>
auto concat_rows(A&& top, B&& bottom) {
    return detail::concat<false>(as_expression(std::forward<A>(top)), as_expression(std::forward<B>(bottom)));
}

}  // namespace tapestry
