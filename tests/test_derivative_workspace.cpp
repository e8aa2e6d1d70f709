// jvp, hvp and gnvp with a DerivativeWorkspace kept between calls: the same results as
// with a fresh one (which the calls without a workspace make), whatever ran before in it,
// also for a smaller set of the same Params; its tape active only inside a call; what f made
// gone at the next call; a throwing f leaves it usable; an f that uses it is refused. (That a call after the first
// allocates nothing: test_allocations_of_derivatives.cpp.)

#include <optional>

#include <catch2/catch.hpp>

#include <tapestry/functional/gnvp.hpp>
#include <tapestry/functional/hvp.hpp>
#include <tapestry/functional/jvp.hpp>
#include <tapestry/tapestry.hpp>

#include "helpers.hpp"

using namespace tapestry;
using test::MessageContains;

namespace {

// A tied autoencoder whose W is read twice, on a batch of `batch` columns.
struct TiedAutoencoder {
    explicit TiedAutoencoder(Index batch)
        : W(test::random_param<4, 6>(4, 6)),
          b1(test::random_param<4, 1>(4, 1)),
          b2(test::random_param<6, 1>(6, 1)),
          x(test::random_matrix(6, batch, 0.0, 1.0)) {}

    auto logits() { return evaluate(W.transpose() * sigmoid(W * constant(x) + b1) + b2); }
    auto loss_of(const Var<double, 6, Dynamic>& z) { return sigmoid_cross_entropy(z, constant(x)); }
    auto loss() { return loss_of(logits()); }

    Param<double, 4, 6> W;
    Param<double, 4, 1> b1;
    Param<double, 6, 1> b2;
    Eigen::MatrixXd x;
    nn::ParamSet<double> params{{"W", W}, {"b1", b1}, {"b2", b2}};
};

}  // namespace

TEST_CASE("with a workspace, jvp, hvp and gnvp give what they give without one, call after call") {
    TiedAutoencoder model(5);
    const auto loss = [&] { return model.loss(); };
    const auto logits = [&] { return model.logits(); };
    const auto loss_of = [&](const auto& z) { return model.loss_of(z); };
    DerivativeWorkspace<double> workspace;
    for (int call = 0; call < 3; ++call) {
        INFO("call " << call);
        const Eigen::VectorXd v = test::random_matrix(34, 1);
        const JvpResult<double> fresh_jvp = jvp(loss, model.params, v);
        const JvpResult<double>& reused_jvp = jvp(loss, model.params, v, workspace);
        CHECK(reused_jvp.value == fresh_jvp.value);
        CHECK(reused_jvp.tangent == fresh_jvp.tangent);

        const HvpResult<double> fresh_hvp = hvp(loss, model.params, v);
        const HvpResult<double>& reused_hvp = hvp(loss, model.params, v, workspace);
        CHECK(reused_hvp.value == fresh_hvp.value);
        CHECK(reused_hvp.gradient == fresh_hvp.gradient);
        CHECK(reused_hvp.product == fresh_hvp.product);

        const GnvpResult<double> fresh_gnvp = gnvp(logits, loss_of, model.params, v);
        const GnvpResult<double>& reused_gnvp = gnvp(logits, loss_of, model.params, v, workspace);
        CHECK(reused_gnvp.value == fresh_gnvp.value);
        CHECK(reused_gnvp.product == fresh_gnvp.product);
        CHECK(reused_gnvp.product != reused_hvp.product);  // G is not H: the comparisons can fail

        // The Params move between calls, so that each call differentiates at a new point.
        model.W.value().array() += 0.1;
    }

    SECTION("another f, with Params of other sizes, in the same workspace") {
        auto P = test::random_param<Dynamic, Dynamic>(7, 3);
        const nn::ParamSet<double> others{{"P", P}};
        const auto f = [&] { return sum(square(tanh(P))) + sum(hadamard(P, P)); };
        const Eigen::VectorXd v = test::random_matrix(21, 1);
        CHECK(hvp(f, others, v, workspace).product == hvp(f, others, v).product);
        CHECK(jvp(f, others, v, workspace).tangent == jvp(f, others, v).tangent);
    }
    SECTION("a smaller set of the same Params: those left out are held fixed, not given the last call's direction") {
        const nn::ParamSet<double> only_W{{"W", model.W}};
        model.b1.grad().setConstant(4.0);
        const Eigen::VectorXd v = test::random_matrix(24, 1);
        const HvpResult<double> fresh = hvp(loss, only_W, v);
        const HvpResult<double>& reused = hvp(loss, only_W, v, workspace);
        CHECK(reused.product == fresh.product);
        CHECK(reused.gradient == fresh.gradient);
        CHECK((model.b1.grad().array() == 4.0).all());
        const GnvpResult<double>& reused_gnvp = gnvp(logits, loss_of, only_W, v, workspace);
        CHECK(reused_gnvp.product == gnvp(logits, loss_of, only_W, v).product);
        CHECK(jvp(loss, only_W, v, workspace).tangent == jvp(loss, only_W, v).tangent);
    }
    SECTION("moved to another workspace between calls; not during one") {
        const Eigen::VectorXd v = test::random_matrix(34, 1);
        std::optional<Var<double, 6, Dynamic>> made_before;
        hvp(
            [&] {
                made_before = model.logits();
                return model.loss_of(*made_before);
            },
            model.params, v, workspace);
        DerivativeWorkspace<double> moved = std::move(workspace);
        CHECK(made_before->value().allFinite());  // the tape moved with the workspace
        CHECK(hvp(loss, model.params, v, moved).product == hvp(loss, model.params, v).product);
        CHECK(hvp(loss, model.params, v, workspace).product == hvp(loss, model.params, v).product);
        const auto moves_its_workspace = [&] {
            DerivativeWorkspace<double> taken = std::move(moved);
            return model.loss();
        };
        CHECK_THROWS_MATCHES(hvp(moves_its_workspace, model.params, v, moved), tape_error,
                             MessageContains("moved while a call on it has not returned"));
        CHECK(hvp(loss, model.params, v, moved).product == hvp(loss, model.params, v).product);
    }
}

TEST_CASE("a workspace's tape is active only inside a call, and what f made is gone at the next call") {
    TiedAutoencoder model(3);
    DerivativeWorkspace<double> workspace;
    const Eigen::VectorXd v = test::random_matrix(34, 1);
    std::optional<Var<double, 4, Dynamic>> kept;  // a value f made, kept past the call
    const auto f = [&] {
        kept = evaluate(sigmoid(model.W * constant(model.x) + model.b1));
        return sum(square(*kept));
    };

    Tape outer;
    const auto recorded_before = outer.size();
    hvp(f, model.params, v, workspace);
    CHECK(Tape::active() == &outer);
    CHECK(outer.size() == recorded_before);  // f recorded on the workspace's tape
    // Between calls, the program records onto its own tape.
    Var<double, 4, 1> between = tanh(model.b1);
    CHECK(outer.size() == recorded_before + 1);
    // A value of the last call may still be read, but not used on another tape.
    CHECK(kept->value().allFinite());
    CHECK_THROWS_MATCHES(evaluate(*kept + 1.0), tape_error, MessageContains("recorded on another tape"));

    const Var<double, 4, Dynamic> from_first_call = *kept;
    jvp(f, model.params, v, workspace);  // another kind of call: another tape, from_first_call stays
    CHECK(from_first_call.value().allFinite());
    hvp(f, model.params, v, workspace);  // the same tape, cleared: from_first_call is gone
    CHECK_THROWS_MATCHES(from_first_call.value(), tape_error, MessageContains("cleared since"));
    CHECK(between.value().allFinite());
}

TEST_CASE("an f that throws leaves the workspace usable, the Params' gradients and the user's tape as they were") {
    TiedAutoencoder model(4);
    DerivativeWorkspace<double> workspace;
    const Eigen::VectorXd v = test::random_matrix(34, 1);
    const auto loss = [&] { return model.loss(); };
    const HvpResult<double> before = hvp(loss, model.params, v, workspace);

    model.W.grad().setConstant(2.0);
    Tape outer;
    const auto throwing = [&] {
        const Var<double, 4, Dynamic> started = tanh(model.W * constant(model.x));  // recorded, then abandoned
        if (started.value().allFinite()) throw value_error("f gave up");
        return sum(model.b1);
    };
    CHECK_THROWS_MATCHES(hvp(throwing, model.params, v, workspace), value_error, MessageContains("f gave up"));
    CHECK_THROWS_MATCHES(
        gnvp([&] { return model.logits(); },
             [&](const auto&) -> Var<double, 1, 1> { throw value_error("loss gave up"); }, model.params, v, workspace),
        value_error, MessageContains("loss gave up"));
    CHECK_THROWS_AS(jvp(loss, model.params, Eigen::VectorXd::Ones(3), workspace), shape_error);
    CHECK_THROWS_MATCHES(jvp(throwing, model.params, v, workspace), value_error, MessageContains("f gave up"));
    // An f that uses the workspace it is differentiated with would overwrite what the
    // call reads: refused, by name.
    const auto nested = [&] {
        jvp(loss, model.params, v, workspace);
        return model.loss();
    };
    CHECK_THROWS_MATCHES(hvp(nested, model.params, v, workspace), tape_error,
                         MessageContains("jvp: its DerivativeWorkspace is in use by a call that has not returned"));
    CHECK(Tape::active() == &outer);
    CHECK(outer.size() == 0);
    CHECK((model.W.grad().array() == 2.0).all());

    const HvpResult<double>& after = hvp(loss, model.params, v, workspace);
    CHECK(after.product == before.product);
    CHECK(after.gradient == before.gradient);
    CHECK(jvp(loss, model.params, v, workspace).tangent == jvp(loss, model.params, v).tangent);
    const auto logits = [&] { return model.logits(); };
    const auto loss_of = [&](const auto& z) { return model.loss_of(z); };
    CHECK(gnvp(logits, loss_of, model.params, v, workspace).product == gnvp(logits, loss_of, model.params, v).product);
}

// For the sanitized builds: the steps the workspace's tapes keep are destroyed at the
// next call, after the Params they read are gone.
TEST_CASE("a workspace outlives the Params it saw, and serves new ones") {
    DerivativeWorkspace<double> workspace;
    const Eigen::VectorXd v = test::random_matrix(34, 1);
    {
        TiedAutoencoder first(2);
        hvp([&] { return first.loss(); }, first.params, v, workspace);
        jvp([&] { return first.loss(); }, first.params, v, workspace);
    }  // the Params are gone; the workspace's tapes still hold the steps that read them
    TiedAutoencoder second(3);
    const auto loss = [&] { return second.loss(); };
    CHECK(hvp(loss, second.params, v, workspace).product == hvp(loss, second.params, v).product);
}
