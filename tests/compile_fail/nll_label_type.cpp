// nll_loss with class labels that are not ints.
// expect: nll_loss_needs_int_class_labels_not<float>
#include <tapestry/tapestry.hpp>
#include <vector>
using namespace tapestry;
int main() {
    Param<float, 3, 4> logits;
#ifdef TAPESTRY_CONTROL
    const std::vector<int> labels{0, 2, 1, 1};
#else
    const std::vector<float> labels{0, 2, 1, 1};
#endif
    auto loss = nll_loss(log_softmax(logits), labels);
    (void)loss;
}
