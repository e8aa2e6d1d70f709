// The benchmark's hand-written baseline is only a floor if it does the same work:
// after ten steps in double, its weights must equal tapestry's.

#include <cstdio>

#include "model_a.hpp"

int main() {
    const bench::ModelAData<double> data(16);
    bench::ModelATapestry<double> ours(data);
    bench::ModelAEigen<double> floor(data);
    for (int i = 0; i < 10; ++i) {
        const double a = ours.step(), b = floor.step();
        if (std::abs(a - b) > 1e-9 * std::abs(b)) {
            std::printf("step %d: loss %.17g (tapestry) vs %.17g (hand-written)\n", i, a, b);
            return 1;
        }
    }
    const double difference = (ours.W() - floor.W()).cwiseAbs().maxCoeff();
    std::printf("largest weight difference after 10 steps: %g\n", difference);
    return difference < 1e-12 ? 0 : 1;
}
