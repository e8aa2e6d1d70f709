// g++ 12.2 miscompiles Eigen 3.4's select at -O3 with AVX or later (tapestry's
// docs/reliability.md): a small fixed-size array beside a Dynamic one, vectorised by
// groups of lanes and unrolled, where every group's masked loads take the first group's
// mask. Prints each element that differs from the plain loop, and exits 1 if any does.
//   g++ -std=c++17 -O3 -mavx2 -isystem /usr/include/eigen3 scripts/gcc12_select_miscompile.cpp && ./a.out
// Wrong with g++ 12.2 (Debian 12) at -O3 with -mavx, -mavx2 or -march=native; right at
// -O2, without -march, with -fno-tree-loop-vectorize, and with clang++ 14.
#include <Eigen/Core>
#include <cstdio>

using Fixed = Eigen::Array<double, 3, 4>;
using Any = Eigen::Array<double, Eigen::Dynamic, Eigen::Dynamic>;

// g where -1 <= p q <= 1, else 0, times q: clamp(p q, -1, 1)'s gradient with respect to p.
__attribute__((noinline)) void clamp_gradient(const double* p, const double* q, const double* g, double* out) {
    const Eigen::Map<const Fixed> P(p), G(g);
    const Eigen::Map<const Any> Q(q, 3, 4);
    Eigen::Map<Fixed> O(out);
    const auto x = P * Q;
    O += (x >= -1.0 && x <= 1.0).select(G, 0.0) * Q;
}

int main() {
    double p[12], q[12], g[12], out[12] = {};
    for (int i = 0; i < 12; ++i) {
        p[i] = (i * 7 % 5) - 1.0 + 0.3 * (i % 3);
        q[i] = 1.0 + 0.01 * i;
        g[i] = 1.0 + i;
    }
    clamp_gradient(p, q, g, out);
    int wrong = 0;
    for (int i = 0; i < 12; ++i) {
        const double x = p[i] * q[i], expected = (x >= -1 && x <= 1) ? g[i] * q[i] : 0.0;
        if (out[i] != expected) {
            ++wrong;
            std::printf("element %d: %g, expected %g\n", i, out[i], expected);
        }
    }
    std::printf("%d of 12 elements wrong\n", wrong);
    return wrong == 0 ? 0 : 1;
}
