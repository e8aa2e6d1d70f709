#pragma once
// The scalar-function suite AD libraries are compared on (Stan Math's and FastAD's
// benchmarks): f maps many values to one, and a gradient is f's value together with
// df/d(every input). Each function is written three times, on the same data:
//   plain()     f alone, in double, as a user would write it in Eigen;
//   adbench_f() f alone, in double, written exactly as ADBenchmark's functor writes it
//               (github.com/JamesYang007/ADBenchmark, benchmark/functor/*.hpp), on this
//               suite's data: the unit of cost in which FastAD's figures are published.
//               It may differ from plain() by terms that do not depend on the data
//               (constants, priors); adbench_offset() gives the difference, which
//               scalar_functions_agree checks;
//   by_hand()   f and its gradient, derived by hand;
//   tapestry()  f and its gradient with tapestry: record on a tape, run backward; the
//               gradient is left where tapestry puts it, in the Params' grad().
// by_hand() writes `gradient` (one vector over all inputs, in the order of inputs());
// tapestry_gradient() gathers tapestry's into the same layout, so that the agreement
// test can compare both with each other and with finite differences of plain().

#include <cmath>
#include <numbers>
#include <random>
#include <vector>

#include <tapestry/tapestry.hpp>

namespace bench::scalar {

using tapestry::Dynamic;
using tapestry::Index;
using Vector = Eigen::VectorXd;
using Matrix = Eigen::MatrixXd;

// Pointers to every input value, in the order of `gradient`.
template <class... P>
std::vector<double*> inputs_of(P&... params) {
    std::vector<double*> all;
    (
        [&] {
            for (Index i = 0; i < params.value().size(); ++i) all.push_back(params.value().data() + i);
        }(),
        ...);
    return all;
}

// One tapestry gradient: zero the Params' gradients, record f on a fresh tape, run
// backward. Returns f's value.
template <class F, class... P>
double gradient_with_tapestry(tapestry::Tape& tape, F&& f, P&... params) {
    tape.clear();
    (params.zero_grad(), ...);
    tapestry::Var<double, 1, 1> value = f();
    tape.backward(value);
    return value.value()(0, 0);
}

// The Params' gradients, concatenated in the order of inputs().
template <class... P>
Vector gradients_of(const P&... params) {
    Vector all((params.grad().size() + ...));
    Index at = 0;
    ((all.segment(at, params.grad().size()) = params.grad().reshaped(), at += params.grad().size()), ...);
    return all;
}

// ADBenchmark's normal log-density (normal_log_pdf.hpp, regression.hpp): one division by
// sigma^2 after the sum, no 2 pi term.
template <class Y>
double adbench_normal_log_density(const Eigen::MatrixBase<Y>& y, double mean, double sigma) {
    const double z_sq = (y.array() - mean).matrix().squaredNorm() / (sigma * sigma);
    return -0.5 * z_sq - static_cast<double>(y.size()) * std::log(sigma);
}

inline Vector random_vector(Index n, double lo, double hi, unsigned seed) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<double> uniform(lo, hi);
    return Vector::NullaryExpr(n, [&] { return uniform(rng); });
}

// sum of N values.
struct Sum {
    static constexpr const char* name = "sum";
    tapestry::Param<double, Dynamic, 1> x;
    Vector gradient;
    tapestry::Tape tape;

    explicit Sum(Index n) : x(random_vector(n, -1, 1, 1)), gradient(n) {}
    std::vector<double*> inputs() { return inputs_of(x); }
    double plain() const { return x.value().sum(); }
    double adbench_f() const { return x.value().sum(); }  // sum.hpp
    double adbench_offset() const { return 0; }
    double by_hand() {
        gradient.setOnes();
        return x.value().sum();
    }
    double tapestry() {
        return gradient_with_tapestry(
            tape, [&] { return tapestry::sum(x); }, x);
    }
    Vector tapestry_gradient() const { return gradients_of(x); }
};

// product of N values near 1 (so that the product of 16384 of them stays finite).
struct Product {
    static constexpr const char* name = "product";
    tapestry::Param<double, Dynamic, 1> x;
    Vector gradient;
    tapestry::Tape tape;

    explicit Product(Index n) : x(random_vector(n, 0.99, 1.01, 2)), gradient(n) {}
    std::vector<double*> inputs() { return inputs_of(x); }
    double plain() const { return x.value().prod(); }
    double adbench_f() const { return x.value().prod(); }  // prod.hpp
    double adbench_offset() const { return 0; }
    double by_hand() {  // no zeros among the inputs: d/dx_i = p / x_i
        const double p = x.value().prod();
        gradient.array() = p / x.value().array();
        return p;
    }
    double tapestry() {
        return gradient_with_tapestry(
            tape, [&] { return tapestry::prod(x); }, x);
    }
    Vector tapestry_gradient() const { return gradients_of(x); }
};

// log(sum(exp(x))).
struct LogSumExp {
    static constexpr const char* name = "log_sum_exp";
    tapestry::Param<double, Dynamic, 1> x;
    Vector gradient, shifted_exp;
    tapestry::Tape tape;

    explicit LogSumExp(Index n) : x(random_vector(n, -3, 3, 3)), gradient(n), shifted_exp(n) {}
    std::vector<double*> inputs() { return inputs_of(x); }
    double plain() const {
        const double m = x.value().maxCoeff();
        return m + std::log((x.value().array() - m).exp().sum());
    }
    // log_sum_exp.hpp: not shifted by the maximum (one pass fewer; overflows past x = 709).
    double adbench_f() const { return std::log(x.value().array().exp().sum()); }
    double adbench_offset() const { return 0; }
    double by_hand() {  // the gradient is softmax(x): exp computed once
        const double m = x.value().maxCoeff();
        shifted_exp.array() = (x.value().array() - m).exp();
        const double s = shifted_exp.sum();
        gradient = shifted_exp / s;
        return m + std::log(s);
    }
    double tapestry() {
        return gradient_with_tapestry(
            tape, [&] { return tapestry::log_sum_exp(x); }, x);
    }
    Vector tapestry_gradient() const { return gradients_of(x); }
};

// log density of N observations y under normal(mu, sigma), gradient in y, mu and sigma.
struct NormalLogDensity {
    static constexpr const char* name = "normal_log_density";
    tapestry::Param<double, Dynamic, 1> y;
    tapestry::Param<double, 1, 1> mu, sigma;
    Vector gradient;
    tapestry::Tape tape;
    static constexpr double half_log_two_pi = 0.91893853320467274178;

    explicit NormalLogDensity(Index n)
        : y(random_vector(n, -2, 2, 4)),
          mu(Vector::Constant(1, 0.3)),
          sigma(Vector::Constant(1, 1.7)),
          gradient(n + 2) {}
    std::vector<double*> inputs() { return inputs_of(y, mu, sigma); }
    double plain() const {
        const double m = mu.value()(0, 0), s = sigma.value()(0, 0);
        const auto n = static_cast<double>(y.rows());
        return -0.5 * ((y.value().array() - m) / s).square().sum() - n * (std::log(s) + half_log_two_pi);
    }
    // normal_log_pdf.hpp.
    double adbench_f() const { return adbench_normal_log_density(y.value(), mu.value()(0, 0), sigma.value()(0, 0)); }
    double adbench_offset() const { return static_cast<double>(y.rows()) * half_log_two_pi; }
    // With z = (y - mu) / sigma: d/dy = -z / sigma = (mu - y) / sigma^2, and d/dmu and
    // d/dsigma and the value from its sum and its sum of squares. One pass, a packet at a
    // time: each dy written, and both sums kept in registers (two sets of accumulators,
    // so that the additions of consecutive packets do not wait for each other). A
    // multiply by 1 / sigma^2, no division per element. Dividing per element and scaling
    // dy in a pass of its own took 2.3x as long as the three passes (a write and two
    // Eigen reductions over dy) this replaced, which took 1.2x as long as this.
    double by_hand() {
        using namespace Eigen::internal;
        using Packet = packet_traits<double>::type;
        constexpr Index width = packet_traits<double>::size;
        const double m = mu.value()(0, 0), s = sigma.value()(0, 0), inv_s = 1 / s;
        const Index n = y.rows();
        const double* values = y.value().data();
        double* dy = gradient.data();
        const Packet mean = pset1<Packet>(m), scale = pset1<Packet>(inv_s * inv_s);
        Packet sum[2] = {pset1<Packet>(0), pset1<Packet>(0)}, squares[2] = {sum[0], sum[0]};
        Index i = 0;
        for (; i + 2 * width <= n; i += 2 * width)
            for (int k = 0; k < 2; ++k) {
                const Packet d = pmul(psub(mean, ploadu<Packet>(values + i + k * width)), scale);
                pstoreu(dy + i + k * width, d);
                sum[k] = padd(sum[k], d);
                squares[k] = pmadd(d, d, squares[k]);
            }
        double sum_dy = predux(padd(sum[0], sum[1])), sum_dy2 = predux(padd(squares[0], squares[1]));
        for (; i < n; ++i) {
            dy[i] = (m - values[i]) * (inv_s * inv_s);
            sum_dy += dy[i];
            sum_dy2 += dy[i] * dy[i];
        }
        const double sum_z = -s * sum_dy, sum_z2 = s * s * sum_dy2;
        gradient(n) = sum_z * inv_s;
        gradient(n + 1) = (sum_z2 - static_cast<double>(n)) * inv_s;
        return -0.5 * sum_z2 - static_cast<double>(n) * (std::log(s) + half_log_two_pi);
    }
    double tapestry() {
        using namespace tapestry;
        const auto n = static_cast<double>(y.rows());
        return gradient_with_tapestry(
            tape,
            [&] { return -0.5 * sum(square(hadamard(y - mu, 1.0 / sigma))) - n * log(sigma) - n * half_log_two_pi; }, y,
            mu, sigma);
    }
    Vector tapestry_gradient() const { return gradients_of(y, mu, sigma); }
};

// sum of the product of two K x K matrices.
struct MatrixProductSum {
    static constexpr const char* name = "matrix_product_sum";
    tapestry::Param<double, Dynamic, Dynamic> A, B;
    Matrix C;
    Vector gradient;
    tapestry::Tape tape;

    static Index side(Index n) { return std::max<Index>(1, static_cast<Index>(std::lround(std::sqrt(2.0 * n)))); }
    explicit MatrixProductSum(Index n)
        : A(random_vector(side(n) * side(n), -1, 1, 5).reshaped(side(n), side(n))),
          B(random_vector(side(n) * side(n), -1, 1, 6).reshaped(side(n), side(n))),
          C(side(n), side(n)),
          gradient(2 * side(n) * side(n)) {}
    std::vector<double*> inputs() { return inputs_of(A, B); }
    double plain() {
        C.noalias() = A.value() * B.value();
        return C.sum();
    }
    // matrix_product.hpp: the product into a temporary, then summed.
    double adbench_f() const { return (A.value() * B.value()).array().sum(); }
    double adbench_offset() const { return 0; }
    // d/dA_ij = sum_k B_jk and d/dB_jk = sum_i A_ij: the value needs the product, the
    // gradient only row and column sums.
    double by_hand() {
        const Index k = A.rows();
        C.noalias() = A.value() * B.value();
        const Vector row_sums_of_B = B.value().rowwise().sum();
        const Eigen::RowVectorXd col_sums_of_A = A.value().colwise().sum();
        gradient.head(k * k).reshaped(k, k).rowwise() = row_sums_of_B.transpose();
        gradient.tail(k * k).reshaped(k, k).colwise() = col_sums_of_A.transpose();
        return C.sum();
    }
    double tapestry() {
        return gradient_with_tapestry(
            tape, [&] { return tapestry::sum(A * B); }, A, B);
    }
    Vector tapestry_gradient() const { return gradients_of(A, B); }
};

// Log-likelihood of a linear regression y ~ normal(X w + b, sigma) over n x p data
// (1000 x 150 at the largest size), gradient in w, b and sigma.
struct LinearRegression {
    static constexpr const char* name = "linear_regression";
    Matrix X;
    Vector y, residual;
    // The data as shared constants, made once: every tape reads them in place (a
    // constant() made under a tape is copied into it on every call).
    tapestry::Var<double, Dynamic, Dynamic> data;
    tapestry::Var<double, Dynamic, 1> observed;
    tapestry::Param<double, Dynamic, 1> w;
    tapestry::Param<double, 1, 1> b, sigma;
    Vector gradient;
    tapestry::Tape tape;
    static constexpr double half_log_two_pi = NormalLogDensity::half_log_two_pi;

    static Index observations(Index n) { return std::max<Index>(2, n * 1000 / 16384); }
    static Index predictors(Index n) { return std::max<Index>(1, n * 150 / 16384); }
    explicit LinearRegression(Index n)
        : X(random_vector(observations(n) * predictors(n), -1, 1, 7).reshaped(observations(n), predictors(n))),
          y(random_vector(observations(n), -2, 2, 8)),
          residual(observations(n)),
          data(tapestry::shared_constant(X)),
          observed(tapestry::shared_constant(y)),
          w(random_vector(predictors(n), -0.2, 0.2, 9)),
          b(Vector::Constant(1, 0.1)),
          sigma(Vector::Constant(1, 1.3)),
          gradient(predictors(n) + 2) {}
    std::vector<double*> inputs() { return inputs_of(w, b, sigma); }
    double plain() {
        const double s = sigma.value()(0, 0);
        residual.noalias() = y - X * w.value();
        const auto n = static_cast<double>(y.size());
        return -0.5 * ((residual.array() - b.value()(0, 0)) / s).square().sum() - n * (std::log(s) + half_log_two_pi);
    }
    // regression.hpp: with normal(0, 1) priors on w and b and uniform(0.1, 10) on sigma.
    double adbench_f() const {
        const auto& weights = w.value();
        const auto& intercept = b.value();
        const double s = sigma.value()(0, 0);
        auto z = y - ((X * weights).array() + intercept(0, 0)).matrix();
        return adbench_normal_log_density(z, 0., s) + adbench_normal_log_density(weights, 0., 1.) +
               adbench_normal_log_density(intercept, 0., 1.) - std::log(10. - 0.1);
    }
    double adbench_offset() const {
        const double b0 = b.value()(0, 0);
        return static_cast<double>(y.size()) * half_log_two_pi - 0.5 * w.value().squaredNorm() - 0.5 * b0 * b0 -
               std::log(10. - 0.1);
    }
    double by_hand() {
        const double s = sigma.value()(0, 0);
        const Index p = w.rows();
        residual.noalias() = y - X * w.value();
        residual.array() = (residual.array() - b.value()(0, 0)) / s;  // z
        const double sum_z = residual.sum(), sum_z2 = residual.squaredNorm();
        const auto n = static_cast<double>(y.size());
        gradient.head(p).noalias() = X.transpose() * residual / s;
        gradient(p) = sum_z / s;
        gradient(p + 1) = (sum_z2 - n) / s;
        return -0.5 * sum_z2 - n * (std::log(s) + half_log_two_pi);
    }
    double tapestry() {
        using namespace tapestry;
        const auto n = static_cast<double>(y.size());
        return gradient_with_tapestry(
            tape,
            [&] {
                return -0.5 * sum(square(hadamard(observed - data * w - b, 1.0 / sigma))) - n * log(sigma) -
                       n * half_log_two_pi;
            },
            w, b, sigma);
    }
    Vector tapestry_gradient() const { return gradients_of(w, b, sigma); }
};

// Stan's stochastic volatility model over T = N / 2 time steps (8192 at the largest):
// log density of y_t ~ normal(0, exp(h_t / 2)) with the latent h = mu + u, u the
// stationary AR(1) process of innovations sigma h_std (so u_1 = sigma h_std_1 /
// sqrt(1 - phi^2), u_t = phi u_{t-1} + sigma h_std_t), priors h_std ~ normal(0, 1),
// sigma ~ cauchy(0, 5), mu ~ cauchy(0, 10), phi ~ uniform(-1, 1), constants dropped.
// Gradient in h_std, phi, sigma and mu.
struct StochasticVolatility {
    static constexpr const char* name = "stochastic_volatility";
    Vector y_squared, y_abs, h;
    tapestry::Var<double, Dynamic, 1> half_y_squared;
    tapestry::Param<double, Dynamic, 1> h_std;
    tapestry::Param<double, 1, 1> phi, sigma, mu;
    Vector gradient;
    tapestry::Tape tape;

    static Index steps(Index n) { return std::max<Index>(2, n / 2); }
    static Vector simulated_y_squared(Index n) {
        std::mt19937 rng(10);
        std::normal_distribution<double> normal(0.0, 1.0);
        Vector y2(steps(n));
        double u = normal(rng) * 0.25 / std::sqrt(1 - 0.95 * 0.95);
        for (Index t = 0; t < y2.size(); ++t) {
            if (t > 0) u = 0.95 * u + 0.25 * normal(rng);
            const double y = std::exp((u - 1.0) / 2) * normal(rng);
            y2(t) = y * y;
        }
        return y2;
    }
    explicit StochasticVolatility(Index n)
        : y_squared(simulated_y_squared(n)),
          y_abs(y_squared.cwiseSqrt()),
          h(steps(n)),
          half_y_squared(tapestry::shared_constant(Vector(0.5 * y_squared))),
          h_std(random_vector(steps(n), -1, 1, 11)),
          phi(Vector::Constant(1, 0.9)),
          sigma(Vector::Constant(1, 0.3)),
          mu(Vector::Constant(1, -0.8)),
          gradient(steps(n) + 3) {}
    std::vector<double*> inputs() { return inputs_of(h_std, phi, sigma, mu); }

    static double priors(double s, double m) { return -std::log1p(s * s / 25) - std::log1p(m * m / 100); }
    // h = mu + u, returning the sum over t of log p(y_t | h_t).
    double latent_and_likelihood(double p, double s, double m) {
        const auto z = h_std.value();
        double u = s * z(0) / std::sqrt(1 - p * p), total = 0;
        for (Index t = 0; t < h.size(); ++t) {
            if (t > 0) u = p * u + s * z(t);
            h(t) = m + u;
            total += -0.5 * y_squared(t) * std::exp(-h(t)) - 0.5 * h(t);
        }
        return total;
    }
    double plain() {
        const double p = phi.value()(0, 0), s = sigma.value()(0, 0), m = mu.value()(0, 0);
        return latent_and_likelihood(p, s, m) - 0.5 * h_std.value().squaredNorm() + priors(s, m);
    }
    // stochastic_volatility.hpp: y itself (|y| here) under normal(0, exp(h / 2)), an exp,
    // a division and a log per step, and the Cauchy priors with their scale terms.
    double adbench_f() {
        const double p = phi.value()(0, 0), s = sigma.value()(0, 0), m = mu.value()(0, 0);
        const auto& z = h_std.value();
        h = z.array() * s;
        h[0] /= std::sqrt(1. - p * p);
        h.array() += m;
        for (Index i = 1; i < h.size(); ++i) h[i] += p * (h[i - 1] - m);
        const auto scale = (h / 2).array().exp();
        const double likelihood = -0.5 * (y_abs.array() / scale).matrix().squaredNorm() - scale.log().sum();
        const auto cauchy = [](double v, double location, double width) {
            const double c = (v - location) / width;
            return -std::log(width * (1 + c * c));
        };
        return likelihood - 0.5 * z.squaredNorm() + cauchy(s, 0., 5.) + cauchy(m, 0., 10.) - std::log(2.);
    }
    double adbench_offset() const { return -std::log(5.) - std::log(10.) - std::log(2.); }
    double by_hand() {
        const double p = phi.value()(0, 0), s = sigma.value()(0, 0), m = mu.value()(0, 0);
        const double value = latent_and_likelihood(p, s, m) - 0.5 * h_std.value().squaredNorm() + priors(s, m);
        const auto z = h_std.value();
        const Index T = h.size();
        const double scale = 1 / std::sqrt(1 - p * p);
        auto v = gradient.head(T);  // d/dh_t, then the reverse recurrence: d/du_t summed forward
        v.array() = 0.5 * y_squared.array() * (-h.array()).exp() - 0.5;
        const double dmu = v.sum();
        for (Index t = T - 1; t-- > 0;) v(t) += p * v(t + 1);
        double dphi = v(0) * s * z(0) * p * scale * scale * scale, dsigma = v(0) * z(0) * scale;
        for (Index t = 1; t < T; ++t) {
            dphi += v(t) * (h(t - 1) - m);
            dsigma += v(t) * z(t);
        }
        v(0) *= scale;
        v = s * v - z;  // d/dh_std, with the prior's -h_std
        gradient(T) = dphi;
        gradient(T + 1) = dsigma - 2 * s / 25 / (1 + s * s / 25);
        gradient(T + 2) = dmu - 2 * m / 100 / (1 + m * m / 100);
        return value;
    }
    double tapestry() {
        using namespace tapestry;
        return gradient_with_tapestry(
            tape,
            [&] {
                auto latent = stationary_ar1(phi, hadamard(h_std, sigma)) + mu;
                return sum(-hadamard(half_y_squared, exp(-latent)) - 0.5 * latent) - 0.5 * sum(square(h_std)) -
                       log(1.0 + square(sigma) * (1.0 / 25)) - log(1.0 + square(mu) * (1.0 / 100));
            },
            h_std, phi, sigma, mu);
    }
    Vector tapestry_gradient() const { return gradients_of(h_std, phi, sigma, mu); }
};

}  // namespace bench::scalar
