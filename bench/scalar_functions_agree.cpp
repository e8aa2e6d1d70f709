// The scalar suite's three versions of each function must compute the same thing:
// plain(), by_hand() and tapestry() give the same value, and adbench_f() the same up
// to the stated offset; the hand-coded gradient
// matches central differences of plain() (so the floor is right), and tapestry's
// gradient matches the hand-coded one.

#include <cmath>
#include <cstdio>
#include <random>

#include "scalar_functions.hpp"

namespace {

using namespace bench::scalar;

int failures = 0;

void expect(bool ok, const char* function, Index n, const char* what, double got, double want) {
    if (ok) return;
    ++failures;
    std::printf("FAILED %s (N = %ld): %s: %.17g, expected %.17g\n", function, static_cast<long>(n), what, got, want);
}

bool close(double a, double b, double tolerance) { return std::abs(a - b) <= tolerance * std::max(1.0, std::abs(b)); }

template <class F>
void check(Index n) {
    F f(n);
    const double value = f.plain();
    // ADBenchmark's f is this suite's f up to terms that do not depend on the data.
    expect(close(f.adbench_f(), value + f.adbench_offset(), 1e-12), F::name, n, "ADBenchmark's f", f.adbench_f(),
           value + f.adbench_offset());
    expect(close(f.by_hand(), value, 1e-12), F::name, n, "hand-coded value", f.by_hand(), value);
    const Vector hand = f.gradient;
    expect(close(f.tapestry(), value, 1e-12), F::name, n, "tapestry value", f.tapestry(), value);
    const Vector ours = f.tapestry_gradient();
    for (Index i = 0; i < hand.size(); ++i)
        expect(close(ours(i), hand(i), 1e-10), F::name, n, "tapestry gradient vs hand-coded", ours(i), hand(i));

    // Central differences of plain() at 20 random inputs (all of them when fewer).
    auto inputs = f.inputs();
    std::mt19937 rng(static_cast<unsigned>(n));
    std::uniform_int_distribution<std::size_t> pick(0, inputs.size() - 1);
    for (int k = 0; k < 20; ++k) {
        const std::size_t i = inputs.size() <= 20 ? static_cast<std::size_t>(k) % inputs.size() : pick(rng);
        double& x = *inputs[i];
        const double saved = x, h = 1e-4 * std::max(1.0, std::abs(saved));
        x = saved + h;
        const double up = f.plain();
        x = saved - h;
        const double down = f.plain();
        x = saved;
        const double numeric = (up - down) / (2 * h);
        // Rounding in f(x +- h) alone makes the difference quotient uncertain by ~eps |f| / h.
        const double rounding = 10 * 2.2e-16 * std::abs(value) / h;
        expect(std::abs(hand(static_cast<Index>(i)) - numeric) <= 1e-6 * std::max(1.0, std::abs(numeric)) + rounding,
               F::name, n, "hand-coded gradient vs central differences", hand(static_cast<Index>(i)), numeric);
    }
}

template <class F>
void check_sizes() {
    for (Index n : {16, 256, 16384}) check<F>(n);
}

}  // namespace

int main() {
    check_sizes<Sum>();
    check_sizes<Product>();
    check_sizes<LogSumExp>();
    check_sizes<NormalLogDensity>();
    check_sizes<MatrixProductSum>();
    check_sizes<LinearRegression>();
    check_sizes<StochasticVolatility>();
    if (failures == 0) std::printf("all scalar functions agree\n");
    return failures == 0 ? 0 : 1;
}
