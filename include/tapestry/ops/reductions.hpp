#pragma once
// Deprecated: this header moved (issue 17) and forwards to its new place until the next
// release. Include tapestry/tapestry.hpp, or the header named below.

#include "tapestry/ops/log_sum_exp.hpp"
#include "tapestry/ops/prod.hpp"
#include "tapestry/ops/sum.hpp"
