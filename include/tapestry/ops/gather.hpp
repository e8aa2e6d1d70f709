#pragma once
// gather_columns(table, ids): the columns of `table` named by `ids`, in order (an
// embedding lookup: one embedding per column of the table, one example per id). Backward
// adds each column's gradient into the column it came from (a scatter-add), touching only
// those. An id outside the table throws index_error naming the id, its position and the
// table's size, before anything is recorded.

#include <span>
#include <string>
#include <type_traits>
#include <utility>

#include "tapestry/core/errors.hpp"
#include "tapestry/graph/evaluate.hpp"
#include "tapestry/graph/node.hpp"
#include "tapestry/operand.hpp"
#include "tapestry/ops/class_labels.hpp"

namespace tapestry {
namespace ops {

struct GatherColumns {
    static constexpr const char* name = "gather_columns";
    std::span<const int> ids;  // the caller's until forward keeps a copy for backward

    void forward(const auto& out, const auto& table) {
        int* kept = out.template keep<int>(static_cast<Index>(ids.size()));
        const auto columns = table.array();
        for (Index k = 0; k < static_cast<Index>(ids.size()); ++k) {
            kept[k] = ids[k];
            out.value().col(k) = columns.col(ids[k]);
        }
        ids = {kept, ids.size()};
    }
    template <class Table>
    void backward(const auto& dy, const auto&, const Table& table) const {
        if (!table.needs_grad()) return;
        using T = typename Table::Scalar;
        Eigen::Map<detail::KernelArray<T, Table::Rows, Dynamic>> gradient(table.gradient_sink().memory_to_add_into(),
                                                                          table.rows(), table.cols());
        for (Index k = 0; k < static_cast<Index>(ids.size()); ++k) gradient.col(ids[k]) += dy.col(k);
    }
};

}  // namespace ops

template <Operand Table>
auto gather_columns(Table&& table, std::span<const int> ids) {
    const auto e = as_expression(std::forward<Table>(table));  // checked before it is evaluated
    using E = decltype(e);
    for (std::size_t k = 0; k < ids.size(); ++k)
        if (ids[k] < 0 || ids[k] >= e.cols())
            throw index_error("gather_columns: id " + std::to_string(ids[k]) + " at position " + std::to_string(k) +
                              " is outside the table's " + std::to_string(e.cols()) + " columns (a " +
                              to_string_shape(e.rows(), e.cols()) + " table)");
    return detail::make_node<Var<typename E::Scalar, E::Rows, Dynamic>>(
        ops::GatherColumns{ids}, e.rows(), static_cast<Index>(ids.size()), detail::as_leaf(e));
}

// Ids as any Eigen integer vector.
template <Operand Table, class Derived>
    requires std::is_same_v<typename Derived::Scalar, int>
auto gather_columns(Table&& table, const Eigen::DenseBase<Derived>& ids) {
    const auto contiguous = detail::contiguous_indices(ids);
    return gather_columns(std::forward<Table>(table), std::span<const int>(contiguous.data(), contiguous.size()));
}

}  // namespace tapestry
