#pragma once
// Files as the loaders and savers need them: opened only if they are regular files,
// mapped for reading, and replaced atomically for writing.

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tapestry/core/errors.hpp"

namespace tapestry::io {

// A file that cannot be read or written as asked.
struct file_error : error {
    using error::error;
};

}  // namespace tapestry::io

namespace tapestry::detail {

inline void write_all(int fd, const void* data, std::size_t size, const std::string& path) {
    const auto* bytes = static_cast<const char*>(data);
    while (size > 0) {
        const ssize_t n = ::write(fd, bytes, size);
        if (n < 0) throw io::file_error(path + ": write failed: " + std::strerror(errno));
        bytes += n;
        size -= static_cast<std::size_t>(n);
    }
}

// Closes a file descriptor on every path out of a scope.
struct FileDescriptor {
    int fd = -1;
    explicit FileDescriptor(int descriptor) : fd(descriptor) {}
    FileDescriptor(const FileDescriptor&) = delete;
    FileDescriptor& operator=(const FileDescriptor&) = delete;
    ~FileDescriptor() {
        if (fd >= 0) ::close(fd);
    }
    int release() { return std::exchange(fd, -1); }
};

inline const char* file_kind(mode_t mode) {
    if (S_ISDIR(mode)) return "a directory";
    if (S_ISCHR(mode)) return "a character device";
    if (S_ISBLK(mode)) return "a block device";
    if (S_ISFIFO(mode)) return "a FIFO";
    if (S_ISSOCK(mode)) return "a socket";
    return "not a regular file";
}

// Opens `path` for reading, refusing anything but a regular file: /dev/zero would be
// read until memory runs out, a FIFO would block forever (hence O_NONBLOCK until the
// check), and a directory gave an iostream exception. Returns the descriptor and size.
inline std::pair<int, std::size_t> open_regular_file(const std::string& path) {
    FileDescriptor file(::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
    if (file.fd < 0) throw io::file_error(path + ": cannot open: " + std::strerror(errno));
    struct stat status {};
    if (::fstat(file.fd, &status) != 0) throw io::file_error(path + ": cannot stat: " + std::strerror(errno));
    if (!S_ISREG(status.st_mode))
        throw io::file_error(path + ": is " + std::string(file_kind(status.st_mode)) + ", not a regular file");
    const int flags = ::fcntl(file.fd, F_GETFL);
    if (flags < 0 || ::fcntl(file.fd, F_SETFL, flags & ~O_NONBLOCK) != 0)
        throw io::file_error(path + ": cannot open: " + std::strerror(errno));
    return {file.release(), static_cast<std::size_t>(status.st_size)};
}

// A regular file mapped read-only into memory: its bytes are read from the page cache
// as they are used, so loading a file of any size takes no extra heap (a load that
// validates everything before it changes a Param would otherwise hold a copy of the
// whole file). A file that cannot be mapped (some file systems, /proc) is read into
// memory instead, once.
//
// Limits, as with every mapped loader: the mapping shows the file as it is now, so a
// program that rewrites the file in place during a load (not by renaming a new one
// over it, as tapestry's saves do) can make the load take bytes that were not checked;
// and one that truncates it, or a read error on the device, ends the process with
// SIGBUS where a read would have thrown.
class MappedFile {
public:
    explicit MappedFile(const std::string& path) {
        const auto [descriptor, size] = open_regular_file(path);
        FileDescriptor file(descriptor);
        if (size == 0) return;  // mmap refuses empty mappings; an empty span needs none
        void* address = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, file.fd, 0);
        if (address == MAP_FAILED) {
            read_whole(file.fd, size, path);
            return;
        }
        data_ = static_cast<const char*>(address);
        mapped_size_ = size_ = size;
        // Shrunk between fstat and mmap: only what is still there may be read (pages past
        // the end would raise SIGBUS); the checks that follow see a short file.
        struct stat status {};
        if (::fstat(file.fd, &status) == 0 && static_cast<std::size_t>(status.st_size) < size_)
            size_ = static_cast<std::size_t>(status.st_size);
    }
    MappedFile(MappedFile&& other) noexcept { swap(other); }
    MappedFile& operator=(MappedFile&& other) noexcept {
        MappedFile(std::move(other)).swap(*this);  // the temporary unmaps what this held
        return *this;
    }
    MappedFile(const MappedFile&) = delete;
    MappedFile& operator=(const MappedFile&) = delete;
    ~MappedFile() {
        if (mapped_size_ > 0) ::munmap(const_cast<char*>(data_), mapped_size_);
    }

    const char* data() const { return data_; }
    std::size_t size() const { return size_; }

    // data_ may point into copy_'s buffer: swapping vectors exchanges their buffers, so
    // it still does afterwards.
    void swap(MappedFile& other) noexcept {
        std::swap(data_, other.data_);
        std::swap(size_, other.size_);
        std::swap(mapped_size_, other.mapped_size_);
        copy_.swap(other.copy_);
    }

private:
    void read_whole(int fd, std::size_t size, const std::string& path) {
        copy_.resize(size);
        std::size_t have = 0;
        while (have < size) {
            const ssize_t n = ::read(fd, copy_.data() + have, size - have);
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) throw io::file_error(path + ": read failed: " + std::strerror(errno));
            if (n == 0) break;  // shrunk since fstat: the checks that follow see a short file
            have += static_cast<std::size_t>(n);
        }
        copy_.resize(have);
        data_ = copy_.data();
        size_ = have;
    }

    const char* data_ = nullptr;
    std::size_t size_ = 0;
    std::size_t mapped_size_ = 0;  // 0: nothing mapped (an empty file, or one read into copy_)
    std::vector<char> copy_;
};

// Makes sure a rename in `folder` is on disk: without it a power cut soon after a save
// returned could bring back the old file.
inline void sync_folder(const std::string& folder, const std::string& path) {
    FileDescriptor directory(::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    // EINVAL: a file system that cannot sync folders; nothing more can be done there.
    if (directory.fd < 0 || (::fsync(directory.fd) != 0 && errno != EINVAL))
        throw io::file_error(path +
                             ": saved, but its folder could not be synced, so the save may not survive a "
                             "power cut: " +
                             std::strerror(errno));
}

// The file a save replaces: the final target of `path` if it is a symbolic link, so the
// link stays a link (as an editor's atomic save does), else `path` itself.
inline std::string final_target(const std::string& path) {
    namespace fs = std::filesystem;
    fs::path target = path;
    for (int hops = 0; hops < 40; ++hops) {  // 40: Linux's own limit (ELOOP)
        std::error_code error;
        if (!fs::is_symlink(fs::symlink_status(target, error))) return target.string();
        const fs::path next = fs::read_symlink(target, error);
        if (error) throw io::file_error(path + ": cannot read the link " + target.string() + ": " + error.message());
        target = next.is_absolute() ? next : target.parent_path() / next;
    }
    throw io::file_error(path + ": too many levels of symbolic links");
}

// Replaces `path` by a file with new content, atomically: a temporary file in the same
// folder is written, fsynced and renamed over it, then the folder is synced. The
// temporary's name is unique per process (pid) and per save (a counter shared by the
// threads), so concurrent saves to one path never share one; on any error it is removed.
// A symbolic link is followed to the file it names, and the replaced file's permission
// bits are kept (a 0444 file stays 0444); its owner is not (only root could keep it).
// `write(fd)` writes the content into the temporary file.
template <class Write>
void replace_atomically(const std::string& link_or_path, Write&& write) {
    const std::string path = final_target(link_or_path);
    // A rename would replace a device, FIFO or directory with a regular file.
    struct stat status {};
    const bool exists = ::stat(path.c_str(), &status) == 0;
    if (exists && !S_ISREG(status.st_mode))
        throw io::file_error(path + ": is " + std::string(file_kind(status.st_mode)) + ", not a regular file");

    static std::atomic<unsigned long> saves{0};
    std::string temporary;
    int fd = -1;
    for (int attempt = 0; fd < 0; ++attempt) {
        // O_EXCL: a name left by a killed process whose pid came back is skipped, not shared.
        temporary = path + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(saves++);
        fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (fd < 0 && (errno != EEXIST || attempt == 100))
            throw io::file_error(path + ": cannot create " + temporary + ": " + std::strerror(errno));
    }
    try {
        FileDescriptor file(fd);
        if (exists && ::fchmod(file.fd, status.st_mode & 07777) != 0)
            throw io::file_error(path + ": cannot keep its permissions: " + std::strerror(errno));
        write(file.fd);
        if (::fsync(file.fd) != 0) throw io::file_error(path + ": fsync failed: " + std::strerror(errno));
        if (::close(file.release()) != 0) throw io::file_error(path + ": close failed: " + std::strerror(errno));
        if (std::rename(temporary.c_str(), path.c_str()) != 0)
            throw io::file_error(path + ": cannot rename " + temporary + " over it: " + std::strerror(errno));
    } catch (...) {
        ::unlink(temporary.c_str());
        throw;
    }
    const std::string folder = std::filesystem::path(path).parent_path().string();
    sync_folder(folder.empty() ? "." : folder, path);
}

}  // namespace tapestry::detail
