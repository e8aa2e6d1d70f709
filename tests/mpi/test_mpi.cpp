// mpi::DataParallel on the ranks of an MPI job (run by CTest under mpirun, 2 ranks):
// each rank trains on its share of every batch, and the job matches one process
// training on the whole batch. Every rank runs every test case in the same order, so
// that their collective calls match; the data are the same on every rank (the test
// helpers' generator has a fixed seed).

#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <string>

#include <tapestry/mpi/checkpoint.hpp>
#include <tapestry/mpi/data_parallel.hpp>
#include <tapestry/nn/optim/adam.hpp>
#include <tapestry/nn/optim/sgd.hpp>

#include "../helpers.hpp"
#include "../temp_files.hpp"
#include "../tied_model.hpp"

using namespace tapestry;

namespace {

mpi::Session* session = nullptr;

using test::Tied;

// One process's gradient of the whole batch, into single's Params.
double whole_batch_backward(Tied& single, const Eigen::MatrixXd& batch) {
    Tape tape;
    Var<double, 1, 1> loss = single.loss(constant(batch)) / double(batch.cols());
    tape.backward(loss);
    return loss.value()(0, 0);
}

// The loss of this rank's share of `batch`, divided by the whole batch's size: shares add up.
auto share_loss(Tied& model, const Eigen::MatrixXd& batch, mpi::Share share) {
    return model.loss(constant(batch.middleCols(share.first, share.count))) / double(batch.cols());
}

bool same_bits(const Eigen::MatrixXd& a, const Eigen::MatrixXd& b) { return (a.array() == b.array()).all(); }

}  // namespace

TEST_CASE("the shares of a batch cover it once, in rank order, within one example of each other") {
    Tied model;
    mpi::DataParallel<double> parallel(*session, model.params());
    for (const Index batch : {0, 1, 2, 7, 100}) {
        const mpi::Share mine = parallel.share(batch);
        std::vector<long> all(2 * static_cast<std::size_t>(parallel.ranks()));
        const long pair[2] = {long(mine.first), long(mine.count)};
        MPI_Allgather(pair, 2, MPI_LONG, all.data(), 2, MPI_LONG, session->communicator());
        long next = 0, smallest = batch, largest = 0;
        for (int r = 0; r < parallel.ranks(); ++r) {
            CHECK(all[2 * std::size_t(r)] == next);  // contiguous, in rank order
            next += all[2 * std::size_t(r) + 1];
            smallest = std::min(smallest, all[2 * std::size_t(r) + 1]);
            largest = std::max(largest, all[2 * std::size_t(r) + 1]);
        }
        CHECK(next == batch);
        CHECK(largest - smallest <= 1);
    }
    CHECK_THROWS_AS(parallel.share(-1), value_error);
}

TEST_CASE("every rank starts from the root's weights") {
    Tied model;
    model.W.value().setConstant(double(session->rank() + 1));  // a different start on every rank
    mpi::DataParallel<double> parallel(*session, model.params());
    CHECK((model.W.value().array() == 1.0).all());
    parallel.check_in_sync();
}

TEST_CASE("the gradient summed over the ranks is the whole batch's, and so is the loss") {
    const Eigen::MatrixXd batch = (test::random_matrix(6, 7).array() + 1) / 2;
    Tied single;
    Tied model = single;
    const double single_loss = whole_batch_backward(single, batch);
    for (std::size_t bucket_bytes : {std::size_t{8}, std::size_t{1} << 20}) {  // each Param alone; all packed
        model.params().zero_grad();
        mpi::DataParallel<double> parallel(*session, model.params(), {.bucket_bytes = bucket_bytes});
        Tape tape;
        const mpi::Share share = parallel.share(batch.cols());
        const double loss = parallel.backward(tape, share, [&] { return share_loss(model, batch, share); });
        CHECK(loss == Approx(single_loss).epsilon(1e-14));
        CHECK(model.W.grad().isApprox(single.W.grad(), 1e-13));
        CHECK(model.b1.grad().isApprox(single.b1.grad(), 1e-13));
        CHECK(model.b2.grad().isApprox(single.b2.grad(), 1e-13));
        CHECK(model.W.grad().norm() > 0);
    }
}

TEST_CASE("100 SGD steps on 2 ranks match one process on the whole batch, every rank bit for bit the same") {
    const Eigen::MatrixXd batch = (test::random_matrix(6, 13).array() + 1) / 2;
    Tied single;
    Tied model = single;
    const Eigen::MatrixXd W_start = model.W.value();
    const nn::OptimizerOptions options{.lr = nn::lr::fixed(0.05), .weight_decay = 5e-4};
    nn::Sgd<double> sgd_single(single.params(), options, {.momentum = 0.9});
    nn::Sgd<double> sgd(model.params(), options, {.momentum = 0.9});
    mpi::DataParallel<double> parallel(*session, model.params());
    const mpi::Share share = parallel.share(batch.cols());
    Tape tape;
    double worst = 0;
    for (int step = 0; step < 100; ++step) {
        const double single_loss = whole_batch_backward(single, batch);
        sgd_single.step();
        tape.clear();
        const double loss = parallel.backward(tape, share, [&] { return share_loss(model, batch, share); });
        sgd.step();
        worst = std::max(worst, std::abs(loss - single_loss) / single_loss);
    }
    CHECK(worst < 1e-12);
    CHECK(model.W.value().isApprox(single.W.value(), 1e-12));
    CHECK(model.b1.value().isApprox(single.b1.value(), 1e-12));
    CHECK(model.b2.value().isApprox(single.b2.value(), 1e-12));
    CHECK_FALSE(model.W.value().isApprox(W_start, 1e-2));  // it did train
    parallel.check_in_sync();
}

TEST_CASE("an optimizer that accumulates batches counts the held gradient once") {
    const Eigen::MatrixXd batch = (test::random_matrix(6, 9).array() + 1) / 2;
    Tied single;
    Tied model = single;
    const nn::OptimizerOptions options{.lr = nn::lr::fixed(0.01), .accumulate = 3};
    nn::Adam<double> adam_single(single.params(), options);
    nn::Adam<double> adam(model.params(), options);
    mpi::DataParallel<double> parallel(*session, model.params());
    Tape tape;
    for (int step = 0; step < 9; ++step) {
        const Eigen::MatrixXd part = batch.middleCols(step % 3 * 3, 3);
        whole_batch_backward(single, part);
        adam_single.step();
        const mpi::Share share = parallel.share(part.cols());
        tape.clear();
        parallel.backward(tape, share, [&] { return share_loss(model, part, share); });
        adam.step();
        CHECK(model.W.grad().isApprox(single.W.grad(), 1e-12));  // between updates: the partial sums
    }
    CHECK(model.W.value().isApprox(single.W.value(), 1e-12));
    parallel.check_in_sync();
}

TEST_CASE("a batch smaller than the job: a rank with no examples still takes part") {
    const Eigen::MatrixXd batch = (test::random_matrix(6, 1).array() + 1) / 2;
    Tied single;
    Tied model = single;
    whole_batch_backward(single, batch);
    mpi::DataParallel<double> parallel(*session, model.params());
    const mpi::Share share = parallel.share(1);
    int calls = 0;
    Tape tape;
    parallel.backward(tape, share, [&] {
        ++calls;
        return share_loss(model, batch, share);
    });
    CHECK(calls == share.count);
    CHECK(share.count == (parallel.rank() == parallel.ranks() - 1 ? 1 : 0));
    CHECK(model.W.grad().isApprox(single.W.grad(), 1e-13));
}

TEST_CASE("a share that throws on one rank throws on every rank, naming it, and the next batch works") {
    const Eigen::MatrixXd batch = (test::random_matrix(6, 6).array() + 1) / 2;
    Tied model;
    nn::Sgd<double> sgd(model.params(), {.lr = nn::lr::fixed(0.01)});
    mpi::DataParallel<double> parallel(*session, model.params());
    const mpi::Share share = parallel.share(6);
    Tape tape;
    const auto good = [&] { return share_loss(model, batch, share); };
    const auto failing = [&]() -> Var<double, 1, 1> {
        if (parallel.rank() == 1) throw value_error("label 12 out of range");
        return good();
    };
    CHECK_THROWS_MATCHES(parallel.backward(tape, share, failing), distributed_error,
                         test::MessageContains("rank 1 of " + std::to_string(parallel.ranks()) +
                                               " failed in its share of the batch: label 12 out of range"));
    CHECK(model.W.grad().isZero(0));  // zeroed on every rank: in step
    tape.clear();
    parallel.backward(tape, share, good);
    sgd.step();
    parallel.check_in_sync();
}

TEST_CASE("a share that fails in the middle of an accumulation leaves the held gradient, on any root") {
    const Eigen::MatrixXd batch = (test::random_matrix(6, 12).array() + 1) / 2;
    for (int root = 0; root < session->size(); ++root) {
        Tied single;
        Tied model = single;
        const nn::OptimizerOptions options{.lr = nn::lr::fixed(0.05), .accumulate = 2};
        nn::Sgd<double> sgd_single(single.params(), options, {.momentum = 0.9});
        nn::Sgd<double> sgd(model.params(), options, {.momentum = 0.9});
        mpi::DataParallel<double> parallel(*session, model.params(), {.root = root});
        Tape tape;
        for (int step = 0; step < 4; ++step) {
            const Eigen::MatrixXd part = batch.middleCols(step * 3, 3);
            whole_batch_backward(single, part);
            sgd_single.step();
            const mpi::Share share = parallel.share(part.cols());
            const auto loss = [&] { return share_loss(model, part, share); };
            if (step % 2 == 1) {  // the second batch of each update fails once on the root, then is retried
                tape.clear();
                const auto failing = [&]() -> Var<double, 1, 1> {
                    if (parallel.rank() == root) throw value_error("no batch today");
                    return loss();
                };
                CHECK_THROWS_MATCHES(parallel.backward(tape, share, failing), distributed_error,
                                     test::MessageContains("rank " + std::to_string(root) + " of"));
            }
            tape.clear();
            parallel.backward(tape, share, loss);
            sgd.step();
        }
        CHECK(model.W.value().isApprox(single.W.value(), 1e-12));
        CHECK(model.b2.value().isApprox(single.b2.value(), 1e-12));
        parallel.check_in_sync(sgd);
    }
}

TEST_CASE("long buckets go in several messages") {
    const Eigen::MatrixXd batch = (test::random_matrix(6, 5).array() + 1) / 2;
    Tied single;
    Tied model = single;
    whole_batch_backward(single, batch);
    for (std::size_t bucket_bytes : {std::size_t{8}, std::size_t{1} << 20}) {
        model.params().zero_grad();
        mpi::DataParallel<double> parallel(*session, model.params(),
                                           {.bucket_bytes = bucket_bytes, .max_elements_per_message = 5});
        const mpi::Share share = parallel.share(batch.cols());
        Tape tape;
        parallel.backward(tape, share, [&] { return share_loss(model, batch, share); });
        CHECK(model.W.grad().isApprox(single.W.grad(), 1e-13));
        CHECK(model.b1.grad().isApprox(single.b1.grad(), 1e-13));
        CHECK(model.b2.grad().isApprox(single.b2.grad(), 1e-13));
    }
}

TEST_CASE("weights that differ between ranks are caught, on every rank") {
    Tied model;
    mpi::DataParallel<double> parallel(*session, model.params());
    nn::Sgd<double> sgd(model.params(), {.lr = nn::lr::fixed(0.01)}, {.momentum = 0.9});
    parallel.check_in_sync(sgd);
    if (parallel.rank() == 1) model.b2.value()(3, 0) = std::nextafter(model.b2.value()(3, 0), 10.0);
    CHECK_THROWS_MATCHES(parallel.check_in_sync(), distributed_error,
                         test::MessageContains("the weights of rank(s) 1 differ from rank 0's"));
    mpi::broadcast_state(*session, sgd);  // the root's, everywhere: in step again
    parallel.check_in_sync(sgd);
    if (parallel.rank() == 1) const_cast<double*>(sgd.state(1)[0].data())[0] = 1;  // momentum only
    CHECK_NOTHROW(parallel.check_in_sync());
    CHECK_THROWS_MATCHES(parallel.check_in_sync(sgd), distributed_error,
                         test::MessageContains("the weights or optimizer states of rank(s) 1 differ"));
    Tied other;
    nn::Sgd<double> stepping_other(other.params(), {.lr = nn::lr::fixed(0.01)});
    CHECK_THROWS_WITH(parallel.check_in_sync(stepping_other), Catch::Contains("other Params"));
}

TEST_CASE("a checkpoint is written by the root and read back on every rank") {
    test::TempDir dir;  // the root's path is the one that counts
    std::string path = dir.file("checkpoint.safetensors");
    path.resize(4096, '\0');  // the same path on every rank: the root's
    MPI_Bcast(path.data(), 4096, MPI_CHAR, 0, session->communicator());
    path = path.c_str();

    const Eigen::MatrixXd batch = (test::random_matrix(6, 8).array() + 1) / 2;
    Tied model;
    nn::Sgd<double> sgd(model.params(), {.lr = nn::lr::fixed(0.01)}, {.momentum = 0.9});
    mpi::DataParallel<double> parallel(*session, model.params());
    const mpi::Share share = parallel.share(8);
    Tape tape;
    for (int step = 0; step < 3; ++step) {
        tape.clear();
        parallel.backward(tape, share, [&] { return share_loss(model, batch, share); });
        sgd.step();
    }
    mpi::save_checkpoint(*session, path, sgd);
    const Eigen::MatrixXd W_saved = model.W.value();
    const Eigen::MatrixXd momentum_saved = sgd.state(0)[0];

    Tied other;  // another start on every rank, and another optimizer
    other.W.value().setConstant(double(session->rank()));
    nn::Sgd<double> resumed(other.params(), {.lr = nn::lr::fixed(0.01)}, {.momentum = 0.9});
    mpi::load_checkpoint(*session, path, resumed);
    CHECK(same_bits(other.W.value(), W_saved));
    CHECK(same_bits(resumed.state(0)[0], momentum_saved));
    CHECK(resumed.iteration() == 3);

    // Mid-accumulation: the partial gradient travels with the state; otherwise every
    // rank's gradient is zero after a load, whatever it held (the root's included).
    nn::Sgd<double> accumulating(model.params(), {.lr = nn::lr::fixed(0.01), .accumulate = 2});
    mpi::DataParallel<double> rooted_last(*session, model.params(), {.root = session->size() - 1});
    tape.clear();
    rooted_last.backward(tape, share, [&] { return share_loss(model, batch, share); });
    accumulating.step();  // pending 1: the gradient is held
    const Eigen::MatrixXd held = model.W.grad();
    mpi::save_checkpoint(*session, path, accumulating);
    tape.clear();
    rooted_last.backward(tape, share, [&] { return share_loss(model, batch, share); });
    mpi::load_checkpoint(*session, path, accumulating);  // back to one batch held
    CHECK(accumulating.pending() == 1);
    CHECK(same_bits(model.W.grad(), held));
    accumulating.step();  // the update
    mpi::save_checkpoint(*session, path, accumulating);
    tape.clear();
    rooted_last.backward(tape, share, [&] { return share_loss(model, batch, share); });
    mpi::load_checkpoint(*session, path, accumulating);
    CHECK(model.W.grad().isZero(0));
    rooted_last.check_in_sync(accumulating);

    // A file that cannot be read throws on every rank and changes nothing.
    CHECK_THROWS_MATCHES(mpi::load_checkpoint(*session, path + ".missing", resumed), io::file_error,
                         test::MessageContains(".missing"));
    CHECK(same_bits(other.W.value(), W_saved));
    CHECK_THROWS_AS(mpi::save_checkpoint(*session, dir.file("no-such-folder/checkpoint.safetensors"), sgd),
                    io::file_error);
}

TEST_CASE("the Session keeps a thread count the program chose before it started") {
    CHECK(num_threads() == (threads_supported ? 2 : 1));  // main's choice, not one per bound core
}

int main(int argc, char** argv) {
    set_num_threads(2);  // before the Session, which would otherwise choose (CTest sets no variable)
    return mpi::run(argc, argv, [&](mpi::Session& s) {
        session = &s;
        return Catch::Session().run(argc, argv);
    });
}
