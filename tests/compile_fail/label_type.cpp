// softmax_cross_entropy with class labels that are not ints.
// expect: softmax_cross_entropy_needs_int_class_labels_not<double>
#include <tapestry/tapestry.hpp>
#include <vector>
using namespace tapestry;
int main() {
    Param<float, 3, 4> logits;
#ifdef TAPESTRY_CONTROL
    const std::vector<int> labels{0, 2, 1, 1};
#else
    const std::vector<double> labels{0, 2, 1, 1};
#endif
    auto loss = softmax_cross_entropy(logits, labels);
    (void)loss;
}
