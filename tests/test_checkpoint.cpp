// Checkpoints: safetensors layout, exact round trips, resume bit-identical to an
// uninterrupted run, and every kind of bad file rejected with nothing changed.

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <type_traits>
#include <vector>

#include <catch2/catch.hpp>

#include <tapestry/io/checkpoint.hpp>
#include <tapestry/nn/optim/adam.hpp>
#include <tapestry/nn/optim/sgd.hpp>

#include "helpers.hpp"
#include "temp_files.hpp"

using namespace tapestry;
using namespace tapestry::nn;
using namespace tapestry::io;
namespace fs = std::filesystem;
using test::read_bytes;
using test::TempDir;
using test::write_bytes;

TEST_CASE("a safetensors file has the documented layout: u64 header length, JSON, row-major data") {
    TempDir dir;
    Param<float, 2, 3> W;
    W.value() << 1, 2, 3, 4, 5, 6;
    save_params(dir.file("w.safetensors"), ParamSet<float>{{"weight", W}});

    const std::string bytes = read_bytes(dir.file("w.safetensors"));
    std::uint64_t n = 0;
    for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(bytes[static_cast<std::size_t>(i)]);
    const std::string header = bytes.substr(8, n);
    CHECK(header.find("\"weight\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]}") != std::string::npos);
    CHECK((8 + n) % 8 == 0);
    float data[6];
    REQUIRE(bytes.size() == 8 + n + sizeof(data));
    std::memcpy(data, bytes.data() + 8 + n, sizeof(data));
    CHECK(std::vector<float>(data, data + 6) == std::vector<float>{1, 2, 3, 4, 5, 6});  // row-major, as numpy reads it
    CHECK(dir.names_starting("w.safetensors.tmp.").empty());
}

TEMPLATE_TEST_CASE("save_params and load_params round-trip exactly", "", float, double) {
    TempDir dir;
    Param<TestType, 4, Dynamic> W(4, 7);
    Param<TestType, 4, 1> b;
    W.value().setRandom();
    b.value().setRandom();
    ParamSet<TestType> params{{"W", W}, {"b", b}};
    save_params(dir.file("p.safetensors"), params, {{"note", "hello"}});

    Param<TestType, 4, Dynamic> W2(4, 7);
    Param<TestType, 4, 1> b2;
    load_params(dir.file("p.safetensors"), ParamSet<TestType>{{"W", W2}, {"b", b2}});
    CHECK(W2.value() == W.value());
    CHECK(b2.value() == b.value());
    CHECK(SafetensorsFile(dir.file("p.safetensors")).metadata().at("note") == "hello");
}

TEST_CASE("a SafetensorsFile moves with its mapping, and reads the same tensors after the move") {
    STATIC_REQUIRE(std::is_nothrow_move_constructible_v<SafetensorsFile>);
    TempDir dir;
    Param<double, 3, 5> W;
    W.value().setRandom();
    save_params(dir.file("w.safetensors"), ParamSet<double>{{"W", W}});

    std::vector<SafetensorsFile> files;
    for (int i = 0; i < 9; ++i) files.emplace_back(dir.file("w.safetensors"));  // reallocations move them
    SafetensorsFile moved = std::move(files.front());
    Eigen::MatrixXd read(3, 5);
    moved.read_into<double>("W", Eigen::Map<Eigen::MatrixXd>(read.data(), 3, 5));
    CHECK(read == W.value());
    files.back().read_into<double>("W", Eigen::Map<Eigen::MatrixXd>(read.data(), 3, 5));
    CHECK(read == W.value());
}

TEST_CASE("a file that cannot be mapped is read instead, and one that reports no size is empty") {
    // sysfs reports 4096 bytes and refuses mmap (ENODEV); reading gives the few bytes there are.
    const std::string sysfs = "/sys/devices/system/cpu/online";
    if (fs::exists(sysfs)) {
        CHECK_THROWS_MATCHES(SafetensorsFile(sysfs), file_error,
                             test::MessageContains("bytes, shorter than its 8-byte header length"));
        try {
            SafetensorsFile file(sysfs);
        } catch (const file_error& e) {
            CHECK(std::string(e.what()).find("4096") == std::string::npos);  // what was read, not what stat said
        }
    }
    CHECK_THROWS_MATCHES(SafetensorsFile("/proc/self/status"), file_error,
                         test::MessageContains("/proc/self/status: the file is 0 bytes"));
}

TEST_CASE("a bad file is rejected with the file, the tensor and the problem named, and no Param changes") {
    TempDir dir;
    Param<float, 2, 3> W;
    Param<float, 3, 1> b;
    W.value().setConstant(1.0f);
    b.value().setConstant(2.0f);
    const std::string good = dir.file("good.safetensors");
    save_params(good, ParamSet<float>{{"W", W}, {"b", b}});
    const std::string bytes = read_bytes(good);

    Param<float, 2, 3> W2;
    Param<float, 3, 1> b2;
    W2.value().setConstant(7.0f);
    b2.value().setConstant(7.0f);
    ParamSet<float> target{{"W", W2}, {"b", b2}};
    auto rejected_with = [&](const std::string& file, const std::string& words) {
        CHECK_THROWS_MATCHES(load_params(file, target), file_error, test::MessageContains(words));
        CHECK((W2.value().array() == 7.0f).all());
        CHECK((b2.value().array() == 7.0f).all());
    };

    SECTION("missing") { rejected_with(dir.file("nope.safetensors"), "nope.safetensors: cannot open"); }
    SECTION("truncated") {
        const std::string file = dir.file("truncated.safetensors");
        write_bytes(file, bytes.substr(0, bytes.size() - 5));
        rejected_with(file, "do not fit");
    }
    SECTION("shorter than the length field") {
        const std::string file = dir.file("tiny.safetensors");
        write_bytes(file, "abc");
        rejected_with(file, "shorter than its 8-byte header length");
    }
    SECTION("a header length past the end") {
        std::string damaged = bytes;
        damaged[6] = '\x7f';
        const std::string file = dir.file("length.safetensors");
        write_bytes(file, damaged);
        rejected_with(file, "the header claims");
    }
    SECTION("a header that is not JSON") {
        std::string damaged = bytes;
        damaged[8] = '!';
        const std::string file = dir.file("json.safetensors");
        write_bytes(file, damaged);
        rejected_with(file, "not valid JSON");
    }
    SECTION("a tensor of the wrong shape") {
        Param<float, 3, 2> wrong;
        const std::string file = dir.file("shape.safetensors");
        save_params(file, ParamSet<float>{{"W", wrong}, {"b", b}});
        rejected_with(file, "tensor \"W\": shape 3x2 where 2x3 is expected");
    }
    SECTION("a tensor of the wrong dtype") {
        Param<double, 2, 3> wide;
        Param<double, 3, 1> bias;
        const std::string file = dir.file("dtype.safetensors");
        save_params(file, ParamSet<double>{{"W", wide}, {"b", bias}});
        rejected_with(file, "tensor \"W\": dtype F64 where F32 is expected");
    }
    SECTION("a missing tensor") {
        const std::string file = dir.file("missing.safetensors");
        save_params(file, ParamSet<float>{{"W", W}});
        rejected_with(file, "tensor \"b\": missing from the file");
    }
    SECTION("an unknown tensor") {
        Param<float, 1, 1> extra;
        const std::string file = dir.file("unknown.safetensors");
        save_params(file, ParamSet<float>{{"W", W}, {"b", b}, {"extra", extra}});
        rejected_with(file, "tensor \"extra\": is in the file but not in the model");
    }
}

TEST_CASE("a hostile header is rejected early with a short message, and no Param changes") {
    TempDir dir;
    Param<float, 2, 3> W(Eigen::Matrix<float, 2, 3>::Constant(7.0f));
    Sgd<float> sgd({{"W", W}}, {.lr = lr::fixed(0.1)});
    const std::string file = dir.file("hostile.safetensors");
    auto rejected_with = [&](const std::string& header, const std::string& words) {
        write_bytes(file, test::safetensors_bytes(header, std::string(24, '\0')));
        for (int loader = 0; loader < 2; ++loader) {
            std::string message;
            try {
                if (loader == 0) load_params(file, sgd.params());
                if (loader == 1) load_checkpoint(file, sgd);
            } catch (const file_error& e) {
                message = e.what();
            }
            INFO("loader " << loader << ": " << message.substr(0, 300));
            CHECK(message.find(words) != std::string::npos);
            CHECK(message.size() < 300);
            CHECK((W.value().array() == 7.0f).all());
        }
    };

    SECTION("JSON nested 100,000 levels deep in shape or data_offsets (a stack overflow before)") {
        const std::string deep = std::string(100000, '[') + std::string(100000, ']');
        rejected_with(R"({"W":{"dtype":"F32","shape":)" + deep + R"(,"data_offsets":[0,24]}})",
                      "hostile.safetensors: the header nests JSON deeper than 64 levels");
        rejected_with(R"({"W":{"dtype":"F32","shape":[2,3],"data_offsets":)" + deep + "}}",
                      "the header nests JSON deeper than 64 levels");
        std::string objects;
        for (int i = 0; i < 100000; ++i) objects += R"({"W":)";
        rejected_with(objects, "the header nests JSON deeper than 64 levels");
    }
    SECTION("a shape whose byte count wraps around 2^64 (accepted with offsets [0, 0] before)") {
        const std::string rest = R"(,"data_offsets":[0,0]},"W":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]}})";
        rejected_with(R"({"huge":{"dtype":"F32","shape":[1099511627776,16777216])" + rest,
                      "tensor \"huge\": shape [1099511627776,16777216] needs more than 2^64 bytes");
        rejected_with(R"({"huge":{"dtype":"F64","shape":[1099511627776,1099511627776])" + rest,
                      "needs more than 2^64 bytes");
        rejected_with(R"({"huge":{"dtype":"F32","shape":[2147483648,2147483648])" + rest, "needs more than 2^64 bytes");
        // ... and SafetensorsFile itself, which reads any tensors, refuses it too.
        write_bytes(file, test::safetensors_bytes(R"({"huge":{"dtype":"F32","shape":[1099511627776,16777216])" + rest,
                                                  std::string(24, '\0')));
        CHECK_THROWS_MATCHES(SafetensorsFile(file), file_error, test::MessageContains("needs more than 2^64 bytes"));
    }
    SECTION("overlapping tensors are both named; a shape of 10^6 dimensions or a long name gives a short message") {
        rejected_with(R"({"W":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},)"
                      R"("V":{"dtype":"F32","shape":[2],"data_offsets":[16,24]}})",
                      R"(the data of tensors "W" [0, 24) and "V" [16, 24) overlap)");
        std::string dims = "0";
        for (int i = 1; i < 1000000; ++i) dims += ",0";
        rejected_with(R"({"W":{"dtype":"F32","shape":[)" + dims + R"(],"data_offsets":[0,24]}})",
                      R"(tensor "W": shape [0,0,0,0,)");
        const std::string long_name(1000000, 'x');
        rejected_with(R"({")" + long_name + R"(":{"dtype":"F32","shape":[2,3,4],"data_offsets":[0,24]}})",
                      "... (1000000 characters)\": shape [2,3,4] is not a matrix shape");
        rejected_with(R"({"W":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},")" + long_name +
                          R"(":{"dtype":"F32","shape":[2],"data_offsets":[16,24]}})",
                      "... (1000000 characters)\" [16, 24) overlap");
    }
    SECTION("a key defined twice, the first definition invalid (the last one won before)") {
        const std::string good = R"("W":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]})";
        rejected_with(R"({"W":{"dtype":"F32","shape":[9,9],"data_offsets":[0,24]},)" + good + "}",
                      "tensor \"W\": is defined twice in the header");
        rejected_with(R"({"__metadata__":{"tapestry.crc32":"nonsense"},"__metadata__":{},)" + good + "}",
                      "the key \"__metadata__\" appears twice");
        rejected_with(R"({"__metadata__":{"a":"1","a":"2"},)" + good + "}", "the key \"a\" appears twice");
        rejected_with(R"({"W":{"dtype":"F64","dtype":"F32","shape":[2,3],"data_offsets":[0,24]}})",
                      "the key \"dtype\" appears twice");
    }
}

namespace {

// A small model trained for `passes` backward passes from the current state.
struct Model {
    Param<double, 5, 4> W{test::random_matrix(5, 4)};
    Param<double, 5, 1> b{test::random_matrix(5, 1)};
    ParamSet<double> params() { return {{"W", W}, {"b", b, {.lr_mult = 2, .decay_mult = 0}}}; }
};

void train(Model& m, Optimizer<double>& optimizer, int first_pass, int passes) {
    for (int pass = first_pass; pass < first_pass + passes; ++pass) {
        std::mt19937 data_rng(static_cast<unsigned>(pass));  // the data of pass k, whoever trains it
        Eigen::MatrixXd x(4, 3);
        for (Index i = 0; i < x.size(); ++i) x(i) = std::uniform_real_distribution<double>(-1, 1)(data_rng);
        Tape tape;
        tape.backward(mse(tanh(m.W * constant(x) + m.b), Eigen::MatrixXd::Constant(5, 3, 0.3)));
        optimizer.step();
    }
}

template <class MakeOptimizer>
void check_resume_is_exact(MakeOptimizer make) {
    TempDir dir;
    Model uninterrupted;
    Model first = uninterrupted, resumed = uninterrupted;  // same start
    {
        auto optimizer = make(uninterrupted.params());
        train(uninterrupted, *optimizer, 0, 11);
    }
    {
        auto optimizer = make(first.params());
        train(first, *optimizer, 0, 5);  // 5 passes with accumulate 2: one pass pending
        CHECK(optimizer->pending() == 1);
        save_checkpoint(dir.file("ckpt.safetensors"), *optimizer);
    }
    resumed.W.value().setZero();  // whatever it held is replaced by the checkpoint
    auto optimizer = make(resumed.params());
    load_checkpoint(dir.file("ckpt.safetensors"), *optimizer);
    CHECK(optimizer->iteration() == 2);
    train(resumed, *optimizer, 5, 6);
    CHECK(resumed.W.value() == uninterrupted.W.value());  // bit-identical
    CHECK(resumed.b.value() == uninterrupted.b.value());
}

}  // namespace

TEST_CASE("a run resumed from a checkpoint is bit-identical to an uninterrupted one") {
    OptimizerOptions o;
    o.lr = lr::step(0.1, 0.5, 2);
    o.weight_decay = 1e-3;
    o.accumulate = 2;
    SECTION("SGD with momentum") {
        check_resume_is_exact(
            [&](ParamSet<double> ps) { return std::make_unique<Sgd<double>>(ps, o, SgdOptions{.momentum = 0.9}); });
    }
    SECTION("Adam") {
        check_resume_is_exact([&](ParamSet<double> ps) { return std::make_unique<Adam<double>>(ps, o); });
    }
}

TEST_CASE("a checkpoint for another optimizer or model is rejected") {
    TempDir dir;
    Model m;
    OptimizerOptions o;
    Sgd<double> sgd(m.params(), o, {.momentum = 0.9});
    save_checkpoint(dir.file("sgd.safetensors"), sgd);
    Adam<double> adam(m.params(), o);
    CHECK_THROWS_MATCHES(load_checkpoint(dir.file("sgd.safetensors"), adam), file_error,
                         test::MessageContains("optimizer/exp_avg/W\": missing"));
}
