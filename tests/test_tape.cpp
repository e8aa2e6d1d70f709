// The tape's contract: recording, accumulation, clear() and reuse, nesting,
// inference without a tape, and the errors for misuse.

#include <memory>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include "helpers.hpp"

using namespace tapestry;
using test::random_matrix;
using test::random_param;

TEST_CASE("backward adds into grad() across calls until zero_grad()") {
    auto W = random_param<3, 4>(3, 4);
    const Eigen::MatrixXd x = random_matrix(4, 2);
    Eigen::MatrixXd once;
    {
        Tape tape;
        tape.backward(sum(tanh(W * constant(x))));
        once = W.grad();
        tape.backward(sum(tanh(W * constant(x))));
        CHECK(W.grad().isApprox(2 * once, 1e-14));
    }
    {
        Tape tape;
        auto loss = sum(tanh(W * constant(x)));
        tape.backward(loss);  // the same loss swept again gives the same contribution again
        tape.backward(loss);
        CHECK(W.grad().isApprox(4 * once, 1e-14));
    }
    W.zero_grad();
    CHECK(W.grad().isZero());
}

// zero_grad() only marks the gradient stale; the first write of the next backward pass
// overwrites it (elementwise) or fills in the zeros first (a GEMM can only add).
TEST_CASE("after zero_grad() every kind of use gives the gradient of one backward pass, not a sum") {
    auto W = random_param<3, 3>(3, 3);
    auto b = random_param<3, 1>(3, 1);
    // A batch of one makes W's product gradients outer products, which overwrite a stale gradient.
    const Index batch = GENERATE(4, 1);
    const Eigen::MatrixXd x = random_matrix(3, batch);
    // W as a product's left operand, transposed as a right one, elementwise; b broadcast.
    // Recorded first, the elementwise use of W is swept last: the GEMMs meet the stale memory.
    const auto loss = [&] {
        Var<double, 1, 1> elementwise = sum(square(W));
        Var<double, 1, 1> products =
            sum(tanh(W * constant(x) + b)) + sum(square(constant(x).transpose() * W.transpose()));
        return elementwise + products + sum(b);
    };
    Eigen::MatrixXd dW, db;
    {
        Tape tape;
        tape.backward(loss());
        dW = W.grad();
        db = b.grad();
    }
    REQUIRE(!dW.isZero());
    SECTION("zero_grad() before recording") {
        W.zero_grad();
        b.zero_grad();
        Tape tape;
        tape.backward(loss());
    }
    SECTION("zero_grad() between recording and backward") {
        Tape tape;
        auto recorded = loss();
        W.zero_grad();
        b.zero_grad();
        tape.backward(recorded);
    }
    SECTION("through a ParamSet") {
        nn::ParamSet<double> params{{"W", W}, {"b", b}};
        params.zero_grad();
        CHECK(params[0].grad().isZero());  // reading writes the zeros
        Tape tape;
        tape.backward(loss());
    }
    CHECK(W.grad().isApprox(dW, 1e-14));
    CHECK(b.grad().isApprox(db, 1e-14));
    W.zero_grad();
    const Param<double, 3, 3> copy = W;
    CHECK(copy.grad().isZero());
    CHECK(W.grad().isZero());
}

TEST_CASE("a Param used twice receives the sum of both gradients") {
    auto W = random_param<3, 3>(3, 3);
    auto V = Param<double, 3, 3>(W.value());  // an untied copy
    auto U = Param<double, 3, 3>(W.value());
    const Eigen::MatrixXd x = random_matrix(3, 5);
    {
        Tape tape;
        tape.backward(sum(sigmoid(W.transpose() * tanh(W * constant(x)))));
    }
    {
        Tape tape;
        tape.backward(sum(sigmoid(U.transpose() * tanh(V * constant(x)))));
    }
    CHECK(W.grad().isApprox(V.grad() + U.grad(), 1e-14));
    CHECK_FALSE(V.grad().isApprox(U.grad(), 1e-3));  // the two uses really contribute differently
}

// Adjoints are not zeroed before a first-order sweep (Recording::sweep_backward): the
// first step that sends a value a gradient writes over its adjoint, whether it writes
// all of it, part of it or a product into it, and the later ones add.
namespace {

// P's gradient from a fresh tape, and from a tape whose adjoints still hold the values
// of the same step run before: an adjoint that is added into without being written
// first shows up as a difference.
template <class F, class P>
std::pair<Eigen::MatrixXd, Eigen::MatrixXd> fresh_and_reused_gradients(F&& step, P& param) {
    std::pair<Eigen::MatrixXd, Eigen::MatrixXd> gradients;
    {
        param.zero_grad();
        Tape fresh;
        fresh.backward(step());
        gradients.first = param.grad();
    }
    Tape reused;
    reused.backward(step());
    reused.clear();
    param.zero_grad();
    reused.backward(step());
    gradients.second = param.grad();
    return gradients;
}

}  // namespace

TEST_CASE("the first step to send a value a gradient writes over its adjoint, whatever part of it it writes") {
    auto P = random_param<4, 6>(4, 6);
    auto Q = random_param<6, 3>(6, 3);
    const std::vector<int> ids{5, 0, 5};
    const std::vector<int> labels{1, 3, 0, 2, 2, 1};
    // In each, x is used twice; the step recorded last sends its gradient first: a block,
    // gathered columns, a product, the labels' entries, and an elementwise step.
    const auto check = [&](auto&& step, const char* first_writer) {
        INFO("x's first gradient from " << first_writer);
        CHECK(gradcheck(step, P, Q) < test::gradient_tolerance);
        const auto [fresh, reused] = fresh_and_reused_gradients(step, P);
        CHECK(reused.isApprox(fresh, 1e-14));
        CHECK(fresh.norm() > 0.1);
    };
    check(
        [&] {
            auto x = tanh(P);
            auto squares = sum(square(x));
            return squares + sum(block<2, 3>(x, 1, 2));
        },
        "a block");
    check(
        [&] {
            auto x = tanh(P);
            auto squares = sum(square(x));
            return squares + sum(gather_columns(x, ids));
        },
        "gathered columns");
    check(
        [&] {
            auto x = tanh(P);
            auto squares = sum(square(x));
            return squares + sum(sigmoid(x * Q));
        },
        "a product");
    check(
        [&] {
            auto x = log_softmax(P);
            auto squares = sum(square(x)) * 0.01;
            return squares + nll_loss(x, labels);
        },
        "the labels' entries");
    check(
        [&] {
            auto x = tanh(P);
            auto corner = sum(block<2, 3>(x, 1, 2));
            return corner + sum(square(x) * 0.5) + sum(hadamard(x, x));
        },
        "an elementwise step, then a block");
}

TEST_CASE("a sweep from an earlier output leaves out the steps after it; a step no gradient reaches is skipped") {
    auto P = random_param<3, 4>(3, 4);
    const Eigen::ArrayXXd t = P.value().array().tanh();
    Tape tape;
    auto x = tanh(P);
    auto first = sum(x);
    auto later = sum(square(x));  // recorded after `first`: its step does not run in first's sweep
    tape.backward(first);
    CHECK(P.grad().array().isApprox(1 - t.square(), 1e-14));
    P.zero_grad();
    tape.backward(later);
    CHECK(P.grad().array().isApprox(2 * t * (1 - t.square()), 1e-14));

    // sqrt(P - P) is 0 where its derivative is infinite; nothing reads it, so its step
    // runs no more: 0 times infinity would have sent NaN into P's gradient.
    P.zero_grad();
    Tape other;
    const Var<double, 3, 4> unused = sqrt(P - P);  // a Var: recorded (auto would keep it lazy)
    other.backward(sum(P + P));
    CHECK(P.grad().isApprox(Eigen::MatrixXd::Constant(3, 4, 2.0), 1e-15));
    CHECK(unused.value().isZero());
}

TEST_CASE("clear() drops the nodes, keeps the memory, and a same-shaped step reuses it") {
    auto W = random_param<Dynamic, Dynamic>(20, 30);
    const Eigen::MatrixXd x = random_matrix(30, 8);
    Tape tape;
    auto step = [&] { tape.backward(mse(sigmoid(W * constant(x)), Eigen::MatrixXd::Zero(20, 8))); };
    step();
    CHECK(tape.size() > 0);
    const std::size_t bytes = tape.bytes();
    CHECK(bytes >= 2 * 20 * 8 * sizeof(double));
    for (int i = 0; i < 3; ++i) {
        tape.clear();
        CHECK(tape.size() == 0);
        step();
        CHECK(tape.bytes() == bytes);
    }
}

TEST_CASE("a Var whose tape was cleared or destroyed throws tape_error instead of reading freed memory") {
    auto W = random_param<2, 2>(2, 2);
    SECTION("cleared") {
        Tape tape;
        Var<double, 2, 2> h = tanh(W);
        CHECK_NOTHROW(h.value());
        tape.clear();
        CHECK_THROWS_AS(h.value(), tape_error);
        CHECK_THROWS_AS(sigmoid(h), tape_error);
        CHECK_THROWS_AS(h * W, tape_error);
        CHECK_THROWS_AS(tape.backward(sum(h)), tape_error);
    }
    SECTION("a lazy expression over a cleared Var") {
        Tape tape;
        Var<double, 2, 2> h = tanh(W);
        auto later = sigmoid(h) + W;
        tape.clear();
        using Square = Var<double, 2, 2>;
        CHECK_THROWS_AS(Square(later), tape_error);
    }
    SECTION("destroyed") {
        Var<double, 2, 2> h;
        {
            Tape tape;
            h = tanh(W);
        }
        CHECK_THROWS_MATCHES(h.value(), tape_error, test::MessageContains("destroyed"));
    }
    SECTION("destroyed, and its record taken by the tape made since") {
        // A tape's record of its epochs is recycled, never freed: the next tape takes it
        // (the pool is last-in first-out), and a Var of the first must still say what happened.
        Var<double, 2, 2> h;
        {
            Tape first;
            h = tanh(W);
        }
        Tape second;
        Var<double, 2, 2> made_since = tanh(W);
        REQUIRE(detail::VarAccess::parts(made_since).life == detail::VarAccess::parts(h).life);
        CHECK_THROWS_MATCHES(h.value(), tape_error, test::MessageContains("destroyed"));
        CHECK_THROWS_MATCHES(sigmoid(h), tape_error, test::MessageContains("destroyed"));
        CHECK_NOTHROW(made_since.value());
        second.clear();
        CHECK_THROWS_MATCHES(made_since.value(), tape_error, test::MessageContains("cleared"));
        CHECK_THROWS_MATCHES(h.value(), tape_error, test::MessageContains("destroyed"));
    }
    SECTION("a cleared Var's message") {
        Tape tape;
        Var<double, 2, 2> h = tanh(W);
        tape.clear();
        CHECK_THROWS_MATCHES(h.value(), tape_error, test::MessageContains("cleared since"));
    }
    SECTION("empty") {
        Var<double, 2, 2> never_assigned;
        CHECK_THROWS_AS(never_assigned.value(), tape_error);
    }
    SECTION("the loss of another tape") {
        Tape outer;
        auto loss = sum(W);
        Tape inner;
        CHECK_THROWS_AS(inner.backward(loss), tape_error);
        CHECK_THROWS_AS(loss + W, tape_error);  // recorded on outer, used while inner is active
    }
}

TEST_CASE("nested tapes: the inner one is active until it dies, then the outer one again") {
    CHECK(Tape::active() == nullptr);
    Tape outer;
    CHECK(Tape::active() == &outer);
    {
        Tape inner;
        CHECK(Tape::active() == &inner);
    }
    CHECK(Tape::active() == &outer);
}

namespace {
// A backward pass on `tape` that reaches W, checked to give d(sum W)/dW = 1.
void tape_backward_of_a_sum(Tape& tape, Param<double, 2, 2>& W) {
    W.zero_grad();
    tape.backward(sum(W));
    CHECK(W.grad().isOnes());
}
}  // namespace

TEST_CASE("a Param copy-assigned after zero_grad() holds the copied gradient, not pending zeros") {
    auto source = random_param<2, 3>(2, 3);
    source.grad().setConstant(4.0);
    auto target = random_param<2, 3>(2, 3);
    target.zero_grad();
    target = source;
    CHECK(target.grad().isApprox(source.grad()));
    CHECK(target.value() == source.value());
}

TEST_CASE("tapes destroyed out of order leave the innermost living tape active") {
    auto W = random_param<2, 2>(2, 2);
    auto outer = std::make_unique<Tape>();
    auto middle = std::make_unique<Tape>();
    auto inner = std::make_unique<Tape>();
    middle.reset();  // not the innermost: only unlinks itself
    CHECK(Tape::active() == inner.get());
    inner.reset();
    CHECK(Tape::active() == outer.get());
    auto again = std::make_unique<Tape>();
    outer.reset();  // the outermost, while a tape inside it lives
    CHECK(Tape::active() == again.get());
    tape_backward_of_a_sum(*again, W);
    again.reset();
    CHECK(Tape::active() == nullptr);
}

TEST_CASE("a tape destroyed inside InferenceMode: nothing records there, and after it no tape is active") {
    auto W = random_param<2, 2>(2, 2);
    auto tape = std::make_unique<Tape>();
    {
        InferenceMode inference;
        tape.reset();
        CHECK(Tape::active() == nullptr);
        Var<double, 2, 2> y = sigmoid(W);  // computed without a tape
        CHECK_FALSE(y.requires_grad());
    }
    CHECK(Tape::active() == nullptr);
    Var<double, 2, 2> z = tanh(W);  // would write into the destroyed tape if it were still active
    CHECK_FALSE(z.requires_grad());
}

TEST_CASE("an InferenceMode that ends after the tape it suspended leaves the tape made inside it active") {
    auto outer = std::make_unique<Tape>();
    auto inference = std::make_unique<InferenceMode>();
    Tape inner;
    CHECK(Tape::active() == &inner);
    inference.reset();
    CHECK(Tape::active() == &inner);
    outer.reset();
    CHECK(Tape::active() == &inner);
}

TEST_CASE("a tape destroyed on another thread unlinks itself from the thread it was made on") {
    auto W = random_param<2, 2>(2, 2);
    SECTION("made here, destroyed on a worker while this thread waits") {
        auto outer = std::make_unique<Tape>();
        auto tape = std::make_unique<Tape>();
        std::thread([&] { tape.reset(); }).join();
        CHECK(Tape::active() == outer.get());
        tape_backward_of_a_sum(*outer, W);  // records onto outer, not into the destroyed tape
    }
    SECTION("made on a worker that has ended, destroyed here") {
        Tape outer;
        std::unique_ptr<Tape> tape;
        std::thread([&] { tape = std::make_unique<Tape>(); }).join();
        CHECK(Tape::active() == &outer);
        tape.reset();  // unlinks from the worker's list (alive while the tape holds it), not from this thread's
        CHECK(Tape::active() == &outer);
        tape_backward_of_a_sum(outer, W);
    }
}

TEST_CASE("a Param destroyed, resized or given new storage after a tape recorded it: tape_error, not freed memory") {
    Tape tape;
    SECTION("destroyed") {
        auto W = std::make_unique<Param<double, 3, 2>>(random_param<3, 2>(3, 2));
        auto loss = sum(tanh(*W));
        W.reset();
        auto other = random_param<3, 2>(3, 2);  // may take the destroyed Param's record
        CHECK_THROWS_MATCHES(tape.backward(loss), tape_error, test::MessageContains("Param 3x2"));
        CHECK_THROWS_MATCHES(tape.backward(loss), tape_error, test::MessageContains("destroyed"));
    }
    SECTION("a Dynamic Param assigned one of another shape") {
        auto W = random_param<Dynamic, Dynamic>(3, 2);
        auto x = random_param<Dynamic, Dynamic>(2, 4);
        auto loss = sum(W * x);
        W = random_param<Dynamic, Dynamic>(5, 5);
        CHECK_THROWS_MATCHES(tape.backward(loss), tape_error, test::MessageContains("Param 3x2"));
    }
    SECTION("a Dynamic Param resized in place through value()") {
        auto W = random_param<Dynamic, Dynamic>(3, 2);
        auto loss = sum(square(W));
        W.value().resize(30, 20);
        CHECK_THROWS_MATCHES(tape.backward(loss), tape_error, test::MessageContains("resized"));
    }
    SECTION("a Dynamic Param's gradient resized in place through grad()") {
        auto W = random_param<Dynamic, Dynamic>(3, 2);
        auto loss = sum(square(W));
        W.grad() = Eigen::MatrixXd::Zero(50, 50);  // frees the 3x2 buffer the tape would add into
        CHECK_THROWS_AS(tape.backward(loss), tape_error);
    }
    SECTION("moved: the tape reads and writes the Param it was moved into") {
        auto W = random_param<2, 2>(2, 2);
        auto loss = sum(W);
        Param<double, 2, 2> moved = std::move(W);
        moved.zero_grad();
        tape.backward(loss);
        CHECK(moved.grad().isOnes());
    }
    SECTION("assigned a Param of the same shape: the storage is kept, the tape reads the new values") {
        auto W = random_param<2, 2>(2, 2);
        auto loss = sum(square(W));
        const double* storage = W.value().data();
        W = random_param<2, 2>(2, 2);  // move assignment copies into W's own storage
        CHECK(W.value().data() == storage);
        W.zero_grad();
        tape.backward(loss);
        CHECK(W.grad().isApprox(2 * W.value()));
    }
}

TEST_CASE("a Dynamic Param re-initialised in place through value() or grad() takes the new shape at its next use") {
    SECTION("value() assigned a matrix of another shape before anything recorded it") {
        auto W = random_param<Dynamic, Dynamic>(2, 3);
        W.value() = Eigen::MatrixXd::Random(4, 5);
        W.zero_grad();
        Tape tape;
        tape.backward(sum(square(W)));  // wrote 20 values into a gradient of 6 before
        CHECK(W.grad().rows() == 4);
        CHECK(W.grad().isApprox(2 * W.value()));
    }
    SECTION("grad() assigned another shape: it follows the value's again, as zeros") {
        auto W = random_param<Dynamic, Dynamic>(2, 3);
        W.grad() = Eigen::MatrixXd::Ones(50, 50);
        W.zero_grad();  // wrote 6 zeros into the freed buffer before
        CHECK(W.grad().rows() == 2);
        CHECK(W.grad().cols() == 3);
        CHECK(W.grad().isZero());
    }
    SECTION("assigned from a moved-from Param: value_error; into one: a copy") {
        auto W = random_param<Dynamic, Dynamic>(2, 3);
        Param<double, Dynamic, Dynamic> taken = std::move(W);
        auto V = random_param<Dynamic, Dynamic>(2, 3);
        CHECK_THROWS_AS(V = W, value_error);  // NOLINT(bugprone-use-after-move): the misuse under test
        W = V;                                // NOLINT(bugprone-use-after-move)
        CHECK(W.value() == V.value());
        V = std::move(W);  // both alive: copied into V's own storage
        CHECK(V.rows() == 2);
    }
}

TEST_CASE("a Var used after clear() names its shape and the operation that made it") {
    auto W = random_param<3, 2>(3, 2);
    Tape tape;
    Var<double, 3, 2> h = sigmoid(W + 1.0);
    Var<double, 1, 1> s = sum(h);
    tape.clear();
    CHECK_THROWS_MATCHES(
        h.value(), tape_error,
        test::MessageContains("this Var (3x2, made by sigmoid) was recorded on a tape that has been cleared"));
    CHECK_THROWS_MATCHES(s.item(), tape_error, test::MessageContains("1x1, made by sum"));
}

TEST_CASE("without a tape nothing is recorded and the same code computes plain values") {
    auto W = random_param<3, 4>(3, 4);
    Param<double, 3, 1> b(random_matrix(3, 1));
    const Eigen::MatrixXd x = random_matrix(4, 5);
    const Eigen::MatrixXd expected =
        (1.0 / (1.0 + (-((W.value() * x).colwise() + b.value().col(0)).array()).exp())).matrix();

    Var<double, 3, Dynamic> h = sigmoid(W * constant(x) + b);  // no tape exists
    CHECK(h.value().isApprox(expected, 1e-14));
    CHECK_FALSE(h.requires_grad());

    Tape tape;
    {
        InferenceMode inference;
        Var<double, 3, Dynamic> again = sigmoid(W * constant(x) + b);
        CHECK(again.value().isApprox(expected, 1e-14));
    }
    CHECK(tape.size() == 0);
    CHECK(W.grad().isZero());
}

TEST_CASE("a shared_constant belongs to no tape: every tape reads its values in place") {
    auto w = random_param<Dynamic, 1>(6, 1);
    const Eigen::MatrixXd X = random_matrix(40, 6), y = random_matrix(40, 1);
    const std::size_t bytes_of_X = sizeof(double) * static_cast<std::size_t>(X.size());
    std::optional<Tape> first(std::in_place);  // active: a plain constant() would be copied into it
    const Var<double, Dynamic, Dynamic> data = shared_constant(X);
    const Var<double, Dynamic, 1> observed = shared_constant(y);
    CHECK(first->bytes_used().values_and_steps == 0);
    CHECK(first->size() == 0);
    CHECK(data.value() == X);
    const auto loss = [&] { return sum(square(observed - data * w)); };

    for (int call = 0; call < 2; ++call) {  // while the tape it was made under lives, then after it is gone
        if (call == 1) first.reset();
        Tape tape;
        w.zero_grad();
        tape.backward(loss());
        CHECK(tape.bytes_used().values_and_steps < bytes_of_X);  // the product's 40 values and two steps
        const Eigen::VectorXd residual = y - X * w.value();
        CHECK(w.grad().isApprox(-2.0 * X.transpose() * residual, 1e-12));
    }
    {
        Tape tape;  // the control: constant(X) under a tape is a copy of X in the tape's arena
        auto copied = constant(X);
        CHECK(tape.bytes_used().values_and_steps >= bytes_of_X);
        CHECK(copied.value() == data.value());
    }
    CHECK(gradcheck(loss, w) < test::gradient_tolerance);
}

TEST_CASE("a constant_view reads its matrix in place on any tape, with constant()'s values and gradients") {
    const Eigen::MatrixXd x = random_matrix(5, 7);
    auto W = random_param<3, 5>(3, 5);  // used twice: W and W^T, as a tied autoencoder does
    Param<double, 3, 1> b(random_matrix(3, 1));
    const auto reconstruction_error = [&](const auto& data) {
        return sum(square(W.transpose() * sigmoid(W * data + b) - data));
    };

    Eigen::MatrixXd copied_grad;
    double copied_loss = 0;
    {
        Tape tape;
        const auto loss = reconstruction_error(constant(x));
        tape.backward(loss);
        copied_loss = loss.item();
        copied_grad = W.grad();
    }
    W.zero_grad();
    b.zero_grad();
    Tape tape;
    const auto view = constant_view(x);
    CHECK(view.value().data() == x.data());  // not a copy
    CHECK_FALSE(view.requires_grad());
    CHECK(tape.bytes_used().values_and_steps == 0);
    const auto loss = reconstruction_error(view);
    tape.backward(loss);
    CHECK(loss.item() == copied_loss);  // the same arithmetic on the same values
    CHECK(W.grad() == copied_grad);
    CHECK(gradcheck([&] { return reconstruction_error(constant_view(x)); }, W, b) < test::gradient_tolerance);

    SECTION("after the tape it was made under is cleared, as a value that belongs to no tape") {
        tape.clear();
        CHECK(view.value() == x);
        Tape other;
        W.zero_grad();
        other.backward(reconstruction_error(view));
        CHECK(W.grad() == copied_grad);
    }
    SECTION("a block of whole columns is read in place too, with its static shape") {
        const Eigen::Matrix<double, 5, 7> fixed = x;
        const Var<double, 5, 2> middle = constant_view(fixed.middleCols<2>(3));
        CHECK(middle.value().data() == fixed.data() + 15);
        CHECK(middle.value() == x.middleCols(3, 2));
        const Var<double, 5, Dynamic> none = constant_view(x.leftCols(0));
        CHECK(none.cols() == 0);
        CHECK(none.value().size() == 0);
    }
    SECTION("a row of a row-major matrix, or a Ref, is read in place too") {
        const Eigen::Matrix<double, 5, 7, Eigen::RowMajor> by_rows = x;
        const Var<double, 1, 7> third_row = constant_view(by_rows.row(2));
        CHECK(third_row.value().data() == by_rows.data() + 14);
        CHECK(third_row.value() == x.row(2));
        const Eigen::Ref<const Eigen::MatrixXd> columns = x.rightCols(4);
        CHECK(constant_view(columns).value().data() == x.data() + 15);
    }
    SECTION("some rows, or a row of a column-major matrix, are not one value in memory: value_error") {
        const std::size_t recorded = tape.size();
        CHECK_THROWS_AS(constant_view(x.topRows(2)), value_error);
        CHECK_THROWS_WITH(constant_view(x.topRows(2)),
                          Catch::Contains("constant_view") && Catch::Contains("2x7") && Catch::Contains("constant()"));
        CHECK_THROWS_AS(constant_view(x.topRows(1)), value_error);         // one value every 5
        CHECK_THROWS_AS(constant_view(x.row(1)), value_error);             // the same, typed as a row
        CHECK_THROWS_AS(constant_view(x.block(2, 1, 1, 4)), value_error);  // part of a row
        const Eigen::Map<const Eigen::MatrixXd, 0, Eigen::OuterStride<>> strided(x.data(), 1, 7,
                                                                                 Eigen::OuterStride<>(5));
        CHECK_THROWS_AS(constant_view(strided), value_error);
        CHECK(tape.size() == recorded);
    }
}

TEST_CASE("auto keeps an expression lazy and correct, with no dangling temporaries") {
    auto W = random_param<4, 3>(4, 3);
    Param<double, 4, 1> b(random_matrix(4, 1));
    const Eigen::MatrixXd x = random_matrix(3, 6);
    Tape tape;
    auto h = sigmoid(W * constant(x) + b);  // the product's Var and the constant live inside h
    auto y = tanh(W.transpose() * h);
    Var<double, 3, Dynamic> evaluated = y;
    const Eigen::MatrixXd hx = (1.0 / (1.0 + (-((W.value() * x).colwise() + b.value().col(0)).array()).exp())).matrix();
    CHECK(evaluated.value().isApprox((W.value().transpose() * hx).array().tanh().matrix(), 1e-14));
    CHECK(h.value().isApprox(hx, 1e-14));  // an expression's value() is Eigen's lazy expression
}

TEST_CASE("run-time shape mismatches throw shape_error naming both shapes, before anything is recorded") {
    auto A = random_param<Dynamic, Dynamic>(3, 4);
    auto B = random_param<Dynamic, Dynamic>(3, 4);
    Tape tape;
    Var<double, Dynamic, Dynamic> a = tanh(A);
    auto square_product = A * B.transpose();
    const std::size_t recorded = tape.size();
    CHECK_THROWS_MATCHES(A * B, shape_error, test::MessageContains("3x4 and 3x4"));
    auto wide = random_param<Dynamic, Dynamic>(4, 3);
    CHECK_THROWS_MATCHES(a + wide, shape_error, test::MessageContains("3x4 and 4x3"));
    CHECK_THROWS_MATCHES(mse(A, Eigen::MatrixXd::Zero(4, 3)), shape_error, test::MessageContains("3x4 and 4x3"));
    CHECK_THROWS_MATCHES(tape.backward(square_product), shape_error, test::MessageContains("3x3 and 1x1"));
    using Var33 = Var<double, 3, 3>;
    using Param2X = Param<double, 2, Dynamic>;
    CHECK_THROWS_MATCHES(Var33(tanh(A)), shape_error, test::MessageContains("3x4 and 3x3"));
    CHECK_THROWS_MATCHES(Param2X(random_matrix(3, 4)), shape_error, test::MessageContains("3x4"));
    CHECK(tape.size() == recorded);
    CHECK(A.grad().isZero());
}

TEST_CASE("a Var can be made from a Param (a copy) or from a Var of another static shape (the same value)") {
    auto W = random_param<3, 1>(3, 1);
    Tape tape;
    Var<double, Dynamic, Dynamic> copy = W;  // a node that passes the gradient on to W
    CHECK(copy.value() == W.value());
    Var<double, Dynamic, 1> column = copy;  // no node: the same value, typed as a column
    CHECK(column.value().data() == copy.value().data());
    Var<double, 1, 1> scalar = sum(column);
    CHECK_THROWS_MATCHES((Var<double, 1, Dynamic>(copy)), shape_error, test::MessageContains("3x1 and 1x1"));
    CHECK(gradcheck(
              [&] {
                  Var<double, Dynamic, 1> c = Var<double, Dynamic, Dynamic>(W);
                  return sum(square(c));
              },
              W) < test::gradient_tolerance);
    tape.backward(scalar);
    CHECK(W.grad().isApproxToConstant(1.0));
}

TEST_CASE("size() counts nodes and bytes() the memory held") {
    auto W = random_param<3, 3>(3, 3);
    Tape tape;
    CHECK(tape.size() == 0);
    Var<double, 3, 3> h = sigmoid(W * W);  // one product node, one fused elementwise node
    CHECK(tape.size() == 2);
    auto loss = sum(hadamard(h, tanh(h)) + 1.0);  // one reduction node: the chain is fused into it
    CHECK(tape.size() == 3);
    CHECK(tape.bytes() > 0);
    tape.backward(loss);
}

// The checker the tests rest on: a NaN or inf where a gradient or a difference should be
// is a failure, not a pass (std::max drops a NaN, and did).
TEST_CASE("gradcheck fails where the gradient or the function's value is not finite") {
    Param<double, 3, 1> x(Eigen::Vector3d(0, 1, 2));
    // sqrt(x²)'s gradient at 0 is 0 / 0: NaN there, and right elsewhere
    CHECK_FALSE(gradcheck([&] { return sum(sqrt(square(x))); }, x) < 1e3);
    // log(x) at 0: the value is -inf, the differences NaN
    CHECK_FALSE(gradcheck([&] { return sum(log(x)); }, x) < 1e3);
    // and a right gradient still passes
    Param<double, 3, 1> y(Eigen::Vector3d(0.5, 1, 2));
    CHECK(gradcheck([&] { return sum(log(y)); }, y) < test::gradient_tolerance);
}

TEST_CASE("gradcheck's default step suits float: a right float gradient passes, a wrong one does not") {
    Param<float, 4, 1> x(Eigen::Vector4f(0.3f, -1.2f, 2.0f, 0.7f));
    CHECK(gradcheck([&] { return sum(hadamard(sigmoid(x), x)); }, x) < 1e-2);
    // the gradient of x ∘ x with one element's contribution halved by a constant copy
    Param<float, 4, 1> z(Eigen::Vector4f(0.3f, -1.2f, 2.0f, 0.7f));
    CHECK(gradcheck([&] { return sum(hadamard(z, constant(Eigen::Vector4f(z.value())))); }, z) > 0.3);
}
