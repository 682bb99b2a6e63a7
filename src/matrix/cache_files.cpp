#include "matrix/cache_files.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <system_error>

#include "common/error.h"

namespace flowattr::matrix {

namespace fs = std::filesystem;

std::string unique_temp_path(const std::string& base, const std::string& tag) {
    static std::atomic<unsigned> counter{0};
    return base + "." + tag + "." + std::to_string(getpid()) + "." + std::to_string(counter++);
}

TempPath::~TempPath() {
    if (committed_ || path_.empty()) return;
    std::error_code ec;
    fs::remove_all(path_, ec);  // best effort: a destructor must not throw; leftovers are swept under the lock
}

void TempPath::commit(const std::string& final_path) {
    if (std::rename(path_.c_str(), final_path.c_str()) != 0)
        throw Error("cannot rename " + path_ + " to " + final_path, errno);
    committed_ = true;
}

FileLock::FileLock(const std::string& path, const std::function<void()>& on_wait) {
    fd_.reset(open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
    if (!fd_) throw Error("cannot open lock file " + path, errno);
    if (flock(fd_.get(), LOCK_EX | LOCK_NB) == 0) return;
    if (errno != EWOULDBLOCK) throw Error("cannot lock " + path, errno);
    if (on_wait) on_wait();
    while (flock(fd_.get(), LOCK_EX) != 0)
        if (errno != EINTR) throw Error("cannot lock " + path, errno);
}

bool FileLock::held_elsewhere(const std::string& path) {
    UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) return false;
    if (flock(fd.get(), LOCK_SH | LOCK_NB) == 0) return false;
    return errno == EWOULDBLOCK;
}

void remove_tree(const std::string& path) {
    std::error_code ec;
    fs::remove_all(path, ec);
    if (ec) throw Error("cannot remove " + path, ec.value());
}

bool path_exists(const std::string& path) {
    struct stat st;
    return lstat(path.c_str(), &st) == 0;
}

std::uint64_t file_size(const std::string& path) {
    struct stat st;
    if (stat(path.c_str(), &st) != 0) throw Error("cannot stat " + path, errno);
    return std::uint64_t(st.st_size);
}

std::string human_size(std::uint64_t bytes) {
    char buf[32];
    if (bytes < 1024) return std::to_string(bytes) + " B";
    if (bytes < 1024 * 1024) {
        std::snprintf(buf, sizeof buf, "%.1f KiB", double(bytes) / 1024);
    } else {
        std::snprintf(buf, sizeof buf, "%.1f MiB", double(bytes) / (1024 * 1024));
    }
    return buf;
}

}  // namespace flowattr::matrix
