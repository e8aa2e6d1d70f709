#pragma once
// The sums of each row or each column of an array, for row_sum and col_sum: Eigen's
// partial sums where a line is short, a cascade (kernels/cascade_sum.hpp) where it is
// long, so that a float line of a million elements keeps its digits (Eigen's chain of
// additions along it lost 1%).

#include <algorithm>
#include <bit>
#include <cstdint>

#include "tapestry/core/eigen.hpp"
#include "tapestry/core/shape.hpp"
#include "tapestry/kernels/cascade_sum.hpp"
#include "tapestry/kernels/parallel.hpp"
#include "tapestry/kernels/scratch.hpp"

namespace tapestry::detail {

// sums = the sum of each row of the column-major expression x (rows x cols). Up to 256
// columns, Eigen's row-wise sum (a chain of additions per row, vectorised across rows);
// beyond, blocks of 32 columns summed that way, and the blocks' sums added as a binary
// tree, in scratch lines of one per bit of the count of blocks. (With blocks up to 256
// columns a float row of ten million 0.1s read 2.3e-6 off; with 32, 1e-7.)
template <class X, class Sums>
void cascaded_sum_of_each_row(const X& x, Sums&& sums) {
    using T = typename X::Scalar;
    constexpr Index longest_chain = 256, block = 32;
    const Index rows = x.rows(), cols = x.cols();
    if (cols <= longest_chain) {
        sums = x.rowwise().sum();
        return;
    }
    ScratchScope scratch;
    const auto blocks = static_cast<std::uint64_t>((cols + block - 1) / block);
    T* const stack = scratch.take<T>(rows * static_cast<Index>(std::bit_width(blocks)));
    const auto line = [&](Index k) { return Eigen::Map<Eigen::Array<T, Dynamic, 1>>(stack + k * rows, rows); };
    Index depth = 0;
    std::uint64_t count = 0;
    for (Index first = 0; first < cols; first += block) {
        line(depth) = x.middleCols(first, std::min(block, cols - first)).rowwise().sum();
        for (std::uint64_t carries = ++count; (carries & 1) == 0; carries >>= 1) {  // two sums of 2^k blocks
            line(depth - 1) += line(depth);
            --depth;
        }
        ++depth;
    }
    for (Index k = depth - 1; k > 0; --k) line(k - 1) += line(k);  // the smaller sums first
    sums = line(0);
}

// sums = the sum of each row of x, a column-major Eigen array expression, cut among
// threads as parallel_assign cuts a column (by rows); a long row in a cascade (above).
template <class X, class Sums>
void parallel_sum_of_each_row(const X& x, Sums&& sums, double work) {
    write_elementwise(
        sums, x, [](auto&& s, const auto& piece) { cascaded_sum_of_each_row(piece, s); }, work);
}

// sums = the sum of each column of x, cut among threads by columns. A column longer than a
// block is summed as sum_of_elements sums, in a cascade; the columns of a transposed view
// (row-major) as the rows of its transpose, whose packets run along them.
template <class X, class Sums>
void parallel_sum_of_each_column(const X& x, Sums&& sums, double work) {
    write_elementwise(
        sums, x,
        [](auto&& s, const auto& piece) {
            if constexpr (bool(X::IsRowMajor))
                cascaded_sum_of_each_row(piece.transpose(), s.transpose());
            else if (piece.rows() <= cascade_block<typename X::Scalar>)
                s = piece.colwise().sum();
            else
                for (Index j = 0; j < piece.cols(); ++j) s(j) = sum_of_elements(piece.col(j));
        },
        work);
}

}  // namespace tapestry::detail
