#pragma once
// gather_columns(table, ids): the columns of `table` named by `ids`, in order (an
// embedding lookup: one embedding per column of the table, one example per id). A view:
// the expression that reads it reads the table's columns in place (no gathered copy),
// and its backward adds each column's gradient into the column it came from (a
// scatter-add), touching only those. An id outside the table throws index_error naming
// the id, its position and the table's size, before anything is recorded.

#include <algorithm>
#include <span>
#include <string>
#include <type_traits>
#include <utility>

#include "tapestry/core/errors.hpp"
#include "tapestry/expr/broadcast.hpp"
#include "tapestry/expr/expression.hpp"
#include "tapestry/graph/evaluate.hpp"
#include "tapestry/graph/leaf_views.hpp"
#include "tapestry/graph/node.hpp"
#include "tapestry/operand.hpp"
#include "tapestry/ops/class_labels.hpp"

namespace tapestry::detail {

// Element (i, j) of the gathered columns: element i of the table's column ids[j]. A
// packet is consecutive rows of one column, so only for a column-major result.
template <class T, bool ColumnMajor>
struct GatheredColumns {
    const T* table;
    Index rows;
    const int* ids;

    T operator()(Index i, Index j) const { return table[ids[j] * rows + i]; }
    template <class Packet>
    Packet packetOp(Index i, Index j) const {
        return Eigen::internal::ploadu<Packet>(table + ids[j] * rows + i);
    }
};

}  // namespace tapestry::detail

template <class T, bool ColumnMajor>
struct Eigen::internal::functor_traits<tapestry::detail::GatheredColumns<T, ColumnMajor>> {
    enum {
        Cost = 1,
        PacketAccess = ColumnMajor && tapestry::detail::whole_packets_only && packet_traits<T>::Vectorizable,
        IsRepeatable = true
    };
};

namespace tapestry {

// Table: a stored leaf (a Param's or a Var's), read in place.
template <class Table>
class GatherColumnsExpr : public ExpressionBase<GatherColumnsExpr<Table>>,
                          public detail::StoredLeavesView<GatherColumnsExpr<Table>> {
public:
    using Scalar = typename Table::Scalar;
    static constexpr int Rows = Table::Rows, Cols = Dynamic;
    static constexpr const char* op_name = "gather_columns";  // names a value stored from it

    // `ids` are stored with the gradient's other memory (on the tape, or owned without one).
    GatherColumnsExpr(Table table, detail::ValueParts<int> ids) : table_(std::move(table)), ids_(std::move(ids)) {}

    Index rows() const { return table_.rows(); }
    Index cols() const { return ids_.rows; }
    auto array() const {
        using Array = detail::KernelArray<Scalar, Rows, Cols>;
        using Columns = detail::GatheredColumns<Scalar, !Array::IsRowMajor>;
        return Array::NullaryExpr(rows(), cols(), Columns{table_.value_data(), table_.rows(), ids_.value});
    }
    bool needs_grad() const { return table_.needs_grad(); }
    void verify() const {
        table_.verify();
        detail::verify_value(ids_);
    }

    template <class G>
    void backprop(const G& g) const {
        if (!table_.needs_grad()) return;
        Eigen::Map<detail::KernelArray<Scalar, Rows, Dynamic>> gradient(table_.gradient_sink().memory_to_add_into(),
                                                                        table_.rows(), table_.cols());
        for (Index k = 0; k < cols(); ++k) gradient.col(ids_.value[k]) += g.col(k);
    }

    // The same columns of f(table) (graph/leaf_views.hpp).
    template <class F>
    auto with_leaves(F&& f) const {
        auto table = f(table_);
        return GatherColumnsExpr<decltype(table)>(std::move(table), ids_);
    }

    auto kernel_form() const { return GatherColumnsExpr<decltype(table_.kernel_form())>(table_.kernel_form(), ids_); }
    [[gnu::cold]] std::string describe() const {
        return "gather_columns(" + table_.describe() + ", " + std::to_string(cols()) + " ids)";
    }
    template <class F>
    void for_each_leaf(F&& f) const {
        table_.for_each_leaf(f);
    }

private:
    Table table_;
    detail::ValueParts<int> ids_;
};

template <Operand Table>
auto gather_columns(Table&& table, std::span<const int> ids) {
    const auto e = as_expression(std::forward<Table>(table));  // checked before it is evaluated
    for (std::size_t k = 0; k < ids.size(); ++k)
        if (ids[k] < 0 || ids[k] >= e.cols())
            throw index_error("gather_columns: id " + std::to_string(ids[k]) + " at position " + std::to_string(k) +
                              " is outside the table's " + std::to_string(e.cols()) + " columns (a " +
                              to_string_shape(e.rows(), e.cols()) + " table)");
    auto leaf = detail::as_leaf(e);
    // The ids are kept where the step's values are (the tape's arena): the backward step
    // reads them after the caller's span may be gone.
    const Index count = static_cast<Index>(ids.size());
    detail::ValueParts<int> kept;
    int* const kept_ids = detail::allocate_value<int>(kept, detail::Recording::active(), std::max<Index>(count, 1), 1,
                                                      false, 0, "gather_columns (its ids)");
    std::copy(ids.begin(), ids.end(), kept_ids);
    kept.rows = count;
    return GatherColumnsExpr<decltype(leaf)>(std::move(leaf), std::move(kept));
}

// Ids as any Eigen integer vector.
template <Operand Table, class Derived>
    requires std::is_same_v<typename Derived::Scalar, int>
auto gather_columns(Table&& table, const Eigen::DenseBase<Derived>& ids) {
    const auto contiguous = detail::contiguous_indices(ids);
    return gather_columns(std::forward<Table>(table), std::span<const int>(contiguous.data(), contiguous.size()));
}

}  // namespace tapestry
