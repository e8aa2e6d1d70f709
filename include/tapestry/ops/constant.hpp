#pragma once
// constant(m): a leaf without gradient (the data, a target, anything the loss does not
// train); shared_constant(m), one that belongs to no tape; and constant_view(m), one that
// reads m where it is.

#include <string>
#include <type_traits>
#include <utility>

#include "tapestry/graph/node.hpp"
#include "tapestry/tape/recording.hpp"
#include "tapestry/var.hpp"

namespace tapestry {

namespace diagnostic {
template <class EigenType>
struct constant_view_reads_a_matrix_in_memory_not_a_temporary_or_an_expression_use_constant;
template <class EigenType>
struct constant_view_reads_a_column_major_matrix_not_a_row_major_one;
}  // namespace diagnostic

namespace ops {

// A copy of an Eigen matrix or array expression; a node without inputs, so with no backward step.
template <class Derived>
struct CopyOf {
    const Derived* source;
    void forward(const auto& out) const { out.value() = source->array(); }
    [[gnu::cold]] std::string describe() const { return "constant " + to_string_shape(source->rows(), source->cols()); }
};

}  // namespace ops

// The matrix is copied (into the tape's arena when one is active), so a temporary is
// fine. Any Eigen matrix or array expression will do.
template <class Derived>
auto constant(const Eigen::DenseBase<Derived>& m) {
    using Result = Var<typename Derived::Scalar, Derived::RowsAtCompileTime, Derived::ColsAtCompileTime>;
    return detail::make_node<Result>(ops::CopyOf<Derived>{&m.derived()}, m.rows(), m.cols());
}

// A constant that belongs to no tape: it owns its copy of m, and every tape reads it in
// place. For data that many gradients read (a regression's design matrix, a fixed
// target): constant(m) under an active tape copies m into that tape on every call.
template <class Derived>
auto shared_constant(const Eigen::DenseBase<Derived>& m) {
    InferenceMode outside_any_tape;
    return constant(m);
}

namespace detail {
template <class X>
inline constexpr bool is_eigen_ref_v = false;
template <class P, int Options, class Stride>
inline constexpr bool is_eigen_ref_v<Eigen::Ref<P, Options, Stride>> = true;

// A temporary constant_view cannot take: a matrix, which owns its values, or a Ref, which
// may hold a copy of an expression. (A temporary Map or block views memory that may live
// on: taken, and a block of a temporary matrix cannot be told from one of a live one.)
template <class X, class E = std::remove_cvref_t<X>>
concept TemporaryOwner =
    !std::is_lvalue_reference_v<X> && (std::is_base_of_v<Eigen::PlainObjectBase<E>, E> || is_eigen_ref_v<E>);
}  // namespace detail

// A constant that reads m where it is, on any tape: nothing is copied. For a batch of
// data read once per step, which constant(m) would copy into the tape on every step.
// m (a Matrix, an Array, a Map, a Ref, a block of whole columns or part of a column of
// one, or a row of a row-major one) must stay alive and unchanged until the Var's last
// use, the tape's backward() included (a product's gradient reads its constant operand
// there): nothing can check that it has. A Var's own values are not m's to view (the
// tape reuses them after clear()): detach(v) is that constant.
template <class Derived>
auto constant_view(const Eigen::DenseBase<Derived>& m) {
    using T = typename Derived::Scalar;
    using Result = Var<T, Derived::RowsAtCompileTime, Derived::ColsAtCompileTime>;
    if constexpr (!(Derived::Flags & Eigen::DirectAccessBit)) {
        diagnostic::report<
            diagnostic::constant_view_reads_a_matrix_in_memory_not_a_temporary_or_an_expression_use_constant<
                Derived>>();
        return Result();
    } else if constexpr (Derived::IsRowMajor && !Derived::IsVectorAtCompileTime) {
        diagnostic::report<diagnostic::constant_view_reads_a_column_major_matrix_not_a_row_major_one<Derived>>();
        return Result();
    } else {
        const auto& matrix = m.derived();
        // Stored as a value is, column after column with nothing between: not some rows of
        // a matrix, nor a row of a column-major one.
        if ((matrix.rows() > 1 && matrix.rowStride() != 1) ||
            (matrix.cols() > 1 && matrix.colStride() != matrix.rows()))
            throw value_error("constant_view: a view of " + to_string_shape(matrix.rows(), matrix.cols()) + " with " +
                              std::to_string(matrix.rowStride()) + " between its rows and " +
                              std::to_string(matrix.colStride()) +
                              " between its columns is not stored as one value; copy it with constant()");
        // An empty matrix may have no memory at all; a Var with a null value reads as unassigned.
        static constexpr T no_values{};
        const T* values = matrix.size() == 0 ? &no_values : matrix.data();
        detail::ValueParts<T> parts{.value = values,
                                    .adjoint = nullptr,
                                    .rows = matrix.rows(),
                                    .cols = matrix.cols(),
                                    .life = nullptr,
                                    .epoch = 0,
                                    .position = 0,
                                    .owner = {},
                                    .made_by = "constant_view"};
        return detail::VarAccess::make<T, Derived::RowsAtCompileTime, Derived::ColsAtCompileTime>(std::move(parts));
    }
}

// A temporary matrix (or Ref) would be gone before the tape's backward() reads it.
template <class Temporary, class Matrix = std::remove_cvref_t<Temporary>>
    requires detail::TemporaryOwner<Temporary>
auto constant_view(Temporary&&) {
    diagnostic::report<
        diagnostic::constant_view_reads_a_matrix_in_memory_not_a_temporary_or_an_expression_use_constant<Matrix>>();
    return Var<typename Matrix::Scalar, Matrix::RowsAtCompileTime, Matrix::ColsAtCompileTime>();
}

}  // namespace tapestry
