#pragma once
// Which lines an operation works along: each column (an example, the default
// everywhere in tapestry) or each row (a feature across the batch).

#include <utility>

namespace tapestry {

enum class Each { Column, Row };

namespace detail {

// f(arrays...) with each line a column: the arrays (Eigen expressions of one shape) as
// they are, or transposed. An operation along lines is then written once, for columns.
template <class F, class... Arrays>
void along_lines(Each each, F&& f, Arrays&&... arrays) {
    if (each == Each::Column)
        f(arrays...);
    else
        f(arrays.transpose()...);
}

}  // namespace detail
}  // namespace tapestry
