// Fuzz target: the IDX reader (plain or gzip) must either return arrays whose sizes
// match their dimensions, or throw file_error. Anything else (a crash, a sanitizer
// report, another exception) is a bug.

#include <cstdint>
#include <cstdlib>

#include <tapestry/io/idx.hpp>

#include "fuzz_input_file.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string& path = fuzz::write_input(data, size);
    try {
        const tapestry::io::IdxArray idx = tapestry::io::read_idx(path);
        std::uint64_t count = 1;
        for (std::uint32_t extent : idx.dims) count *= extent;
        if (idx.dims.empty() || count != idx.data.size()) std::abort();
        if (idx.dims.size() == 3) {
            const auto images = tapestry::io::read_idx_images<float>(path);
            if (images.size() != static_cast<Eigen::Index>(count) || (images.array() < 0).any() ||
                (images.array() > 1).any())
                std::abort();
        }
        if (idx.dims.size() == 1 && tapestry::io::read_idx_labels(path).size() != count) std::abort();
    } catch (const tapestry::io::file_error&) {
        // rejected with a message: what should happen to a bad file
    }
    return 0;
}
