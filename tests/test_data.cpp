// The IDX reader (plain and gzip) and its validation; mini-batches.

#include <filesystem>
#include <fstream>
#include <set>

#include <zlib.h>

#include <catch2/catch.hpp>

#include <tapestry/data/batches.hpp>
#include <tapestry/io/idx.hpp>

#include "helpers.hpp"

using namespace tapestry;
namespace fs = std::filesystem;

namespace {

std::string idx_bytes(std::uint8_t type, const std::vector<std::uint32_t>& dims,
                      const std::vector<std::uint8_t>& data) {
    std::string out{'\0', '\0', static_cast<char>(type), static_cast<char>(dims.size())};
    for (std::uint32_t d : dims)
        for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>((d >> shift) & 0xff));
    out.append(data.begin(), data.end());
    return out;
}

struct Files {
    fs::path dir = fs::temp_directory_path() / ("tapestry-idx-" + std::to_string(::getpid()));
    Files() { fs::create_directories(dir); }
    ~Files() { fs::remove_all(dir); }
    std::string plain(const std::string& name, const std::string& bytes) const {
        const std::string path = (dir / name).string();
        std::ofstream(path, std::ios::binary) << bytes;
        return path;
    }
    std::string gzip(const std::string& name, const std::string& bytes) const {
        const std::string path = (dir / name).string();
        gzFile f = gzopen(path.c_str(), "wb");
        gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size()));
        gzclose(f);
        return path;
    }
};

// Two 2x3 images: pixel values 0..5 and 250..255.
const std::vector<std::uint8_t> pixels{0, 1, 2, 3, 4, 5, 250, 251, 252, 253, 254, 255};

}  // namespace

TEST_CASE("IDX images read one example per column, scaled to [0, 1], from plain and gzip files") {
    Files files;
    const std::string bytes = idx_bytes(8, {2, 2, 3}, pixels);
    for (const std::string& path : {files.plain("images", bytes), files.gzip("images.gz", bytes)}) {
        const Eigen::MatrixXf images = io::read_idx_images<float>(path);
        REQUIRE(images.rows() == 6);
        REQUIRE(images.cols() == 2);
        CHECK(images(0, 0) == 0.0f);
        CHECK(images(5, 0) == Approx(5.0 / 255.0));  // row-major pixels in column order
        CHECK(images(5, 1) == 1.0f);
    }
    const std::string labels = files.gzip("labels.gz", idx_bytes(8, {3}, {7, 0, 9}));
    CHECK(io::read_idx_labels(labels) == std::vector<int>{7, 0, 9});
}

TEST_CASE("bad IDX files are rejected with the problem named") {
    Files files;
    auto rejected = [](const std::string& path, const std::string& words) {
        CHECK_THROWS_MATCHES(io::read_idx(path), io::file_error, test::MessageContains(words));
    };
    rejected(files.plain("magic", "\x01\x02\x08\x01" + std::string(4, '\0')), "not an IDX file");
    rejected(files.plain("type", idx_bytes(0x0D, {1}, {0, 0, 0, 0})), "element type 13 is not supported");
    rejected(files.plain("short", idx_bytes(8, {2, 2, 3}, {1, 2, 3})), "need 12 bytes of data but the file has 3");
    rejected(files.plain("long", idx_bytes(8, {1}, {1, 2})), "need 1 bytes of data but the file has more");
    rejected(files.plain("tiny", "ab"), "too short");
    rejected((files.dir / "absent").string(), "cannot open");
    const std::string full = idx_bytes(8, {2, 2, 3}, pixels);
    const std::string gz = files.gzip("whole.gz", full);
    std::ifstream in(gz, std::ios::binary);
    const std::string compressed{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    rejected(files.plain("cut.gz", compressed.substr(0, compressed.size() - 6)), "truncated");
    CHECK_THROWS_MATCHES(io::read_idx_images<float>(files.plain("labels-as-images", idx_bytes(8, {3}, {1, 2, 3}))),
                         io::file_error, test::MessageContains("images need 3 IDX dimensions"));
    // Found by fuzzing (tests/fuzz/regressions/idx): dimensions whose product wraps
    // around to the data's length, and billions of images of no pixels.
    rejected(files.plain("wraps", idx_bytes(8, {0x80000000u, 0x80000000u, 4}, {})), "more than 2^64 elements");
    CHECK_THROWS_MATCHES(
        io::read_idx_images<float>(files.plain("no-pixels", idx_bytes(8, {0xF8000000u, 0x308, 0}, {}))), io::file_error,
        test::MessageContains("images of 776x0 pixels have no pixels"));
    CHECK_THROWS_MATCHES(
        io::read_idx_images<float>(files.plain("huge", idx_bytes(8, {0, 0xFFFFFFFFu, 0xDAD22594u}, {}))),
        io::file_error, test::MessageContains("pixels are too large"));
}

TEST_CASE("a gzip bomb is inflated only as far as its IDX header needs, plus one byte") {
    Files files;
    // One 28x28 image, then 256 MiB of zeros: 250 KB compressed. Before, all of it was
    // inflated (a 1 GiB bomb took 2 GB and 5 s) before the size check.
    const std::string path = (files.dir / "bomb.gz").string();
    gzFile f = gzopen(path.c_str(), "wb");
    const std::string header = idx_bytes(8, {1, 28, 28}, std::vector<std::uint8_t>(28 * 28, 7));
    gzwrite(f, header.data(), static_cast<unsigned>(header.size()));
    const std::string zeros(1 << 20, '\0');
    for (int i = 0; i < 256; ++i) gzwrite(f, zeros.data(), static_cast<unsigned>(zeros.size()));
    gzclose(f);
    CHECK(fs::file_size(path) < 400000);
    CHECK_THROWS_MATCHES(io::read_idx_images<float>(path), io::file_error,
                         test::MessageContains("bomb.gz: the dimensions need 784 bytes of data but the file has more"));
    // The header's claim is not allocated up front either: 2^32 - 1 images of 1 byte.
    CHECK_THROWS_MATCHES(io::read_idx(files.gzip("claims.gz", idx_bytes(8, {0xFFFFFFFFu}, {1, 2, 3}))), io::file_error,
                         test::MessageContains("need 4294967295 bytes of data but the file has 3"));
}

TEST_CASE("batches cover every example once per epoch in a seeded order, the last one smaller") {
    Eigen::MatrixXd examples(2, 10);
    std::vector<int> labels;
    for (int j = 0; j < 10; ++j) {
        examples.col(j) << j, -j;
        labels.push_back(j);
    }
    data::Batches<double> batches(examples, labels, 4, 99);
    CHECK(batches.size() == 3);
    auto epoch_order = [&](data::Batches<double>& b, long epoch) {
        b.start_epoch(epoch);
        std::vector<int> seen;
        data::Batch<double> batch;
        for (Index i = 0; i < b.size(); ++i) {
            b.get(i, batch);
            CHECK(batch.x.cols() == (i < 2 ? 4 : 2));
            for (Index j = 0; j < batch.x.cols(); ++j) {
                CHECK(batch.x(1, j) == -batch.x(0, j));
                CHECK(batch.labels[static_cast<std::size_t>(j)] == static_cast<int>(batch.x(0, j)));
                seen.push_back(batch.labels[static_cast<std::size_t>(j)]);
            }
        }
        return seen;
    };
    const auto first = epoch_order(batches, 0);
    CHECK(std::set<int>(first.begin(), first.end()).size() == 10);
    CHECK(epoch_order(batches, 1) != first);
    data::Batches<double> again(examples, labels, 4, 99);
    CHECK(epoch_order(again, 1) == epoch_order(batches, 1));
    CHECK(epoch_order(again, 0) == first);
}

TEST_CASE("a share of a batch is those columns of the whole batch, and a share past its end is refused") {
    Eigen::MatrixXd examples(2, 10);
    std::vector<int> labels;
    for (int j = 0; j < 10; ++j) {
        examples.col(j) << j, 10 * j;
        labels.push_back(100 + j);
    }
    data::Batches<double> batches(examples, labels, 4, 7);
    batches.start_epoch(3);
    CHECK(batches.count(0) == 4);
    CHECK(batches.count(2) == 2);  // the last batch is smaller
    CHECK_THROWS_AS(batches.count(3), value_error);
    data::Batch<double> whole, share;
    for (Index i = 0; i < batches.size(); ++i) {
        batches.get(i, whole);
        for (Index first = 0; first <= batches.count(i); ++first)
            for (Index n = 0; first + n <= batches.count(i); ++n) {
                batches.get(i, share, first, n);
                CHECK(share.x == whole.x.middleCols(first, n));
                CHECK(std::vector<int>(share.labels) ==
                      std::vector<int>(whole.labels.begin() + first, whole.labels.begin() + first + n));
            }
    }
    CHECK_THROWS_MATCHES(batches.get(2, share, 1, 2), index_error,
                         test::MessageContains("examples [1, 3) of batch 2, which holds 2"));
    CHECK_THROWS_AS(batches.get(0, share, -1, 1), index_error);
    CHECK_THROWS_AS(batches.get(0, share, 0, -1), index_error);
}
