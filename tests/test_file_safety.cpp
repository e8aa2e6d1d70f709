// Files never lose data: a save killed at any moment leaves the previous checkpoint
// whole, and any single flipped bit in a checkpoint is detected (CRC-32) before a
// Param or optimizer state changes.

#include <csignal>
#include <filesystem>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <tapestry/io/checkpoint.hpp>
#include <tapestry/io/idx.hpp>
#include <tapestry/nn/optim/sgd.hpp>

#include "helpers.hpp"
#include "temp_files.hpp"

using namespace tapestry;
using namespace tapestry::nn;
using namespace tapestry::io;

TEST_CASE("a process killed while saving leaves the previous checkpoint whole") {
    test::TempDir dir;
    const std::string path = dir.file("model.safetensors");
    // 4 MB: a save's write, fsync and rename take long enough to be interrupted.
    Param<double, Dynamic, Dynamic> W(Eigen::MatrixXd::Constant(512, 1024, 1.0));
    ParamSet<double> params{{"W", W}};
    save_params(path, params);

    std::mt19937 rng(20261127);
    int killed_while_writing = 0;
    for (int round = 0; round < 20; ++round) {
        const pid_t child = ::fork();
        REQUIRE(child >= 0);
        if (child == 0) {
            // Saves all 2s, then all 3s, ... until it is killed.
            try {
                for (double v = 2;; v += 1) {
                    W.value().setConstant(v);
                    save_params(path, params);
                }
            } catch (...) {
                std::_Exit(1);
            }
        }
        // Kill at a random moment soon after a save has created its temporary file:
        // during the write, the fsync, the rename, or the start of the next save.
        const std::string temporary = "model.safetensors.tmp." + std::to_string(child) + ".";
        for (int wait = 0; wait < 100000 && dir.names_starting(temporary).empty(); ++wait) ::usleep(100);
        ::usleep(std::uniform_int_distribution<useconds_t>(0, 5000)(rng));
        ::kill(child, SIGKILL);
        int status = 0;
        ::waitpid(child, &status, 0);
        REQUIRE(WIFSIGNALED(status));  // killed, not failed
        // The child's temporary file is left behind if it died in the middle of a save.
        if (!dir.names_starting(temporary).empty()) ++killed_while_writing;

        Param<double, Dynamic, Dynamic> loaded(512, 1024);
        REQUIRE_NOTHROW(load_params(path, ParamSet<double>{{"W", loaded}}));
        const double v = loaded.value()(0, 0);
        CHECK(loaded.value().isConstant(v));  // one whole save, never a mix of two
        CHECK(v >= 1.0);
    }
    INFO("kills that landed while a temporary file was being written: " << killed_while_writing);
    CHECK(killed_while_writing > 0);  // the test did interrupt saves
}

TEST_CASE("every single flipped bit of a checkpoint is detected, and nothing changes") {
    test::TempDir dir;
    Param<float, 3, 2> W(Eigen::Matrix<float, 3, 2>::Constant(0.5f));
    Param<float, 3, 1> b(Eigen::Matrix<float, 3, 1>::Constant(-1.0f));
    Sgd<float> sgd({{"W", W}, {"b", b}}, {.lr = lr::fixed(0.1)}, {.momentum = 0.9});
    {
        Tape tape;
        tape.backward(mse(W * constant(Eigen::Matrix<float, 2, 4>::Ones()) + b, Eigen::Matrix<float, 3, 4>::Zero()));
        sgd.step();
    }
    const std::string good = dir.file("good.safetensors");
    save_checkpoint(good, sgd);
    const std::string bytes = test::read_bytes(good);
    const Eigen::Matrix<float, 3, 2> W_saved = W.value();
    const Eigen::Matrix<float, 3, 1> b_saved = b.value();

    const std::string damaged = dir.file("damaged.safetensors");
    std::vector<std::string> undetected, other_errors;
    for (std::size_t byte = 0; byte < bytes.size(); ++byte) {
        for (int bit = 0; bit < 8; ++bit) {
            std::string flipped = bytes;
            flipped[byte] = static_cast<char>(flipped[byte] ^ (1 << bit));
            test::write_bytes(damaged, flipped);
            try {
                load_checkpoint(damaged, sgd);
                undetected.push_back("byte " + std::to_string(byte) + " bit " + std::to_string(bit));
            } catch (const file_error&) {
            } catch (const std::exception& e) {
                other_errors.push_back(e.what());
            }
            if (W.value() != W_saved || b.value() != b_saved || sgd.iteration() != 1) {
                FAIL("a rejected file changed the model (byte " << byte << " bit " << bit << ")");
            }
        }
    }
    INFO("bits flipped: " << 8 * bytes.size() << "; undetected: " << (undetected.empty() ? "" : undetected.front())
                          << " .. " << undetected.size());
    CHECK(undetected.empty());
    CHECK(other_errors.empty());
    CHECK_NOTHROW(load_checkpoint(good, sgd));  // and the intact file still loads

    // load_params also reads files from other programs, which carry no checksum: a
    // flip that hides tapestry's checksum key is let through, but then the tensors
    // are intact (one flip), so every load gives the saved values exactly.
    Param<float, 3, 2> W2;
    Param<float, 3, 1> b2;
    const std::string params_file = dir.file("params.safetensors");
    save_params(params_file, ParamSet<float>{{"W", W}, {"b", b}});
    const std::string param_bytes = test::read_bytes(params_file);
    int loaded_intact = 0, wrong = 0;
    for (std::size_t byte = 0; byte < param_bytes.size(); ++byte) {
        for (int bit = 0; bit < 8; ++bit) {
            std::string flipped = param_bytes;
            flipped[byte] = static_cast<char>(flipped[byte] ^ (1 << bit));
            test::write_bytes(damaged, flipped);
            W2.value().setZero();
            b2.value().setZero();
            try {
                load_params(damaged, ParamSet<float>{{"W", W2}, {"b", b2}});
                ++loaded_intact;
                if (W2.value() != W_saved || b2.value() != b_saved) ++wrong;
            } catch (const file_error&) {
                if (!W2.value().isZero() || !b2.value().isZero()) ++wrong;
            }
        }
    }
    INFO("flips that still loaded (all in the checksum's key): " << loaded_intact);
    CHECK(wrong == 0);
}

TEST_CASE("a file without tapestry's checksum (written by another program) loads, a damaged checksum entry does not") {
    test::TempDir dir;
    // Written by hand as another program would: no __metadata__ at all.
    const std::string json = R"({"W":{"dtype":"F32","shape":[1,2],"data_offsets":[0,8]}})";
    std::string file;
    for (int i = 0; i < 8; ++i) file.push_back(static_cast<char>((json.size() >> (8 * i)) & 0xff));
    file += json;
    const float values[2] = {1.5f, -2.0f};
    file.append(reinterpret_cast<const char*>(values), sizeof values);
    test::write_bytes(dir.file("foreign.safetensors"), file);
    Param<float, 1, 2> W;
    load_params(dir.file("foreign.safetensors"), ParamSet<float>{{"W", W}});
    CHECK(W.value()(0, 0) == 1.5f);
    CHECK(W.value()(0, 1) == -2.0f);

    std::string spaced = json;
    spaced.insert(1, R"("__metadata__":{"tapestry.crc32" : "12345678"},)");
    std::string bad;
    for (int i = 0; i < 8; ++i) bad.push_back(static_cast<char>((spaced.size() >> (8 * i)) & 0xff));
    bad += spaced;
    bad.append(reinterpret_cast<const char*>(values), sizeof values);
    test::write_bytes(dir.file("odd.safetensors"), bad);
    CHECK_THROWS_MATCHES(load_params(dir.file("odd.safetensors"), ParamSet<float>{{"W", W}}), file_error,
                         test::MessageContains("the checksum entry tapestry.crc32 is malformed"));
}

TEST_CASE("a path that is not a regular file is refused with file_error naming it, without reading or waiting") {
    test::TempDir dir;
    const std::string fifo = dir.file("fifo"), folder = dir.file("folder");
    REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
    std::filesystem::create_directory(folder);
    Param<float, 2, 2> W(Eigen::Matrix2f::Constant(3.0f));
    Sgd<float> sgd({{"W", W}}, {.lr = lr::fixed(0.1)});
    // Before: /dev/zero was read until bad_alloc (2 GB, 33 s), the FIFO blocked forever
    // and the folder threw std::ios_base::failure.
    for (const auto& [path, kind] : std::vector<std::pair<std::string, std::string>>{
             {"/dev/zero", "a character device"}, {fifo, "a FIFO"}, {folder, "a directory"}}) {
        const std::string words = path + ": is " + kind + ", not a regular file";
        CHECK_THROWS_MATCHES(load_params(path, sgd.params()), file_error, test::MessageContains(words));
        CHECK_THROWS_MATCHES(load_checkpoint(path, sgd), file_error, test::MessageContains(words));
        CHECK_THROWS_MATCHES(SafetensorsFile(path), file_error, test::MessageContains(words));
        CHECK_THROWS_MATCHES(read_idx(path), file_error, test::MessageContains(words));
        CHECK((W.value().array() == 3.0f).all());
    }
    // A save would replace the FIFO or the folder with a regular file.
    for (const std::string& path : {fifo, folder}) {
        CHECK_THROWS_MATCHES(save_params(path, sgd.params()), file_error, test::MessageContains(path + ": is a"));
        CHECK_THROWS_MATCHES(save_checkpoint(path, sgd), file_error, test::MessageContains("not a regular file"));
    }
    CHECK(std::filesystem::is_fifo(fifo));
    CHECK(std::filesystem::is_directory(folder));
}

TEST_CASE("threads saving to one path at once all succeed, and a failed save leaves no temporary file") {
    test::TempDir dir;
    const std::string path = dir.file("shared.safetensors");
    // Before, every save of a process used <file>.tmp.<pid>: about half of 80 saves from
    // 4 threads failed ("cannot rename"), and others renamed a file another thread was writing.
    std::vector<std::thread> threads;
    std::vector<int> failures(4, 0);
    for (int t = 0; t < 4; ++t)
        threads.emplace_back([&, t] {
            Param<double, Dynamic, Dynamic> W(Eigen::MatrixXd::Constant(64, 64, t));
            for (int save = 0; save < 20; ++save) {
                try {
                    save_params(path, ParamSet<double>{{"W", W}});
                } catch (const file_error&) {
                    ++failures[static_cast<std::size_t>(t)];
                }
            }
        });
    for (auto& thread : threads) thread.join();
    CHECK(failures == std::vector<int>(4, 0));
    Param<double, Dynamic, Dynamic> loaded(64, 64);
    REQUIRE_NOTHROW(load_params(path, ParamSet<double>{{"W", loaded}}));
    CHECK(loaded.value().isConstant(loaded.value()(0, 0)));  // one thread's whole save
    CHECK(dir.names_starting("shared.safetensors.tmp.").empty());

    // A save whose write fails (the file size limit, in a child process) removes its
    // temporary file and leaves the previous file as it was.
    const std::string before = test::read_bytes(path);
    const pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        std::signal(SIGXFSZ, SIG_IGN);  // write() then fails with EFBIG
        const rlimit limit{1000, 1000};
        ::setrlimit(RLIMIT_FSIZE, &limit);
        Param<double, Dynamic, Dynamic> big(Eigen::MatrixXd::Constant(64, 64, 9.0));
        try {
            save_params(path, ParamSet<double>{{"W", big}});
        } catch (const file_error&) {
            std::_Exit(0);
        }
        std::_Exit(1);
    }
    int status = 0;
    ::waitpid(child, &status, 0);
    CHECK((WIFEXITED(status) && WEXITSTATUS(status) == 0));  // the save threw file_error
    CHECK(dir.names_starting("shared.safetensors.tmp.").empty());
    CHECK(test::read_bytes(path) == before);
}

TEST_CASE("a save over a symbolic link writes its target and keeps the link; a save keeps the file's mode") {
    test::TempDir dir;
    namespace fs = std::filesystem;
    Param<float, 2, 2> W(Eigen::Matrix2f::Constant(1.0f));
    const std::string target = dir.file("target.safetensors");
    save_params(target, ParamSet<float>{{"W", W}});
    fs::create_directory(dir.file("links"));
    const std::string relative = dir.file("links/relative.safetensors");
    const std::string absolute = dir.file("absolute.safetensors");
    fs::create_symlink("../target.safetensors", relative);
    fs::create_symlink(relative, absolute);  // a link to a link
    Param<float, 2, 2> loaded;
    for (const std::string& link : {relative, absolute}) {
        W.value().array() += 1.0f;
        save_params(link, ParamSet<float>{{"W", W}});
        CHECK(fs::is_symlink(link));  // before: replaced by a regular file
        load_params(target, ParamSet<float>{{"W", loaded}});
        CHECK(loaded.value() == W.value());
    }
    CHECK(dir.names_starting("target.safetensors.tmp.").empty());
    // A dangling link creates its target.
    const std::string dangling = dir.file("dangling.safetensors");
    fs::create_symlink("new.safetensors", dangling);
    save_params(dangling, ParamSet<float>{{"W", W}});
    CHECK(fs::is_symlink(dangling));
    CHECK(fs::is_regular_file(dir.file("new.safetensors")));

    // Before, a 0444 file became 0644 at its next save.
    for (const auto mode : {fs::perms(0444), fs::perms(0600), fs::perms(0664)}) {
        fs::permissions(target, mode);
        save_params(absolute, ParamSet<float>{{"W", W}});
        CHECK(fs::status(target).permissions() == mode);
    }
}
