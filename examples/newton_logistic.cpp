// Logistic regression trained by Newton's method, each Newton system solved by conjugate
// gradients on Hessian-vector products (truncated Newton, "Newton-CG"): the Hessian is
// never formed, only hvp(f, params, v) is asked for. On two Fashion-MNIST classes (by
// default sandals against sneakers, which no line separates exactly), in double, with an
// L2 penalty so that the minimum is unique; converges to a gradient norm below 1e-10 in
// a handful of Newton steps, where gradient descent would need thousands.
//
//   newton_logistic [--data DIR] [--classes 5,7] [--examples 4000] [--l2 1e-3] [--out DIR]
//
// Writes newton.csv (step, loss, gradient norm, CG iterations, test accuracy) and
// exits with status 1 if it has not converged in --max-steps Newton steps.

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include <tapestry/functional/hvp.hpp>
#include <tapestry/tapestry.hpp>

#include "common/fashion_mnist.hpp"

namespace {

using Vector = Eigen::VectorXd;
using Matrix = Eigen::MatrixXd;

// The examples of two classes, as 784 x N images and 1 x N targets (1 for the second class).
struct TwoClasses {
    Matrix x;
    Matrix y;
};

TwoClasses two_classes(const Eigen::MatrixXf& images, const std::vector<int>& labels, int negative, int positive,
                       long limit) {
    std::vector<Eigen::Index> kept;
    for (std::size_t j = 0; j < labels.size() && static_cast<long>(kept.size()) < limit; ++j)
        if (labels[j] == negative || labels[j] == positive) kept.push_back(static_cast<Eigen::Index>(j));
    TwoClasses out{Matrix(images.rows(), static_cast<Eigen::Index>(kept.size())),
                   Matrix(1, static_cast<Eigen::Index>(kept.size()))};
    for (std::size_t k = 0; k < kept.size(); ++k) {
        const auto column = static_cast<Eigen::Index>(k);
        out.x.col(column) = images.col(kept[k]).cast<double>();
        out.y(0, column) = labels[static_cast<std::size_t>(kept[k])] == positive ? 1.0 : 0.0;
    }
    return out;
}

// Conjugate gradients for H p = -g, H given as products, stopped at a residual of
// `tolerance` |g| (the forcing term that gives Newton-CG its superlinear convergence).
template <class Product>
Vector conjugate_gradients(Product&& H, const Vector& g, double tolerance, int max_iterations, int& iterations) {
    Vector p = Vector::Zero(g.size());
    Vector r = -g;
    Vector d = r;
    double rr = r.squaredNorm();
    const double stop = tolerance * tolerance * g.squaredNorm();
    for (iterations = 0; iterations < max_iterations && rr > stop; ++iterations) {
        const Vector Hd = H(d);
        const double curvature = d.dot(Hd);
        if (curvature <= 0) break;  // not for a convex loss; kept for safety
        const double alpha = rr / curvature;
        p += alpha * d;
        r -= alpha * Hd;
        const double rr_next = r.squaredNorm();
        d = r + (rr_next / rr) * d;
        rr = rr_next;
    }
    return p;
}

}  // namespace

int main(int argc, char** argv) {
    using namespace tapestry;
    std::string data_dir = examples::default_fashion_mnist_dir, out = "newton_logistic_out";
    std::vector<int> classes{5, 7};
    long examples_kept = 4000;
    double l2 = 1e-3;
    int max_steps = 15;
    CLI::App app{"Logistic regression by Newton-CG on Hessian-vector products (two Fashion-MNIST classes)"};
    app.add_option("--data", data_dir, "folder with Fashion-MNIST's IDX files (.gz or plain)")->capture_default_str();
    app.add_option("--out", out, "folder for newton.csv")->capture_default_str();
    app.add_option("--classes", classes, "the two classes told apart (0-9)")
        ->expected(2)
        ->check(CLI::Range(0, 9))
        ->capture_default_str();
    app.add_option("--examples", examples_kept, "training examples of the two classes to use")
        ->check(CLI::Range(2L, 12000L))
        ->capture_default_str();
    app.add_option("--l2", l2, "L2 penalty l2/2 |w|² (makes the minimum unique)")
        ->check(CLI::PositiveNumber)
        ->capture_default_str();
    app.add_option("--max-steps", max_steps, "Newton steps allowed")->check(CLI::Range(1, 1000))->capture_default_str();
    CLI11_PARSE(app, argc, argv);
    if (classes[0] == classes[1]) {
        std::fprintf(stderr, "error: --classes needs two different classes\n");
        return 2;
    }

    examples::FashionMnist data;
    try {
        data = examples::load_fashion_mnist(data_dir);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "error: %s\n", e.what());
        return 2;
    }
    const TwoClasses train = two_classes(data.train_images, data.train_labels, classes[0], classes[1], examples_kept);
    const TwoClasses test = two_classes(data.test_images, data.test_labels, classes[0], classes[1], 1L << 30);
    std::ofstream csv;
    try {
        std::filesystem::create_directories(out);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "error: --out: %s\n", e.what());
        return 2;
    }
    csv.open(out + "/newton.csv");
    if (!csv) {
        std::fprintf(stderr, "error: --out: cannot write %s/newton.csv\n", out.c_str());
        return 2;
    }

    Param<double, 1, 784> w;
    Param<double, 1, 1> b;
    const nn::ParamSet<double> params{{"w", w}, {"b", b}};
    auto loss = [&] {
        return sigmoid_cross_entropy(w * constant(train.x) + b, constant(train.y)) + (l2 / 2) * sum(square(w));
    };
    auto test_accuracy = [&] {
        InferenceMode plain;
        const Matrix logits = evaluate(w * constant(test.x) + b).value();
        return ((logits.array() > 0).cast<double>() == test.y.array()).cast<double>().mean();
    };

    csv << "step,loss,gradient_norm,cg_iterations,test_accuracy\n";
    std::printf("%ld training examples (classes %d and %d), %ld test, l2 %g\n", static_cast<long>(train.x.cols()),
                classes[0], classes[1], static_cast<long>(test.x.cols()), l2);
    Vector direction = Vector::Zero(784 + 1);  // w's elements, then b: the ParamSet's order
    DerivativeWorkspace<double> workspace;     // hvp's tape and buffers, reused by every product
    for (int step = 0;; ++step) {
        // The loss and its gradient at the step's start come with a Hessian-vector product (of
        // the last step's direction: not needed, and cheap beside the CG iterations).
        const HvpResult<double> here = hvp(loss, params, direction, workspace);  // a copy: CG reuses the workspace
        const double gradient_norm = here.gradient.norm();
        int cg_iterations = 0;
        if (gradient_norm < 1e-10 || step == max_steps) {
            std::printf("step %2d: loss %.15f, |gradient| %.3e, test accuracy %.2f%%\n", step, here.value,
                        gradient_norm, 100 * test_accuracy());
            csv << step << ',' << here.value << ',' << gradient_norm << ",0," << test_accuracy() << '\n';
            if (gradient_norm < 1e-10) {
                std::printf("converged: gradient norm %.3e < 1e-10 after %d Newton steps\n", gradient_norm, step);
                return 0;
            }
            std::printf("not converged after %d Newton steps\n", step);
            return 1;
        }
        // Solve H p = -g to a relative residual of min(0.5, sqrt|g|): loose far away, tight near the minimum.
        const double forcing = std::min(0.5, std::sqrt(gradient_norm));
        direction = conjugate_gradients([&](const Vector& v) { return hvp(loss, params, v, workspace).product; },
                                        here.gradient, forcing, 500, cg_iterations);
        if (cg_iterations == 0) direction = -here.gradient;  // no curvature found: steepest descent
        // Backtracking from the full Newton step while it does not decrease the loss by
        // 1e-4 of what the slope promises (Armijo). Near the minimum the decrease a Newton
        // step promises, -slope / 2, falls below the rounding of a sum of thousands of
        // terms: there the full step is taken, as the loss cannot judge it.
        const double slope = here.gradient.dot(direction);
        const bool below_rounding = -slope / 2 < 1e3 * std::numeric_limits<double>::epsilon() * std::abs(here.value);
        double t = 1;
        const Vector start = Eigen::Map<const Vector>(w.value().data(), 784);
        const double b_start = b.value()(0, 0);
        for (;; t /= 2) {
            w.value() = (start + t * direction.head(784)).transpose();
            b.value()(0, 0) = b_start + t * direction(784);
            if (below_rounding) break;
            InferenceMode plain;
            if (evaluate(loss()).value()(0, 0) <= here.value + 1e-4 * t * slope) break;
            if (t < 1e-10) {
                std::printf("the line search found no decrease along the Newton direction\n");
                return 1;
            }
        }
        std::printf("step %2d: loss %.15f, |gradient| %.3e, %3d CG iterations, step length %g, test accuracy %.2f%%\n",
                    step, here.value, gradient_norm, cg_iterations, t, 100 * test_accuracy());
        csv << step << ',' << here.value << ',' << gradient_norm << ',' << cg_iterations << ',' << test_accuracy()
            << '\n';
    }
}
