#pragma once
// Files for the tests that write and damage them: a fresh folder per test, removed
// at the end, and whole-file reads and writes.

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <unistd.h>

namespace test {

struct TempDir {
    std::filesystem::path path;
    TempDir() {
        path = std::filesystem::temp_directory_path() /
               ("tapestry-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter()++));
        std::filesystem::create_directories(path);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    ~TempDir() { std::filesystem::remove_all(path); }
    std::string file(const std::string& name) const { return (path / name).string(); }
    // The names in the folder that start with `prefix` (e.g. a save's temporary files).
    std::vector<std::string> names_starting(const std::string& prefix) const {
        std::vector<std::string> names;
        for (const auto& entry : std::filesystem::directory_iterator(path))
            if (entry.path().filename().string().starts_with(prefix)) names.push_back(entry.path().filename());
        return names;
    }
    static int& counter() {
        static int n = 0;
        return n;
    }
};

inline std::string read_bytes(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

inline void write_bytes(const std::string& path, const std::string& bytes) {
    std::ofstream(path, std::ios::binary) << bytes;
}

// A safetensors file with this JSON header text (not padded) and these data bytes,
// as a hostile or foreign program could write it.
inline std::string safetensors_bytes(const std::string& header, const std::string& data = "") {
    std::string file;
    for (int i = 0; i < 8; ++i) file.push_back(static_cast<char>((header.size() >> (8 * i)) & 0xff));
    return file + header + data;
}

}  // namespace test
