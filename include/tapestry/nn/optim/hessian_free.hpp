#pragma once
// Hessian-free optimisation (Martens, "Deep learning via Hessian-free optimization",
// ICML 2010; Martens and Sutskever, "Training deep and recurrent networks with
// Hessian-free optimization", 2012): truncated Newton steps on the Gauss-Newton matrix
// G = Jᵀ H J of a loss on a model's output, G never formed. Each step():
//   1. the loss f and its gradient g at θ, by one backward sweep;
//   2. conjugate gradients on (G + λ I) p = -g, each iteration one gnvp, started from
//      the previous step's p times `cg_decay` (Martens' warm start) and stopped after
//      `max_cg_iterations`, or once the quadratic model φ(p) = gᵀp + ½ pᵀ(G + λ I) p
//      improved by less than k `cg_progress` of itself over the last k = max(10, i/10)
//      iterations (Martens' rule), or once the residual is 10⁻¹⁰ |g|;
//   3. the reduction ratio ρ = (f(θ + p) - f(θ)) / (gᵀp + ½ pᵀ G p), actual against
//      predicted by the undamped model, and Levenberg-Marquardt damping: λ becomes 3/2 λ
//      when ρ < 1/4 and 2/3 λ when ρ > 3/4;
//   4. θ += α p for the first α of 1, 0.8, 0.64, ... whose loss is below f + 10⁻² α gᵀp
//      (Armijo); after `max_backtracks` failures θ stays where it was.
//
//   nn::HessianFree<double> hf(params, {.damping = 1.0});
//   for (int i = 0; i < 100; ++i)
//       hf.step([&] { return decode(encode(x)); },                            // z = model()
//               [&](const auto& z) { return sigmoid_cross_entropy(z, x); });  // loss(z)
//
// The loss reads z and constants only, as gnvp asks (a penalty on the Params: add its
// curvature to the damping). Both closures are called for the gradient, for each G v (on
// gnvp's tape) and for each trial step (without a tape): what batch they read is theirs
// to choose. After a step the Params' gradients hold g at the point the step began from.
// Every Param of the set moves along one direction: lr_mult other than 1 is refused
// (leave a frozen Param out of the set). A damping of 0 stays 0 (undamped Gauss-Newton).
// If a closure throws, the Params are put back where the step began. Needs
// TAPESTRY_SECOND_ORDER on every file of the program. The vectors and gnvp's workspace
// are allocated in the first step(); a later step on a batch of the same size allocates
// only for the gradient's tape and the trial steps' values, whatever its CG iterations.
// Not copyable (it holds the workspace); movable between steps.

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "tapestry/core/errors.hpp"
#include "tapestry/functional/flat_params.hpp"
#include "tapestry/functional/gnvp.hpp"
#include "tapestry/nn/param_set.hpp"

namespace tapestry::nn {

struct HessianFreeOptions {
    double damping = 1.0;         // λ at the first step; adapted by each step's ρ
    int max_cg_iterations = 250;  // CG iterations per step (a G v each; a warm start takes one more)
    double cg_decay = 0.95;       // CG starts from the previous step's p times this
    double cg_progress = 5e-4;    // Martens' ε in the stopping rule of CG
    int max_backtracks = 40;      // shorter trial steps, after the full one
    double armijo = 1e-2;         // the share of the predicted decrease a trial must achieve
};

struct HessianFreeReport {
    double loss;             // f at the Params step() began from
    double new_loss;         // f at the Params it left
    double damping;          // λ this step used (the next one uses damping())
    double reduction_ratio;  // ρ of the full step p
    double step_length;      // α; 0 when no trial decreased f enough and θ stayed
    int cg_iterations;
};

template <class T>
class HessianFree {
public:
    using Vector = Eigen::Matrix<T, Eigen::Dynamic, 1>;

    HessianFree(ParamSet<T> params, HessianFreeOptions options = {})
        : params_(std::move(params)), options_(options), damping_(options.damping) {
        auto finite = [](double v) { return std::isfinite(v); };
        if (!(options_.damping >= 0) || !finite(options_.damping))
            throw value_error("HessianFree: damping must be finite and not negative");
        if (options_.max_cg_iterations < 1) throw value_error("HessianFree: max_cg_iterations must be at least 1");
        if (!(options_.cg_decay >= 0 && options_.cg_decay <= 1))
            throw value_error("HessianFree: cg_decay must be between 0 and 1");
        if (!(options_.cg_progress > 0) || !finite(options_.cg_progress))
            throw value_error("HessianFree: cg_progress must be positive and finite");
        if (options_.max_backtracks < 0) throw value_error("HessianFree: max_backtracks must not be negative");
        if (!(options_.armijo >= 0 && options_.armijo < 1)) throw value_error("HessianFree: armijo must be in [0, 1)");
        for (const auto& p : params_)
            if (p.options.lr_mult != 1.0)
                throw value_error("HessianFree: the Param \"" + p.name + "\" has lr_mult " +
                                  std::to_string(p.options.lr_mult) +
                                  "; Hessian-free moves every Param along one direction (leave a frozen Param out "
                                  "of the ParamSet)");
        if (detail::flat_size(params_) == 0) throw value_error("HessianFree: the ParamSet has no elements to optimise");
    }

    double damping() const { return damping_; }

    template <class Model, class Loss>
    HessianFreeReport step(Model&& model, Loss&& loss) {
        HessianFreeReport report{};
        report.damping = damping_;
        report.loss = loss_and_gradient(model, loss);
        report.new_loss = report.loss;
        if (!std::isfinite(report.loss) || !gradient_.allFinite())
            throw value_error("HessianFree: the loss or its gradient is not finite where the step begins");
        if (gradient_.isZero(0)) return report;  // a stationary point: no step, nothing learnt about λ

        const auto damped_product = [&](const Vector& v, Vector& into) {
            into = gnvp(model, loss, params_, v, workspace_).product + T(damping_) * v;
        };
        report.cg_iterations = solve_for_step(damped_product);

        // The undamped model's prediction: gᵀp + ½ pᵀ G p, with (G + λ I) p = -g - r.
        const T gp = gradient_.dot(step_);
        const T pGp = -gp - residual_.dot(step_) - T(damping_) * step_.squaredNorm();
        const double predicted = double(gp + pGp / 2);
        if (!(predicted < 0)) return report;  // CG found no descent (G + λ I singular along g)

        detail::gather_values(params_, start_);
        try {
            double alpha = 1;
            double trial = loss_at(model, loss, alpha);
            report.reduction_ratio = (trial - report.loss) / predicted;
            if (report.reduction_ratio < 0.25)
                damping_ *= 1.5;
            else if (report.reduction_ratio > 0.75)
                damping_ *= 2.0 / 3.0;
            for (int backtrack = 0; !(trial <= report.loss + options_.armijo * alpha * double(gp)); ++backtrack) {
                if (backtrack == options_.max_backtracks) {
                    detail::set_values(params_, start_);
                    return report;
                }
                alpha *= 0.8;
                trial = loss_at(model, loss, alpha);
            }
            report.step_length = alpha;
            report.new_loss = trial;
        } catch (...) {
            detail::set_values(params_, start_);
            throw;
        }
        return report;
    }

private:
    // f at the Params, and its gradient into gradient_ (the Params' gradients are left
    // holding it, as after any backward sweep).
    template <class Model, class Loss>
    double loss_and_gradient(Model& model, Loss& loss) {
        params_.zero_grad();
        double value;
        {
            Tape tape;
            const auto f = evaluate(loss(model()));
            if (f.rows() != 1 || f.cols() != 1)
                detail::throw_shape_error("HessianFree", f.rows(), f.cols(), 1, 1, "the loss must be 1x1");
            value = double(f.item());
            tape.backward(f);
        }
        detail::gather_gradients(params_, gradient_);
        return value;
    }

    // f at θ + α p, without a tape.
    template <class Model, class Loss>
    double loss_at(Model& model, Loss& loss, double alpha) {
        detail::set_values(params_, start_ + T(alpha) * step_);  // θ = start + α p
        InferenceMode plain_values;
        const double value = double(evaluate(loss(model())).item());
        return std::isfinite(value) ? value : std::numeric_limits<double>::infinity();
    }

    // Conjugate gradients on A p = -g, A = G + λ I given as products, into step_ (and the
    // final residual -g - A p into residual_). Returns the iterations (a warm start's product
    // not counted).
    template <class Product>
    int solve_for_step(const Product& A) {
        const Index n = gradient_.size();
        if (step_.size() != n) step_ = Vector::Zero(n);
        step_ *= T(options_.cg_decay);
        int products = 0;
        residual_ = -gradient_;
        if (!step_.isZero(0)) {
            A(step_, product_);
            ++products;
            residual_ -= product_;
            // φ(p) = gᵀp + ½ pᵀ A p = ½ pᵀ (g - r). A warm start that does not descend is dropped.
            if (step_.dot(gradient_ - residual_) / 2 >= 0) {
                step_.setZero();
                residual_ = -gradient_;
            }
        }
        const int warm_start_products = products;
        direction_ = residual_;
        T rr = residual_.squaredNorm();
        phi_.assign(1, double(step_.dot(gradient_ - residual_) / 2));
        const T solved = T(1e-20) * gradient_.squaredNorm();  // |r| at 1e-10 |g|: the system is solved
        while (products - warm_start_products < options_.max_cg_iterations && rr > solved) {
            A(direction_, product_);
            ++products;
            const T curvature = direction_.dot(product_);
            if (!(curvature > 0)) break;  // G + λ I is singular along d (λ = 0): stop where we are
            const T step_size = rr / curvature;
            step_ += step_size * direction_;
            residual_ -= step_size * product_;
            const T rr_next = residual_.squaredNorm();
            direction_ = residual_ + (rr_next / rr) * direction_;
            rr = rr_next;
            phi_.push_back(double(step_.dot(gradient_ - residual_) / 2));
            const std::size_t i = phi_.size() - 1, k = std::max<std::size_t>(10, i / 10);
            if (i > k && phi_[i] < 0 && (phi_[i] - phi_[i - k]) / phi_[i] < double(k) * options_.cg_progress) break;
        }
        return products - warm_start_products;
    }

    ParamSet<T> params_;
    HessianFreeOptions options_;
    double damping_;
    Vector gradient_, step_, residual_, direction_, product_, start_;
    std::vector<double> phi_;           // φ after each CG iteration
    DerivativeWorkspace<T> workspace_;  // gnvp's tape and buffers, reused by every product
};

}  // namespace tapestry::nn
