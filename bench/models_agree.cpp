// The benchmark's hand-written baselines are only a floor if they do the same work:
// after ten steps in double, their weights must equal tapestry's, and so must their
// inference outputs, for both models.

#include <cstdio>

#include "model_a.hpp"
#include "model_b.hpp"

namespace {

template <class Ours, class Floor, class Data>
bool agree(const char* name, tapestry::Index batch) {
    const Data data(batch);
    Ours ours(data);
    Floor floor(data);
    for (int i = 0; i < 10; ++i) {
        const double a = ours.step(), b = floor.step();
        if (std::abs(a - b) > 1e-9 * std::abs(b)) {
            std::printf("%s, step %d: loss %.17g (tapestry) vs %.17g (hand-written)\n", name, i, a, b);
            return false;
        }
    }
    const double difference = (ours.W1() - floor.W1()).cwiseAbs().maxCoeff();
    const double inferred = std::abs(ours.infer() - floor.infer());
    std::printf("%s, batch %ld: largest difference in the first weight matrix after 10 steps: %g; in inference: %g\n",
                name, static_cast<long>(batch), difference, inferred);
    return difference < 1e-12 && inferred < 1e-12;
}

}  // namespace

int main() {
    using namespace bench;
    bool all = true;
    // A batch of one too: there the twins compute weight gradients as outer products.
    for (const tapestry::Index batch : {16, 1})
        all &= agree<ModelATapestry<double>, ModelAEigen<double>, ModelAData<double>>("Model A", batch);
    for (const tapestry::Index batch : {8, 1})
        all &= agree<ModelBTapestry<double>, ModelBEigen<double>, ModelBData<double>>("Model B", batch);
    return all ? 0 : 1;
}
