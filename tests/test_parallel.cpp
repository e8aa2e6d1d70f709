// Products and large loops on several threads (core/threads.hpp, kernels/parallel.hpp):
// the setting and its checks, how loops are cut, products that give the same bits on
// any number of threads, and gradients and training on two threads that match one.

#include <array>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include <tapestry/kernels/gemm.hpp>
#include <tapestry/kernels/parallel.hpp>
#include <tapestry/nn/optim/adam.hpp>

#include "../bench/model_a.hpp"
#include "helpers.hpp"

using namespace tapestry;

namespace {

// Sets the thread count for one scope, and puts back what was there.
class ThreadsForThisScope {
public:
    explicit ThreadsForThisScope(int n) : before_(num_threads()) { set_num_threads(n); }
    ~ThreadsForThisScope() { set_num_threads(before_); }
    ThreadsForThisScope(const ThreadsForThisScope&) = delete;
    ThreadsForThisScope& operator=(const ThreadsForThisScope&) = delete;

private:
    int before_;
};

// Sets an environment variable for one scope.
class EnvironmentForThisScope {
public:
    EnvironmentForThisScope(const char* name, const char* value) : name_(name) {
        if (const char* old = std::getenv(name)) old_ = old, had_ = true;
        ::setenv(name, value, 1);
    }
    ~EnvironmentForThisScope() {
        if (had_)
            ::setenv(name_, old_.c_str(), 1);
        else
            ::unsetenv(name_);
    }
    EnvironmentForThisScope(const EnvironmentForThisScope&) = delete;
    EnvironmentForThisScope& operator=(const EnvironmentForThisScope&) = delete;

private:
    const char* name_;
    std::string old_;
    bool had_ = false;
};

}  // namespace

TEST_CASE("set_num_threads sets the count for every thread, and refuses fewer than one") {
    const ThreadsForThisScope restore(1);
    set_num_threads(3);
    CHECK(num_threads() == (threads_supported ? 3 : 1));
    int seen_elsewhere = 0;
    std::thread([&] { seen_elsewhere = num_threads(); }).join();
    CHECK(seen_elsewhere == num_threads());
    CHECK(Eigen::nbThreads() == (threads_supported ? 3 : 1));
    CHECK_THROWS_WITH(set_num_threads(0), Catch::Contains("set_num_threads(0)") && Catch::Contains("at least 1"));
    CHECK(num_threads() == (threads_supported ? 3 : 1));  // unchanged by the refusal
}

TEST_CASE("TAPESTRY_NUM_THREADS is read as a whole number of threads, and a typo is an error naming it") {
    {
        const EnvironmentForThisScope env("TAPESTRY_NUM_THREADS", "3");
        CHECK(detail::thread_count_from_environment() == 3);
    }
    for (const char* bad : {"two", "0", "-1", "2x", "99999", " 2", "+2", "2 "}) {
        const EnvironmentForThisScope env("TAPESTRY_NUM_THREADS", bad);
        CHECK_THROWS_WITH(
            detail::thread_count_from_environment(),
            Catch::Contains(std::string("TAPESTRY_NUM_THREADS=\"") + bad + "\"") && Catch::Contains("whole number"));
    }
    const EnvironmentForThisScope env("TAPESTRY_NUM_THREADS", "");
    CHECK(detail::thread_count_from_environment() >= 1);  // OpenMP's default: the cores
}

TEST_CASE("a loop is cut into ranges that cover it once, on grain boundaries, of sizes within a grain") {
    for (Index count : {0, 1, 7, 64, 100, 1000, 4097})
        for (int pieces : {1, 2, 3, 7})
            for (Index grain : {1, 4, 48, 64}) {
                INFO("count " << count << ", pieces " << pieces << ", grain " << grain);
                Index expected_begin = 0, smallest = count, largest = 0;
                for (int p = 0; p < pieces; ++p) {
                    const auto [begin, end] = detail::piece_range(count, pieces, p, grain);
                    CHECK(begin == expected_begin);
                    CHECK(begin <= end);
                    if (end != count) CHECK(end % grain == 0);
                    smallest = std::min(smallest, end - begin), largest = std::max(largest, end - begin);
                    expected_begin = end;
                }
                CHECK(expected_begin == count);
                if (count >= pieces * grain) CHECK(largest - smallest <= grain);
            }
}

TEST_CASE("small work stays in one piece, and large work is shared out, no more pieces than threads or allowed") {
    const ThreadsForThisScope two(2);
    CHECK(detail::pieces_for(1000, 1 << 15, 1000) == 1);
    CHECK(detail::pieces_for(1e9, 1 << 15, 1) == 1);
    CHECK(detail::pieces_for(1e9, 1 << 15, 1000) == (threads_supported ? 2 : 1));
#ifdef _OPENMP
    int inside = 0;
#pragma omp parallel num_threads(2)
    {
#pragma omp single
        inside = detail::pieces_for(1e9, 1 << 15, 1000);
    }
    CHECK(inside == 1);  // no nested parallelism
#endif
}

TEST_CASE("KernelsOnThisThread keeps a thread's products and loops on it, and nests") {
    const ThreadsForThisScope two(2);
    {
        const KernelsOnThisThread outer;
        CHECK(detail::pieces_for(1e9, 1 << 15, 1000) == 1);
        {
            const KernelsOnThisThread inner;
            CHECK(detail::pieces_for(1e9, 1 << 15, 1000) == 1);
        }
        CHECK(detail::pieces_for(1e9, 1 << 15, 1000) == 1);  // the outer one still holds
    }
    CHECK(detail::pieces_for(1e9, 1 << 15, 1000) == (threads_supported ? 2 : 1));
}

TEST_CASE("a piece that throws: the lowest-numbered piece's exception reaches the caller, after all pieces ran") {
    const ThreadsForThisScope three(3);
    std::vector<int> ran(3, 0);
    const int pieces = threads_supported ? 3 : 1;
    const auto run = [&] {
        detail::run_pieces(pieces, [&](int p) {
            ran[static_cast<std::size_t>(p)] = 1;
            if (p >= pieces - 2) throw std::runtime_error("piece " + std::to_string(p));
        });
    };
    CHECK_THROWS_WITH(run(), std::string("piece ") + std::to_string(std::max(0, pieces - 2)));
    for (int p = 0; p < pieces; ++p) CHECK(ran[static_cast<std::size_t>(p)] == 1);
}

namespace {
// C + alpha op(A) op(B) through the library's product, on `threads` threads.
template <bool TransposeA, bool TransposeB, class Matrix>
Matrix product_on(int threads, const Matrix& A, const Matrix& B, Matrix C) {
    const ThreadsForThisScope scope(threads);
    detail::gemm_accumulate<TransposeA, TransposeB>(typename Matrix::Scalar(0.5), A.data(), A.rows(), A.cols(),
                                                    B.data(), B.rows(), B.cols(), C.data());
    return C;
}

template <bool TransposeA, bool TransposeB, class T>
void check_same_bits_on_any_thread_count(Index m, Index n, Index k) {
    using Matrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>;
    INFO(m << " x " << n << " x " << k << ", transposes " << TransposeA << TransposeB);
    const Matrix A = test::random_matrix(TransposeA ? k : m, TransposeA ? m : k).cast<T>();
    const Matrix B = test::random_matrix(TransposeB ? n : k, TransposeB ? k : n).cast<T>();
    const Matrix C = test::random_matrix(m, n).cast<T>();
    const Matrix one = product_on<TransposeA, TransposeB>(1, A, B, C);
    CHECK((product_on<TransposeA, TransposeB>(2, A, B, C).array() == one.array()).all());
    CHECK((product_on<TransposeA, TransposeB>(3, A, B, C).array() == one.array()).all());
    // And it is the product: against Eigen's coefficient by coefficient, to rounding.
    const Matrix opA = TransposeA ? Matrix(A.transpose()) : A, opB = TransposeB ? Matrix(B.transpose()) : B;
    const Matrix expected = C + T(0.5) * opA.lazyProduct(opB);
    CHECK((one - expected).cwiseAbs().maxCoeff() <= T(1e-4) * (T(1) + expected.cwiseAbs().maxCoeff()));
}
}  // namespace

TEMPLATE_TEST_CASE("a large product gives the same bits on 1, 2 and 3 threads, all transposes", "", float, double) {
    // Wide (cut by columns), tall (cut by rows: of whole mc blocks, or of mr panels), and
    // sizes that leave partial panels.
    const std::vector<std::array<Index, 3>> shapes{{200, 160, 100}, {6000, 8, 300},  {64, 2000, 64},
                                                   {333, 257, 129}, {997, 100, 300}, {1000, 256, 784}};
    for (const auto [m, n, k] : shapes) {
        check_same_bits_on_any_thread_count<false, false, TestType>(m, n, k);
        check_same_bits_on_any_thread_count<false, true, TestType>(m, n, k);
        check_same_bits_on_any_thread_count<true, false, TestType>(m, n, k);
        check_same_bits_on_any_thread_count<true, true, TestType>(m, n, k);
    }
}

TEST_CASE("a large matrix-vector product on 2 threads gives one thread's bits, both ways round") {
    const ThreadsForThisScope restore(1);
    for (const bool transposed : {false, true}) {
        const Eigen::MatrixXd A = test::random_matrix(transposed ? 300 : 5000, transposed ? 5000 : 300);
        const Eigen::VectorXd x = test::random_matrix(300, 1);
        Eigen::VectorXd one = Eigen::VectorXd::Zero(5000), two = one;
        const auto run = [&](Eigen::VectorXd& c) {
            if (transposed)
                detail::gemm_accumulate<true, false>(1.0, A.data(), 300, 5000, x.data(), 300, 1, c.data());
            else
                detail::gemm_accumulate<false, false>(1.0, A.data(), 5000, 300, x.data(), 300, 1, c.data());
        };
        set_num_threads(1), run(one);
        set_num_threads(2), run(two);
        const Eigen::VectorXd expected = transposed ? Eigen::VectorXd(A.transpose() * x) : Eigen::VectorXd(A * x);
        CHECK((two.array() == one.array()).all());  // each element's dot product is unchanged by the cut
        CHECK((one - expected).cwiseAbs().maxCoeff() <= 1e-12);
    }
}

TEST_CASE("gradients on two threads pass the finite-difference check, with a Param used twice and a wide batch") {
    const ThreadsForThisScope two(2);
    // A batch wide enough that every elementwise loop, the bias's reduction and the
    // adjoint updates are cut over the threads; the Params small enough to check.
    auto W = test::random_param<4, 3>(4, 3);
    auto b = test::random_param<4, 1>(4, 1);
    const Eigen::MatrixXd x = test::random_matrix(3, 20000);
    const auto f = [&] {
        auto h = sigmoid(W * constant(x) + b);
        return sum(hadamard(tanh(W.transpose() * h), constant(x))) / 20000.0;
    };
    CHECK(gradcheck(f, W, b) < test::gradient_tolerance);
}

TEMPLATE_TEST_CASE("Model A trained on two threads matches one thread", "", float, double) {
    using T = TestType;
    const ThreadsForThisScope restore(1);
    bench::ModelAData<T> data(256);
    // One model at a time: each owns a tape, and the newest tape on a thread is the one it records onto.
    const auto train = [&](int threads) {
        set_num_threads(threads);
        bench::ModelATapestry<T> model(data);
        T loss = 0;
        for (int step = 0; step < 20; ++step) loss = model.step();
        return std::pair{loss, model.W1()};
    };
    const auto [loss_one, w1] = train(1);
    const auto [loss_two, w2] = train(2);
    const T tolerance = std::is_same_v<T, float> ? T(1e-5) : T(1e-12);
    CHECK(std::abs(loss_one - loss_two) <= tolerance * std::abs(loss_one));
    CHECK((w1 - w2).cwiseAbs().maxCoeff() <= tolerance * w1.cwiseAbs().maxCoeff());
}

TEST_CASE("Adam on two threads updates a large Param exactly as on one") {
    const ThreadsForThisScope restore(1);
    const auto run = [](int threads) {
        set_num_threads(threads);
        test::rng().seed(7);
        Param<double, Dynamic, Dynamic> w(test::random_matrix(300, 400));
        nn::Adam<double> adam(nn::ParamSet<double>{{"w", w}}, nn::OptimizerOptions{});
        Tape tape;
        for (int step = 0; step < 3; ++step) {
            tape.clear();
            tape.backward(sum(hadamard(w, w)) + sum(tanh(w)));
            adam.step();
        }
        return Eigen::MatrixXd(w.value());
    };
    const Eigen::MatrixXd one = run(1), two = run(2);
    CHECK((one.array() == two.array()).all());  // elementwise slices: no sum to reorder
}

TEST_CASE("convolutions on two threads: images shared out, the tied kernel's gradient summed per thread") {
    const ThreadsForThisScope restore(1);
    // 64 images: enough work to share out (4 -> 16 channels, 12 x 12, 3 x 3), both ways.
    Param<double, Dynamic, Dynamic> x(test::random_matrix(4 * 12 * 12, 64));
    Kernel<double, 16, 4, 3> K(test::random_matrix(4 * 3 * 3, 16));
    const Eigen::MatrixXd w = test::random_matrix(4 * 12 * 12, 64, -0.01, 0.01);
    const auto loss = [&] {
        auto h = sigmoid(conv2d(as_images<4, 12, 12>(x), K));  // 16 x 10 x 10
        auto y = conv_transpose2d(h, K);                       // back to 4 x 12 x 12, with the same K
        return sum(hadamard(y.flat(), constant(w)));
    };
    const auto gradients = [&](int threads) {
        set_num_threads(threads);
        x.zero_grad(), K.zero_grad();
        Tape tape;
        Var<double, 1, 1> value = loss();
        tape.backward(value);
        return std::tuple{value.value()(0, 0), Eigen::MatrixXd(x.grad()), Eigen::MatrixXd(K.grad())};
    };
    // The path under test: the batch is shared out (a change of threshold must not make this a one-thread test).
    set_num_threads(2);
    CHECK(detail::pieces_for(64.0 * 10 * 10 * 36 * 16, detail::gemm_min_work_per_thread, 64) ==
          (threads_supported ? 2 : 1));
    const auto [value_one, dx_one, dK_one] = gradients(1);
    const auto [value_two, dx_two, dK_two] = gradients(2);
    CHECK(value_two == value_one);  // each image's output is computed as on one thread
    CHECK((dx_two.array() == dx_one.array()).all());
    CHECK((dK_two - dK_one).cwiseAbs().maxCoeff() <= 1e-12 * dK_one.cwiseAbs().maxCoeff());  // summed in another order
    CHECK_FALSE((dK_two.array() == 0).all());
    set_num_threads(2);
    CHECK(gradcheck(GradcheckOptions{.max_coordinates = 12}, loss, x, K) < test::gradient_tolerance);
}

TEST_CASE("large reductions on two threads: a sum to rounding, row and column sums bit for bit") {
    const ThreadsForThisScope restore(1);
    Param<double, Dynamic, Dynamic> w(test::random_matrix(300, 400));
    Param<double, Dynamic, 1> b(test::random_matrix(300, 1));
    Param<double, Dynamic, 1> v(test::random_matrix(1 << 17, 1));  // one long column: cut by rows
    const auto reductions = [&](int threads) {
        set_num_threads(threads);
        InferenceMode plain;
        Var<double, 1, 1> cheap = sum(square(w + b));   // a broadcast: summed column by column
        Var<double, 1, 1> costly = sum(log1p(exp(w)));  // summed as read, into one accumulator per piece
        Var<double, 1, 1> column = sum(log1p(exp(v)));
        Var<double, Dynamic, 1> rows = row_sum(w + b);
        Var<double, 1, Dynamic> columns = col_sum(square(w));
        return std::tuple{cheap.value()(0, 0), costly.value()(0, 0), column.value()(0, 0),
                          Eigen::MatrixXd(rows.value()), Eigen::MatrixXd(columns.value())};
    };
    const auto [cheap_one, costly_one, column_one, rows_one, columns_one] = reductions(1);
    const auto [cheap_two, costly_two, column_two, rows_two, columns_two] = reductions(2);
    CHECK(std::abs(cheap_two - cheap_one) <= 1e-12 * std::abs(cheap_one));
    CHECK(std::abs(costly_two - costly_one) <= 1e-12 * std::abs(costly_one));
    CHECK(std::abs(column_two - column_one) <= 1e-12 * std::abs(column_one));
    CHECK((rows_two.array() == rows_one.array()).all());
    CHECK((columns_two.array() == columns_one.array()).all());
    const auto [cheap_again, costly_again, column_again, rows_again, columns_again] = reductions(2);
    CHECK(cheap_again == cheap_two);  // a fixed order: the same bits run after run
    CHECK(costly_again == costly_two);
    CHECK(column_again == column_two);
    // And they are the sums.
    const Eigen::MatrixXd shifted = w.value().colwise() + b.value().col(0);
    CHECK(std::abs(cheap_one - shifted.squaredNorm()) <= 1e-10 * cheap_one);
    CHECK(rows_one.isApprox(shifted.rowwise().sum(), 1e-12));
    CHECK(std::abs(costly_one - w.value().array().exp().log1p().sum()) <= 1e-12 * costly_one);
    CHECK(std::abs(column_two - v.value().array().exp().log1p().sum()) <= 1e-12 * column_two);
}
