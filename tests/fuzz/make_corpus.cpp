// Writes the seed corpus (tests/fuzz/corpus/): valid files of each kind, from which
// the fuzzer mutates. Run once after a format change:
//   build/.../tests/fuzz/fuzz_make_corpus tests/fuzz/corpus

#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

#include <zlib.h>

#include <tapestry/io/checkpoint.hpp>
#include <tapestry/nn/optim/sgd.hpp>
#include <tapestry/tapestry.hpp>

namespace {

std::vector<std::uint8_t> idx(std::vector<std::uint32_t> dims) {
    std::vector<std::uint8_t> bytes{0, 0, 0x08, static_cast<std::uint8_t>(dims.size())};
    std::size_t count = 1;
    for (std::uint32_t d : dims) {
        for (int shift = 24; shift >= 0; shift -= 8) bytes.push_back(static_cast<std::uint8_t>(d >> shift));
        count *= d;
    }
    for (std::size_t i = 0; i < count; ++i) bytes.push_back(static_cast<std::uint8_t>(i * 37));
    return bytes;
}

void write(const std::string& path, const std::vector<std::uint8_t>& bytes) {
    std::ofstream(path, std::ios::binary)
        .write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

void write_gzip(const std::string& path, const std::vector<std::uint8_t>& bytes) {
    gzFile f = gzopen(path.c_str(), "wb9");
    gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size()));
    gzclose(f);
}

}  // namespace

int main(int argc, char** argv) {
    using namespace tapestry;
    const std::string dir = argc > 1 ? argv[1] : "tests/fuzz/corpus";
    write(dir + "/idx/images-3x2x2.idx", idx({3, 2, 2}));
    write_gzip(dir + "/idx/images-2x3x3.idx.gz", idx({2, 3, 3}));
    write(dir + "/idx/labels-5.idx", idx({5}));
    write(dir + "/idx/matrix-2x4.idx", idx({2, 4}));

    // The fuzz_checkpoint model, after one accumulated backward pass (pending = 1).
    Param<float, 4, 3> W{Eigen::Matrix<float, 4, 3>::Constant(0.25f)};
    Param<float, 4, 1> b{Eigen::Matrix<float, 4, 1>::Constant(-0.5f)};
    nn::Sgd<float> sgd{{{"W", W}, {"b", b, {.lr_mult = 2, .decay_mult = 0}}},
                       {.lr = nn::lr::fixed(0.1), .accumulate = 2},
                       {.momentum = 0.9}};
    const Eigen::Matrix<float, 3, 2> x = Eigen::Matrix<float, 3, 2>::Random();
    for (int pass = 0; pass < 3; ++pass) {
        Tape tape;
        tape.backward(mse(sigmoid(W * constant(x) + b), Eigen::Matrix<float, 4, 2>::Zero()));
        sgd.step();
    }
    io::save_checkpoint(dir + "/checkpoint/pending.safetensors", sgd);
    sgd.step();
    io::save_checkpoint(dir + "/checkpoint/clean.safetensors", sgd);
    io::save_params(dir + "/checkpoint/params-only.safetensors", sgd.params());
    return 0;
}
