#pragma once
// Which lines an operation works along: each column (an example, the default
// everywhere in tapestry) or each row (a feature across the batch).

namespace tapestry {

enum class Each { Column, Row };

}  // namespace tapestry
