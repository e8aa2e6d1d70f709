#pragma once
// The IDX format of MNIST and Fashion-MNIST, plain or gzip-compressed (zlib reads
// both): a magic number 0x00 0x00 <type> <dimensions>, one big-endian u32 per
// dimension, then the data. Only unsigned bytes (type 0x08) are used by these data
// sets and supported here. The file's length must match its dimensions exactly.

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include <zlib.h>

#include "tapestry/core/eigen.hpp"
#include "tapestry/io/files.hpp"

namespace tapestry::io {

struct IdxArray {
    std::vector<std::uint32_t> dims;
    std::vector<std::uint8_t> data;
};

}  // namespace tapestry::io

namespace tapestry::detail {

// A plain or gzip file read a piece at a time, so that no more is inflated than the
// IDX header asks for: a 1 MB gzip bomb inflates to 1 GiB.
class GzipReader {
public:
    explicit GzipReader(const std::string& path) : path_(path) {
        FileDescriptor descriptor(open_regular_file(path).first);
        file_ = gzdopen(descriptor.fd, "rb");
        if (file_ == nullptr) throw io::file_error(path + ": cannot open: " + std::strerror(errno));
        descriptor.release();  // gzclose closes it
    }
    GzipReader(const GzipReader&) = delete;
    GzipReader& operator=(const GzipReader&) = delete;
    ~GzipReader() {
        if (file_ != nullptr) gzclose(file_);
    }

    // Appends to `bytes` until it holds `size` bytes or the stream ends.
    void read_up_to(std::vector<std::uint8_t>& bytes, std::size_t size) {
        std::uint8_t buffer[1 << 16];
        while (file_ != nullptr && bytes.size() < size) {
            const auto want = static_cast<unsigned>(std::min<std::size_t>(sizeof(buffer), size - bytes.size()));
            const int n = gzread(file_, buffer, want);
            if (n < 0) {
                int code = 0;
                throw io::file_error(path_ + ": cannot decompress: " + gzerror(file_, &code));
            }
            if (n == 0) {
                // gzread stops quietly at a truncated gzip stream; gzclose_r reports it.
                const int status = gzclose(std::exchange(file_, nullptr));
                if (status != Z_OK) throw io::file_error(path_ + ": the gzip stream is truncated or damaged");
                return;
            }
            bytes.insert(bytes.end(), buffer, buffer + n);
        }
    }

private:
    std::string path_;
    gzFile file_ = nullptr;
};

}  // namespace tapestry::detail

namespace tapestry::io {

inline IdxArray read_idx(const std::string& path) {
    detail::GzipReader in(path);
    std::vector<std::uint8_t> bytes;
    in.read_up_to(bytes, 4);
    if (bytes.size() < 4) throw file_error(path + ": " + std::to_string(bytes.size()) + " bytes is too short for IDX");
    if (bytes[0] != 0 || bytes[1] != 0)
        throw file_error(path + ": not an IDX file (magic number starts with " + std::to_string(bytes[0]) + " " +
                         std::to_string(bytes[1]) + ", not 0 0)");
    if (bytes[2] != 0x08)
        throw file_error(path + ": IDX element type " + std::to_string(bytes[2]) +
                         " is not supported (only unsigned bytes, 8)");
    const std::size_t rank = bytes[3];
    if (rank < 1 || rank > 3)
        throw file_error(path + ": IDX with " + std::to_string(rank) + " dimensions (1 to 3 expected)");
    in.read_up_to(bytes, 4 + 4 * rank);
    if (bytes.size() < 4 + 4 * rank) throw file_error(path + ": truncated inside the IDX dimensions");

    IdxArray out;
    std::uint64_t count = 1;
    for (std::size_t d = 0; d < rank; ++d) {
        const std::uint8_t* p = bytes.data() + 4 + 4 * d;
        const std::uint32_t extent = (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) |
                                     (std::uint32_t{p[2]} << 8) | std::uint32_t{p[3]};
        out.dims.push_back(extent);
        // A product that wrapped around could match a short file: refuse it first.
        if (extent != 0 && count > std::numeric_limits<std::uint64_t>::max() / extent)
            throw file_error(path + ": the IDX dimensions multiply to more than 2^64 elements");
        count *= extent;
    }
    // The data, and one byte more to see whether the file goes on: never the rest of a
    // stream that inflates to gigabytes. Memory grows with the bytes read, not the claim.
    in.read_up_to(out.data, count == std::numeric_limits<std::uint64_t>::max() ? count : count + 1);
    if (out.data.size() > count)
        throw file_error(path + ": the dimensions need " + std::to_string(count) +
                         " bytes of data but the file has more");
    if (out.data.size() < count)
        throw file_error(path + ": the dimensions need " + std::to_string(count) + " bytes of data but the file has " +
                         std::to_string(out.data.size()));
    return out;
}

// Images (N x rows x cols) as a (rows*cols) x N matrix, one example per column, scaled to [0, 1].
template <class T = float>
Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic> read_idx_images(const std::string& path) {
    const IdxArray idx = read_idx(path);
    if (idx.dims.size() != 3)
        throw file_error(path + ": images need 3 IDX dimensions (count, rows, cols), the file has " +
                         std::to_string(idx.dims.size()));
    if (idx.dims[1] == 0 || idx.dims[2] == 0)
        throw file_error(path + ": images of " + std::to_string(idx.dims[1]) + "x" + std::to_string(idx.dims[2]) +
                         " pixels have no pixels");
    const std::uint64_t pixels_per_image = std::uint64_t{idx.dims[1]} * idx.dims[2];  // < 2^64: no wrap
    if (pixels_per_image > static_cast<std::uint64_t>(std::numeric_limits<Index>::max()))
        throw file_error(path + ": images of " + std::to_string(pixels_per_image) + " pixels are too large");
    const Index n = idx.dims[0], pixels = static_cast<Index>(pixels_per_image);
    // Row-major images, one after the other: exactly a column-major pixels x n matrix.
    Eigen::Map<const Eigen::Matrix<std::uint8_t, Eigen::Dynamic, Eigen::Dynamic>> raw(idx.data.data(), pixels, n);
    return raw.template cast<T>() / T(255);
}

// Labels (N) as ints.
inline std::vector<int> read_idx_labels(const std::string& path) {
    const IdxArray idx = read_idx(path);
    if (idx.dims.size() != 1)
        throw file_error(path + ": labels need 1 IDX dimension, the file has " + std::to_string(idx.dims.size()));
    return {idx.data.begin(), idx.data.end()};
}

}  // namespace tapestry::io
