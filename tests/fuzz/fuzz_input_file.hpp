#pragma once
// The loaders read files, so each fuzz input is written to a file first (one per
// process, rewritten for every input): the gzip layer of the IDX reader is fuzzed too.

#include <cstdint>
#include <cstdio>
#include <stdexcept>
#include <string>

#include <unistd.h>

namespace fuzz {

inline const std::string& input_path() {
    static const std::string path = "/tmp/tapestry-fuzz-" + std::to_string(getpid()) + ".bin";
    return path;
}

inline const std::string& write_input(const std::uint8_t* data, std::size_t size) {
    std::FILE* f = std::fopen(input_path().c_str(), "wb");
    if (f == nullptr || std::fwrite(data, 1, size, f) != size || std::fclose(f) != 0)
        throw std::runtime_error("fuzz: cannot write " + input_path());
    return input_path();
}

}  // namespace fuzz
