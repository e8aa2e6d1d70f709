#pragma once
// L-BFGS, step for step as PyTorch's torch.optim.LBFGS takes it (Nocedal and Wright,
// Numerical Optimization, algorithms 7.4 and 3.5-3.6), with or without its strong-Wolfe
// line search. A step() runs up to max_iter iterations, each calling the closure to
// evaluate the loss and its gradient, possibly several times:
//
//   nn::Lbfgs<double> lbfgs(params, {.line_search = nn::LineSearch::StrongWolfe});
//   auto report = lbfgs.step([&] {
//       Tape tape;
//       auto loss = model(x, y);
//       tape.backward(loss);
//       return loss.item();
//   });
//
// Unlike PyTorch's, the closure need not zero the gradients: step() does before every
// call, so they cannot add up across evaluations.
//
// In double it takes PyTorch's steps to rounding (tests/test_lbfgs.cpp); in float the
// line search's scalars are double here and float in PyTorch, so the paths part in the
// fifth digit. Where PyTorch's cubic interpolation would give NaN (0/0, or a point whose
// loss is not finite), this one bisects.
//
// The Params are one flat vector, in the ParamSet's order; the history keeps two such
// vectors per remembered iteration, allocated as it fills (up to history_size + 1
// pairs), and nothing else is allocated after the first step(). lr_mult applies to no Param (the line search moves
// all of them along one direction; leave a frozen Param out of the ParamSet), and there
// is no weight decay: add a penalty to the loss.

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "tapestry/core/errors.hpp"
#include "tapestry/functional/flat_params.hpp"
#include "tapestry/nn/param_set.hpp"

namespace tapestry::nn {

enum class LineSearch { None, StrongWolfe };

struct LbfgsOptions {
    double lr = 1.0;                 // the first step length each iteration tries
    int max_iter = 20;               // iterations per step()
    int max_eval = 0;                // closure calls per step() (checked after each iteration); 0: max_iter * 5 / 4
    double tolerance_grad = 1e-7;    // stop once no gradient element exceeds this in magnitude
    double tolerance_change = 1e-9;  // stop once the loss, or every Param, moves less than this
    int history_size = 100;          // iterations remembered
    LineSearch line_search = LineSearch::None;
};

// Why a step() ended.
enum class LbfgsStop {
    Iterations,     // max_iter iterations ran
    Evaluations,    // max_eval closure calls were made
    SmallGradient,  // no gradient element exceeds tolerance_grad
    SmallChange,    // the loss or the step moved less than tolerance_change
    NoDescent,      // the direction does not descend by more than tolerance_change
};

struct LbfgsReport {
    double initial_loss;         // at the Params step() began from (what PyTorch's step returns)
    std::optional<double> loss;  // at the Params it left; none when the last iteration moved
                                 // by a fixed step without evaluating there (PyTorch's choice)
    int iterations;
    int evaluations;
    LbfgsStop stopped_by;
};

template <class T>
class Lbfgs {
public:
    using Vector = Eigen::Matrix<T, Eigen::Dynamic, 1>;

    Lbfgs(ParamSet<T> params, LbfgsOptions options = {}) : params_(std::move(params)), options_(options) {
        check_options();
        for (const auto& p : params_) {
            if (p.options.lr_mult != 1.0)
                throw value_error("Lbfgs: the Param \"" + p.name + "\" has lr_mult " +
                                  std::to_string(p.options.lr_mult) +
                                  "; L-BFGS moves every Param along one direction (leave a frozen Param out of "
                                  "the ParamSet)");
            size_ += p.rows * p.cols;
        }
        if (size_ == 0) throw value_error("Lbfgs: the ParamSet has no elements to optimise");
        for (Vector* v : {&x_start_, &gradient_, &previous_gradient_, &direction_, &trial_gradient_,
                          &previous_trial_gradient_, &bracket_gradient_[0], &bracket_gradient_[1]})
            v->resize(size_);
    }

    // Runs up to max_iter iterations; `closure()` computes the loss at the Params' current
    // values with backward() into their gradients and returns it as a number. A closure
    // that throws leaves the Params where the iteration that called it began (a point
    // already evaluated) and this optimizer ready to step again. A loss or gradient that
    // is not finite where step() begins, or after a fixed step, throws value_error and
    // likewise leaves the Params at the last finite point; the line search treats such a
    // point as too far and steps shorter.
    template <class Closure>
    LbfgsReport step(Closure&& closure) {
        using Returned = std::remove_cvref_t<std::invoke_result_t<Closure&>>;
        static_assert(std::is_arithmetic_v<Returned>,
                      "Lbfgs::step: the closure must return the loss as a number, e.g. `return loss.item();`");
        auto evaluate = [&] {
            ++total_evaluations_;
            params_.zero_grad();
            const double loss = static_cast<double>(closure());
            detail::gather_gradients(params_, trial_gradient_);
            return loss;
        };

        const double initial_loss = evaluate();
        if (!usable(initial_loss, trial_gradient_)) {
            if (!moved_without_evaluating_)
                throw value_error("Lbfgs: the loss (" + std::to_string(initial_loss) +
                                  ") or its gradient is not finite where step() began; nothing was changed");
            move_to(0.0);
            moved_without_evaluating_ = false;
            throw value_error("Lbfgs: the loss (" + std::to_string(initial_loss) +
                              ") or its gradient is not finite after the last step() ended with a fixed step of "
                              "length " +
                              std::to_string(step_length_) +
                              " that it did not evaluate; the Params are back where that iteration began (try a "
                              "smaller lr with set_lr, or LineSearch::StrongWolfe)");
        }
        moved_without_evaluating_ = false;
        gradient_ = trial_gradient_;
        double loss = initial_loss;
        std::optional<double> final_loss = loss;
        int evaluations = 1;
        const long max_eval = options_.max_eval > 0 ? options_.max_eval : options_.max_iter * 5L / 4;

        if (gradient_.cwiseAbs().maxCoeff() <= static_cast<T>(options_.tolerance_grad))
            return {initial_loss, final_loss, 0, evaluations, LbfgsStop::SmallGradient};

        for (int iteration = 1;; ++iteration) {
            ++total_iterations_;
            choose_direction();
            previous_gradient_ = gradient_;
            previous_loss_ = loss;

            step_length_ = total_iterations_ == 1
                               ? std::min(1.0, 1.0 / static_cast<double>(gradient_.cwiseAbs().sum())) * options_.lr
                               : options_.lr;
            const double slope = static_cast<double>(gradient_.dot(direction_));
            if (slope > -options_.tolerance_change)
                return finish(initial_loss, final_loss, iteration, evaluations, LbfgsStop::NoDescent);

            detail::gather_values(params_, x_start_);
            bool small_gradient = false;
            try {
                if (options_.line_search == LineSearch::StrongWolfe) {
                    const auto [found_loss, found_step, calls] = strong_wolfe(evaluate, loss, slope);
                    loss = found_loss;
                    step_length_ = found_step;
                    evaluations += calls;
                    move_to(step_length_);
                    final_loss = loss;
                } else {
                    move_to(step_length_);
                    final_loss.reset();
                    moved_without_evaluating_ = iteration == options_.max_iter;
                    if (!moved_without_evaluating_) {
                        loss = evaluate();
                        ++evaluations;
                        if (!usable(loss, trial_gradient_)) {
                            move_to(0.0);
                            throw value_error("Lbfgs: the loss (" + std::to_string(loss) +
                                              ") or its gradient is not finite after a step of length " +
                                              std::to_string(step_length_) +
                                              "; the Params are back where the iteration began (try a smaller lr "
                                              "with set_lr, or LineSearch::StrongWolfe)");
                        }
                        gradient_ = trial_gradient_;
                        final_loss = loss;
                    }
                }
                small_gradient = gradient_.cwiseAbs().maxCoeff() <= static_cast<T>(options_.tolerance_grad);
            } catch (...) {
                // Back to where the iteration began, which was evaluated, and as if it had
                // not started: a first iteration is first again, with its short first step.
                move_to(0.0);
                moved_without_evaluating_ = false;
                --total_iterations_;
                throw;
            }

            if (iteration == options_.max_iter)
                return finish(initial_loss, final_loss, iteration, evaluations, LbfgsStop::Iterations);
            if (evaluations >= max_eval)
                return finish(initial_loss, final_loss, iteration, evaluations, LbfgsStop::Evaluations);
            if (small_gradient)
                return finish(initial_loss, final_loss, iteration, evaluations, LbfgsStop::SmallGradient);
            if (std::abs(step_length_) * static_cast<double>(direction_.cwiseAbs().maxCoeff()) <=
                    options_.tolerance_change ||
                std::abs(loss - previous_loss_) < options_.tolerance_change)
                return finish(initial_loss, final_loss, iteration, evaluations, LbfgsStop::SmallChange);
        }
    }

    // The first step length of later iterations (PyTorch's param_groups[0]["lr"]).
    void set_lr(double lr) {
        if (!(lr > 0 && std::isfinite(lr))) throw value_error("Lbfgs: lr must be positive and finite");
        options_.lr = lr;
    }

    // Iterations (completed or stopped by a tolerance) and closure calls over every step() so far.
    long iterations() const { return total_iterations_; }
    long evaluations() const { return total_evaluations_; }
    // Iterations the history holds (at most history_size).
    int remembered() const { return remembered_; }

    const ParamSet<T>& params() const { return params_; }
    const LbfgsOptions& options() const { return options_; }

private:
    // One remembered iteration: its step s = x' - x and gradient change y = g' - g.
    struct Pair {
        Vector step, gradient_change;
        double inverse_curvature;  // 1 / (y . s)
    };

    void check_options() const {
        auto positive = [](double v) { return v > 0 && std::isfinite(v); };
        if (!positive(options_.lr)) throw value_error("Lbfgs: lr must be positive and finite");
        if (options_.max_iter < 1) throw value_error("Lbfgs: max_iter must be at least 1");
        if (options_.max_eval < 0) throw value_error("Lbfgs: max_eval must be at least 1 (or 0 for the default)");
        if (options_.history_size < 1) throw value_error("Lbfgs: history_size must be at least 1");
        if (!(options_.tolerance_grad >= 0) || !(options_.tolerance_change >= 0))
            throw value_error("Lbfgs: the tolerances must not be negative");
    }

    static LbfgsReport finish(double initial_loss, std::optional<double> loss, int iterations, int evaluations,
                              LbfgsStop why) {
        return {initial_loss, loss, iterations, evaluations, why};
    }

    static bool usable(double loss, const Vector& gradient) { return std::isfinite(loss) && gradient.allFinite(); }

    // Params = x_start + t d, where the iteration began and along its direction.
    void move_to(double t) {
        if (t == 0.0)
            detail::set_values(params_, x_start_);
        else
            detail::set_values(params_, x_start_ + static_cast<T>(t) * direction_);
    }

    // The direction -H g, H the inverse Hessian estimate from the history (the two-loop
    // recursion), after remembering the last iteration if its curvature y.s is positive.
    void choose_direction() {
        if (total_iterations_ == 1) {
            direction_ = -gradient_;
            remembered_ = 0;
            first_ = 0;
            diagonal_ = 1.0;
            return;
        }
        remember_last_iteration();
        Vector& q = direction_;
        q = -gradient_;
        for (int i = remembered_ - 1; i >= 0; --i) {
            const Pair& pair = remembered(i);
            alpha_[static_cast<std::size_t>(i)] = static_cast<double>(pair.step.dot(q)) * pair.inverse_curvature;
            q -= static_cast<T>(alpha_[static_cast<std::size_t>(i)]) * pair.gradient_change;
        }
        q *= static_cast<T>(diagonal_);
        for (int i = 0; i < remembered_; ++i) {
            const Pair& pair = remembered(i);
            const double beta = static_cast<double>(pair.gradient_change.dot(q)) * pair.inverse_curvature;
            q += static_cast<T>(alpha_[static_cast<std::size_t>(i)] - beta) * pair.step;
        }
    }

    void remember_last_iteration() {
        // y = g - g_prev and s = t d, written into the ring's spare pair, which becomes the
        // newest if the curvature is positive (and the oldest becomes the spare once full).
        // The ring grows to history_size + 1 pairs as iterations are remembered; until it
        // is full, first_ is 0.
        if (static_cast<std::size_t>(remembered_) == history_.size()) {
            history_.emplace_back();
            alpha_.push_back(0.0);
        }
        const int ring = static_cast<int>(history_.size());
        Pair& pair = history_[static_cast<std::size_t>((first_ + remembered_) % ring)];
        pair.gradient_change = gradient_ - previous_gradient_;
        pair.step = static_cast<T>(step_length_) * direction_;
        const double curvature = static_cast<double>(pair.gradient_change.dot(pair.step));
        if (!(curvature > 1e-10)) return;  // not remembered: the slot is written again next time
        pair.inverse_curvature = 1.0 / curvature;
        if (remembered_ < options_.history_size)
            ++remembered_;
        else
            first_ = (first_ + 1) % ring;
        diagonal_ = curvature / static_cast<double>(pair.gradient_change.squaredNorm());
    }

    const Pair& remembered(int i) const { return history_[(static_cast<std::size_t>(first_ + i)) % history_.size()]; }

    struct Found {
        double loss, step;
        int evaluations;
    };

    // The cubic through (x1, f1) and (x2, f2) with slopes g1, g2: its minimiser, clamped to
    // [lo, hi]. PyTorch's _cubic_interpolate, except that where it would give NaN (from a
    // point the line search treats as too far, or 0/0) it bisects.
    static double cubic_minimum(double x1, double f1, double g1, double x2, double f2, double g2, double lo,
                                double hi) {
        const double d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2);
        const double d2_square = d1 * d1 - g1 * g2;
        if (!(d2_square >= 0)) return (lo + hi) / 2;
        const double d2 = std::sqrt(d2_square);
        const double minimum = x1 <= x2 ? x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
                                        : x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2));
        if (std::isnan(minimum)) return (lo + hi) / 2;  // an infinite one is clamped, as PyTorch's
        return std::min(std::max(minimum, lo), hi);
    }
    static double cubic_minimum(double x1, double f1, double g1, double x2, double f2, double g2) {
        return cubic_minimum(x1, f1, g1, x2, f2, g2, std::min(x1, x2), std::max(x1, x2));
    }

    // A step length along direction_ that meets the strong Wolfe conditions (sufficient
    // decrease c1 = 1e-4, curvature c2 = 0.9), as PyTorch's _strong_wolfe finds it:
    // bracket, then zoom, at most 26 evaluations. Leaves the Params at x_start_ and the
    // chosen point's gradient in gradient_.
    template <class Evaluate>
    Found strong_wolfe(Evaluate& evaluate, double f, double slope) {
        constexpr double c1 = 1e-4, c2 = 0.9;
        constexpr int max_evaluations = 25;
        const double direction_size = static_cast<double>(direction_.cwiseAbs().maxCoeff());
        // The loss at x_start + t d and the slope along d there; a point whose loss or
        // gradient is not finite counts as infinitely high, with an unknown slope.
        auto try_step = [&](double t) {
            move_to(t);
            double loss = evaluate();
            move_to(0.0);
            if (!usable(loss, trial_gradient_)) loss = std::numeric_limits<double>::infinity();
            return std::pair{loss, static_cast<double>(trial_gradient_.dot(direction_))};
        };

        double t = step_length_;
        double f_new, slope_new;
        std::tie(f_new, slope_new) = try_step(t);
        int calls = 1;

        // Bracketing: bracket[0..1] with their losses, slopes and gradients.
        double bracket[2], bracket_f[2], bracket_slope[2];
        bool done = false, bracketed = false;
        double t_prev = 0, f_prev = f, slope_prev = slope;
        previous_trial_gradient_ = gradient_;
        int iteration = 0;
        auto bracket_between = [&](double a, double fa, double sa, const Vector& ga, double b, double fb, double sb,
                                   const Vector& gb) {
            bracket[0] = a, bracket_f[0] = fa, bracket_slope[0] = sa, bracket_gradient_[0] = ga;
            bracket[1] = b, bracket_f[1] = fb, bracket_slope[1] = sb, bracket_gradient_[1] = gb;
            bracketed = true;
        };
        while (iteration < max_evaluations) {
            if (f_new > f + c1 * t * slope || (iteration > 1 && f_new >= f_prev)) {
                bracket_between(t_prev, f_prev, slope_prev, previous_trial_gradient_, t, f_new, slope_new,
                                trial_gradient_);
                break;
            }
            if (std::abs(slope_new) <= -c2 * slope) {
                bracket_between(t, f_new, slope_new, trial_gradient_, t, f_new, slope_new, trial_gradient_);
                done = true;
                break;
            }
            if (slope_new >= 0) {
                bracket_between(t_prev, f_prev, slope_prev, previous_trial_gradient_, t, f_new, slope_new,
                                trial_gradient_);
                break;
            }
            const double next =
                cubic_minimum(t_prev, f_prev, slope_prev, t, f_new, slope_new, t + 0.01 * (t - t_prev), t * 10);
            t_prev = t, f_prev = f_new, slope_prev = slope_new;
            previous_trial_gradient_ = trial_gradient_;
            t = next;
            std::tie(f_new, slope_new) = try_step(t);
            ++calls;
            ++iteration;
        }
        if (!bracketed)  // no bracket in 25 tries: between the start and the last point
            bracket_between(0, f, slope, gradient_, t, f_new, slope_new, trial_gradient_);

        // Zoom: shrink the bracket around a point that meets both conditions.
        int low = bracket_f[0] <= bracket_f[1] ? 0 : 1, high = 1 - low;
        bool insufficient_progress = false;
        while (!done && iteration < max_evaluations) {
            // PyTorch's step() leaves _strong_wolfe's own tolerance_change at its default.
            if (std::abs(bracket[1] - bracket[0]) * direction_size < 1e-9) break;
            t = cubic_minimum(bracket[0], bracket_f[0], bracket_slope[0], bracket[1], bracket_f[1], bracket_slope[1]);
            // Near an end of the bracket (or past it twice running), move a tenth of its width inside.
            const double top = std::max(bracket[0], bracket[1]), bottom = std::min(bracket[0], bracket[1]);
            const double margin = 0.1 * (top - bottom);
            if (std::min(top - t, t - bottom) < margin) {
                if (insufficient_progress || t >= top || t <= bottom) {
                    t = std::abs(t - top) < std::abs(t - bottom) ? top - margin : bottom + margin;
                    insufficient_progress = false;
                } else {
                    insufficient_progress = true;
                }
            } else {
                insufficient_progress = false;
            }
            std::tie(f_new, slope_new) = try_step(t);
            ++calls;
            ++iteration;
            if (f_new > f + c1 * t * slope || f_new >= bracket_f[low]) {
                bracket[high] = t, bracket_f[high] = f_new, bracket_slope[high] = slope_new;
                bracket_gradient_[high] = trial_gradient_;
                low = bracket_f[0] <= bracket_f[1] ? 0 : 1;
                high = 1 - low;
            } else {
                if (std::abs(slope_new) <= -c2 * slope) {
                    done = true;
                } else if (slope_new * (bracket[high] - bracket[low]) >= 0) {
                    bracket[high] = bracket[low], bracket_f[high] = bracket_f[low];
                    bracket_slope[high] = bracket_slope[low];
                    bracket_gradient_[high] = bracket_gradient_[low];
                }
                bracket[low] = t, bracket_f[low] = f_new, bracket_slope[low] = slope_new;
                bracket_gradient_[low] = trial_gradient_;
            }
        }
        gradient_ = bracket_gradient_[low];
        return {bracket_f[low], bracket[low], calls};
    }

    ParamSet<T> params_;
    LbfgsOptions options_;
    Index size_ = 0;

    // Kept between step() calls, as PyTorch keeps them in its state.
    std::vector<Pair> history_;  // a ring of up to history_size + 1 pairs: remembered_ of them from first_
    std::vector<double> alpha_;
    int remembered_ = 0, first_ = 0;
    double diagonal_ = 1.0;  // the initial inverse Hessian's scale, y.s / y.y of the newest pair
    Vector direction_, previous_gradient_;
    double step_length_ = 0, previous_loss_ = 0;
    bool moved_without_evaluating_ = false;  // the last fixed step, taken without evaluating where it led
    long total_iterations_ = 0, total_evaluations_ = 0;

    // Working memory of one step(), allocated once.
    Vector gradient_, x_start_, trial_gradient_, previous_trial_gradient_, bracket_gradient_[2];
};

}  // namespace tapestry::nn
