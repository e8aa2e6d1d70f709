// Concatenating side by side two operands with different fixed numbers of rows.
// expect: concat_columns_needs_operands_with_the_same_number_of_rows<.*Shape<3, 4>.*Shape<2, 4>
#include <tapestry/tapestry.hpp>
using namespace tapestry;
int main() {
    Param<float, 3, 4> A;
#ifdef TAPESTRY_CONTROL
    Param<float, 3, 4> B;
#else
    Param<float, 2, 4> B;
#endif
    auto joined = concat_columns(A, B);
    return static_cast<int>(joined.cols());
}
