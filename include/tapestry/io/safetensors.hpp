#pragma once
// Reading and writing safetensors files (the format PyTorch and numpy users share):
//   8 bytes: little-endian u64 N; N bytes: a JSON header
//   {"name": {"dtype": "F32", "shape": [rows, cols], "data_offsets": [begin, end]}, ...,
//    "__metadata__": {"key": "value"}}; then the tensors' bytes, row-major (C order).
//
// Writing is atomic: a temporary file in the same folder is written, flushed to disk
// and renamed over the target, so a crash leaves either the old file or the new one;
// a symbolic link is followed to its target, whose permissions are kept.
// Reading maps the file (io/files.hpp) and validates everything (header, names, dtypes,
// shapes, offsets, file size and, in files tapestry wrote, a CRC-32 of every byte)
// before it hands out any tensor; every error names the file, the tensor and the
// problem. Saving streams through a 64 KiB buffer and loading copies from the mapping,
// so neither needs memory in proportion to the file beyond the Params themselves.

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <unistd.h>

#include <zlib.h>
#include <nlohmann/json.hpp>

#include "tapestry/core/eigen.hpp"
#include "tapestry/core/errors.hpp"
#include "tapestry/io/files.hpp"

namespace tapestry::io {

template <class T>
constexpr const char* safetensors_dtype() {
    static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>, "safetensors: float or double tensors");
    return std::is_same_v<T, float> ? "F32" : "F64";
}

// One tensor to write: a name and a column-major Eigen matrix (written row-major).
template <class T>
struct TensorView {
    std::string name;
    Eigen::Map<const Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>> matrix;
};

}  // namespace tapestry::io

namespace tapestry::detail {

inline void append_u64_le(std::string& out, std::uint64_t v) {
    for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

// The CRC-32 of the whole file lives in its own header, so it is computed with its
// 8 hex digits written as zeros; any flipped bit, anywhere, then fails the check.
inline constexpr const char* checksum_key = "tapestry.crc32";
inline constexpr const char* checksum_placeholder = "00000000";

inline std::uint32_t crc32_of(const char* data, std::size_t size, std::uint32_t crc = 0) {
    while (size > 0) {  // zlib takes 32-bit lengths
        const auto chunk = static_cast<uInt>(std::min<std::size_t>(size, 1u << 30));
        crc = static_cast<std::uint32_t>(::crc32(crc, reinterpret_cast<const Bytef*>(data), chunk));
        data += chunk;
        size -= chunk;
    }
    return crc;
}

inline std::string hex8(std::uint32_t v) {
    char text[9];
    std::snprintf(text, sizeof text, "%08x", v);
    return text;
}

// Untrusted text quoted in an error message: at most `limit` characters of it, so a
// hostile file cannot make a message of megabytes.
inline std::string brief(const std::string& text, std::size_t limit = 64) {
    if (text.size() <= limit) return text;
    return text.substr(0, limit) + "... (" + std::to_string(text.size()) + " characters)";
}

inline std::string brief(const nlohmann::json& value) {
    return brief(value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

// A safetensors header nests 3 levels (header, tensor, shape). Deeper JSON is refused
// while it is parsed: nlohmann's parser is iterative, but dump() and the checks recurse,
// and 20,000 levels overflow the stack under ASan.
inline constexpr int max_header_depth = 64;

// Where the checksum's digits are in the header text: after "tapestry.crc32":"
inline std::size_t checksum_position(const std::string& header_text) {
    const std::string key = std::string("\"") + checksum_key + "\":\"";
    const std::size_t at = header_text.find(key);
    if (at == std::string::npos || header_text.find(key, at + 1) != std::string::npos) return std::string::npos;
    return at + key.size();
}

}  // namespace tapestry::detail

namespace tapestry::io {

// Writes `tensors` (and string metadata) to `path`, atomically.
template <class T>
void write_safetensors(const std::string& path, const std::vector<TensorView<T>>& tensors,
                       const std::map<std::string, std::string>& metadata = {}) {
    nlohmann::ordered_json header = nlohmann::ordered_json::object();
    header["__metadata__"] = metadata;
    header["__metadata__"][detail::checksum_key] = detail::checksum_placeholder;
    std::uint64_t offset = 0;
    for (const auto& t : tensors) {
        if (t.name == "__metadata__" || header.contains(t.name))
            throw file_error(path + ": tensor \"" + t.name + "\": the name is reserved or used twice");
        const std::uint64_t bytes = static_cast<std::uint64_t>(t.matrix.size()) * sizeof(T);
        header[t.name] = {{"dtype", safetensors_dtype<T>()},
                          {"shape", {t.matrix.rows(), t.matrix.cols()}},
                          {"data_offsets", {offset, offset + bytes}}};
        offset += bytes;
    }
    std::string text = header.dump();
    text.append((8 - text.size() % 8) % 8, ' ');  // the data then starts 8-byte aligned

    std::string head;
    detail::append_u64_le(head, text.size());
    head += text;
    // Streamed: the tensors go out row-major through a fixed buffer while the CRC runs
    // over them, and the CRC's digits are written into the header last, so a save needs
    // 64 KiB of extra memory however large the tensors are.
    detail::replace_atomically(path, [&](int fd) {
        std::uint32_t crc = detail::crc32_of(head.data(), head.size());
        detail::write_all(fd, head.data(), head.size(), path);
        std::vector<T> buffer;
        buffer.reserve(std::size_t{1 << 16} / sizeof(T));
        const auto flush = [&] {
            // The format is little-endian, as is every machine tapestry builds for.
            static_assert(std::endian::native == std::endian::little);
            const auto* bytes = reinterpret_cast<const char*>(buffer.data());
            crc = detail::crc32_of(bytes, buffer.size() * sizeof(T), crc);
            detail::write_all(fd, bytes, buffer.size() * sizeof(T), path);
            buffer.clear();
        };
        for (const auto& t : tensors)
            for (Index r = 0; r < t.matrix.rows(); ++r)
                for (Index c = 0; c < t.matrix.cols(); ++c) {
                    buffer.push_back(t.matrix(r, c));
                    if (buffer.size() == buffer.capacity()) flush();
                }
        flush();
        const std::string digits = detail::hex8(crc);
        const auto at = static_cast<off_t>(8 + detail::checksum_position(text));
        if (::pwrite(fd, digits.data(), digits.size(), at) != static_cast<ssize_t>(digits.size()))
            throw file_error(path + ": write failed: " + std::strerror(errno));
    });
}

// A safetensors file, mapped into memory and fully validated.
class SafetensorsFile {
public:
    struct Entry {
        std::string dtype;
        Index rows, cols;
        std::size_t begin, end;  // within the data section
    };

    explicit SafetensorsFile(std::string path)
        : path_(std::move(path)), file_(path_), bytes_(file_.data(), file_.size()) {
        if (bytes_.size() < 8)
            fail("", "the file is " + std::to_string(bytes_.size()) + " bytes, shorter than its 8-byte header length");
        std::uint64_t header_size = 0;
        for (int i = 7; i >= 0; --i)
            header_size = (header_size << 8) | static_cast<unsigned char>(bytes_[static_cast<std::size_t>(i)]);
        if (header_size > bytes_.size() - 8)
            fail("", "the header claims " + std::to_string(header_size) + " bytes but the file has only " +
                         std::to_string(bytes_.size() - 8) + " after the length");
        data_start_ = 8 + static_cast<std::size_t>(header_size);

        using event_t = nlohmann::json::parse_event_t;
        // The keys of the open object at each depth: nlohmann keeps the last of two equal
        // keys, so a tensor (or __metadata__) defined twice would load its second definition
        // unchecked by whoever reads the first.
        std::vector<std::set<std::string>> keys;
        auto check = [&](int depth, event_t event, nlohmann::json& parsed) {
            const auto level = static_cast<std::size_t>(depth);
            if ((event == event_t::object_start || event == event_t::array_start) && depth >= detail::max_header_depth)
                fail("", "the header nests JSON deeper than " + std::to_string(detail::max_header_depth) + " levels");
            if (event == event_t::object_start) {
                keys.resize(std::max(keys.size(), level + 2));
                keys[level + 1].clear();  // its keys come at depth + 1
            }
            if (event == event_t::key && !keys[level].insert(parsed.get<std::string>()).second) {
                const std::string& key = parsed.get_ref<const std::string&>();
                if (depth == 1 && key != "__metadata__") fail(key, "is defined twice in the header");
                fail("", "the key \"" + detail::brief(key) + "\" appears twice in one object of the header");
            }
            return true;
        };
        nlohmann::json header;
        try {
            header = nlohmann::json::parse(bytes_.begin() + 8,
                                           bytes_.begin() + static_cast<std::ptrdiff_t>(data_start_), check);
        } catch (const nlohmann::json::exception& e) {
            fail("", "the header is not valid JSON (" + detail::brief(e.what(), 200) + ")");
        }
        if (!header.is_object()) fail("", "the header is not a JSON object");
        parse_entries(header);
        verify_checksum();
    }

    const std::string& path() const { return path_; }
    const std::map<std::string, Entry>& entries() const { return entries_; }
    const std::map<std::string, std::string>& metadata() const { return metadata_; }

    // Checks that `name` exists with dtype of T and shape rows x cols; throws file_error otherwise.
    template <class T>
    void expect(const std::string& name, Index rows, Index cols) const {
        const auto it = entries_.find(name);
        if (it == entries_.end()) fail(name, "missing from the file");
        const Entry& e = it->second;
        if (e.dtype != safetensors_dtype<T>())
            fail(name, "dtype " + e.dtype + " where " + safetensors_dtype<T>() + " is expected");
        if (e.rows != rows || e.cols != cols)
            fail(name,
                 "shape " + to_string_shape(e.rows, e.cols) + " where " + to_string_shape(rows, cols) + " is expected");
    }

    // Copies tensor `name` (checked with expect() first) into a column-major destination.
    template <class T>
    void read_into(const std::string& name, Eigen::Map<Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>> out) const {
        expect<T>(name, out.rows(), out.cols());
        copy_into<T>(entries_.find(name)->second, out);
    }

    // Copies an entry that expect() accepted for `out`'s type and shape. It allocates
    // nothing and cannot fail, so a load that validated every tensor first changes all
    // of its Params or none.
    template <class T>
    void copy_into(const Entry& e, Eigen::Map<Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>> out) const noexcept {
        const char* row_major = bytes_.data() + data_start_ + e.begin;
        for (Index r = 0; r < out.rows(); ++r)
            for (Index c = 0; c < out.cols(); ++c) {
                T value;
                std::memcpy(&value, row_major, sizeof(T));  // another program's offsets need not be aligned
                out(r, c) = value;
                row_major += sizeof(T);
            }
    }

    [[noreturn]] void fail(const std::string& tensor, const std::string& problem) const {
        throw file_error(path_ + (tensor.empty() ? "" : ": tensor \"" + detail::brief(tensor) + "\"") + ": " + problem);
    }

private:
    // Files written by tapestry carry a CRC-32 of all their bytes; others are taken as they are.
    void verify_checksum() const {
#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
        return;  // fuzzers mutate bytes: let their inputs reach the checks behind this one
#endif
        const auto it = metadata_.find(detail::checksum_key);
        if (it == metadata_.end()) return;
        const std::string header_text(bytes_.begin() + 8, bytes_.begin() + static_cast<std::ptrdiff_t>(data_start_));
        const std::size_t at = detail::checksum_position(header_text);
        if (it->second.size() != 8 || at == std::string::npos)
            fail("", "the checksum entry " + std::string(detail::checksum_key) + " is malformed");
        // The CRC runs over the file with the digits zeroed: in three pieces, not over a
        // copy of the whole file.
        const std::size_t digits = 8 + at;
        std::uint32_t crc = detail::crc32_of(bytes_.data(), digits);
        crc = detail::crc32_of(detail::checksum_placeholder, 8, crc);
        crc = detail::crc32_of(bytes_.data() + digits + 8, bytes_.size() - digits - 8, crc);
        const std::string computed = detail::hex8(crc);
        if (computed != it->second)
            fail("", "the content does not match its CRC-32 (stored " + it->second + ", computed " + computed +
                         "): the file is damaged");
    }

    static std::size_t element_size(const std::string& dtype) {
        if (dtype == "F64" || dtype == "I64" || dtype == "U64") return 8;
        if (dtype == "F32" || dtype == "I32" || dtype == "U32") return 4;
        if (dtype == "F16" || dtype == "BF16" || dtype == "I16" || dtype == "U16") return 2;
        if (dtype == "I8" || dtype == "U8" || dtype == "BOOL") return 1;
        return 0;
    }

    void parse_entries(const nlohmann::json& header) {
        const std::size_t data_size = bytes_.size() - data_start_;
        struct Range {
            std::uint64_t begin, end;
            std::string name;
        };
        std::vector<Range> ranges;
        for (const auto& [name, value] : header.items()) {
            if (name == "__metadata__") {
                if (!value.is_object()) fail("", "__metadata__ is not an object");
                for (const auto& [key, text] : value.items()) {
                    if (!text.is_string()) fail("", "__metadata__ value of \"" + key + "\" is not a string");
                    metadata_[key] = text.get<std::string>();
                }
                continue;
            }
            if (!value.is_object() || !value.contains("dtype") || !value.contains("shape") ||
                !value.contains("data_offsets"))
                fail(name, "needs dtype, shape and data_offsets");
            const auto& dtype = value["dtype"];
            const auto& shape = value["shape"];
            const auto& offsets = value["data_offsets"];
            if (!dtype.is_string()) fail(name, "dtype is not a string");
            const std::size_t size = element_size(dtype.get<std::string>());
            if (size == 0) fail(name, "unknown dtype " + detail::brief(dtype));
            if (!shape.is_array() || shape.size() > 2)
                fail(name, "shape " + detail::brief(shape) + " is not a matrix shape");
            Index extents[2] = {1, 1};
            std::uint64_t count = 1;
            for (std::size_t i = 0; i < shape.size(); ++i) {
                if (!shape[i].is_number_unsigned() || shape[i].get<std::uint64_t>() > (std::uint64_t{1} << 40))
                    fail(name, "shape " + detail::brief(shape) + " has an invalid extent");
                const std::uint64_t extent = shape[i].get<std::uint64_t>();
                extents[shape.size() == 1 ? 0 : i] = static_cast<Index>(extent);
                // A product that wrapped around (2^40 x 2^24 x 4 bytes is 0 mod 2^64) would
                // match any offsets: refuse it before it is compared with them.
                if (extent != 0 && count > std::numeric_limits<std::uint64_t>::max() / size / extent)
                    fail(name, "shape " + detail::brief(shape) + " needs more than 2^64 bytes");
                count *= extent;
            }
            if (!offsets.is_array() || offsets.size() != 2 || !offsets[0].is_number_unsigned() ||
                !offsets[1].is_number_unsigned())
                fail(name, "data_offsets " + detail::brief(offsets) + " is not two unsigned numbers");
            const std::uint64_t begin = offsets[0].get<std::uint64_t>(), end = offsets[1].get<std::uint64_t>();
            if (begin > end || end > data_size)
                fail(name, "data_offsets [" + std::to_string(begin) + ", " + std::to_string(end) +
                               "] do not fit in the " + std::to_string(data_size) + " bytes of data (file truncated?)");
            if (end - begin != count * size)
                fail(name, "holds " + std::to_string(end - begin) + " bytes, but its dtype and shape need " +
                               std::to_string(count * size));
            ranges.push_back({begin, end, name});
            entries_[name] = Entry{dtype.get<std::string>(), extents[0], extents[1], begin, end};
        }
        std::sort(ranges.begin(), ranges.end(), [](const Range& a, const Range& b) { return a.begin < b.begin; });
        auto describe = [](const Range& r) {
            // Appended piece by piece: g++ 12 -O3 sees a false -Wrestrict in the chain of +.
            std::string text = "\"";
            text += detail::brief(r.name);
            text += "\" [" + std::to_string(r.begin);
            text += ", " + std::to_string(r.end) + ")";
            return text;
        };
        // Sorted by start, any overlap shows between neighbours.
        for (std::size_t i = 1; i < ranges.size(); ++i)
            if (ranges[i].begin < ranges[i - 1].end)
                fail("", "the data of tensors " + describe(ranges[i - 1]) + " and " + describe(ranges[i]) + " overlap");
    }

    std::string path_;
    detail::MappedFile file_;
    std::string_view bytes_;  // the whole file
    std::size_t data_start_ = 0;
    std::map<std::string, Entry> entries_;
    std::map<std::string, std::string> metadata_;
};

}  // namespace tapestry::io
