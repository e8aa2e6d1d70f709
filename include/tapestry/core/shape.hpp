#pragma once
// Extents in the type: a Shape<Rows, Cols> with Dynamic marking a run-time extent,
// and the rules that combine two shapes (product, elementwise with broadcasting).

#include <string>

#include "tapestry/core/eigen.hpp"

namespace tapestry {

using Index = Eigen::Index;

// Equal to Eigen::Dynamic so that shapes read the same in both libraries.
inline constexpr int Dynamic = Eigen::Dynamic;

// Appears in compile-time diagnostics, so that an error names both shapes.
template <int Rows, int Cols>
struct Shape {
    static constexpr int rows = Rows;
    static constexpr int cols = Cols;
};

// "128x784": a shape as messages print it (run-time extents).
inline std::string to_string_shape(Index rows, Index cols) { return std::to_string(rows) + "x" + std::to_string(cols); }

namespace detail {
// How messages name a leaf or a product's operand: "Param 128x784", "Var 784x64".
[[gnu::cold]] inline std::string describe_operand(const char* kind, Index rows, Index cols) {
    return kind + (" " + to_string_shape(rows, cols));
}
}  // namespace detail

namespace shape_rules {

constexpr bool fixed(int extent) { return extent != Dynamic; }

// Two extents agree unless both are fixed and differ; Dynamic ones are checked at run time.
constexpr bool agree(int a, int b) { return !fixed(a) || !fixed(b) || a == b; }

// The extent of a result whose two operands must agree: the fixed one wins.
constexpr int merge(int a, int b) { return fixed(a) ? a : b; }

// Broadcasting is decided by the type: an operand whose compile-time extent is 1
// along an axis where the other operand's is not 1 is repeated along that axis
// (a bias column Rx1 over the C columns of an RxC batch). Operands whose extents
// are Dynamic never broadcast implicitly; their shapes must be equal at run time.
constexpr bool repeats(int mine, int other) { return mine == 1 && other != 1; }

template <int R1, int C1, int R2, int C2>
struct Elementwise {
    static constexpr bool left_repeats_rows = repeats(R1, R2);  // 1xC on the left
    static constexpr bool left_repeats_cols = repeats(C1, C2);  // Rx1 on the left
    static constexpr bool right_repeats_rows = repeats(R2, R1);
    static constexpr bool right_repeats_cols = repeats(C2, C1);

    static constexpr bool rows_ok = left_repeats_rows || right_repeats_rows || agree(R1, R2);
    static constexpr bool cols_ok = left_repeats_cols || right_repeats_cols || agree(C1, C2);
    static constexpr bool ok = rows_ok && cols_ok;

    static constexpr int rows = left_repeats_rows ? R2 : right_repeats_rows ? R1 : merge(R1, R2);
    static constexpr int cols = left_repeats_cols ? C2 : right_repeats_cols ? C1 : merge(C1, C2);
};

}  // namespace shape_rules
namespace detail {
// The shape Eigen's loops are compiled for. A fixed extent pays off only for small
// matrices, whose loops Eigen unrolls; for larger ones it makes every layer width
// compile its own copy of the same loop. So kernels see fixed extents up to 16
// values and Dynamic beyond: layers of 1000, 500 and 250 rows share one fused loop.
constexpr int kernel_extent(int rows, int cols, int extent) {
    return (rows != Dynamic && cols != Dynamic && rows * cols <= 16) ? extent : Dynamic;
}
template <class T, int R, int C>
using KernelArray = Eigen::Array<T, kernel_extent(R, C, R), kernel_extent(R, C, C)>;

// The extent an expression keeps in its kernel form (ExpressionBase::kernel_form):
// the kernel's, except that an extent of 1 stays 1, because a broadcast needs to know
// which axis it repeats. KernelArray maps both forms to the same Eigen type.
constexpr int kernel_form_extent(int rows, int cols, int extent) {
    return extent == 1 ? 1 : kernel_extent(rows, cols, extent);
}
}  // namespace detail

}  // namespace tapestry
