#pragma once
// File-system pieces of the kernel cache: temporary paths that clean up after themselves and
// an exclusive flock, so a crash or an exception never leaves a half-written entry in use.
#include <cstdint>
#include <functional>
#include <string>

#include "common/unique_fd.h"

namespace flowattr::matrix {

// A path that does not exist yet, unique per process and call: "<base>.<tag>.<pid>.<n>".
std::string unique_temp_path(const std::string& base, const std::string& tag);

// Owns a temporary file or directory: removed (recursively) on destruction unless commit()
// moved it to its final name.
class TempPath {
public:
    explicit TempPath(std::string path) : path_(std::move(path)) {}
    TempPath(const TempPath&) = delete;
    TempPath& operator=(const TempPath&) = delete;
    ~TempPath();

    const std::string& path() const { return path_; }
    // rename(2) to final_path (atomic within one file system); afterwards nothing is removed.
    void commit(const std::string& final_path);

private:
    std::string path_;
    bool committed_ = false;
};

// Exclusive flock on a lock file, released on destruction (or when the process dies).
class FileLock {
public:
    // Blocks until the lock is held; on_wait is called once if another process holds it.
    FileLock(const std::string& path, const std::function<void()>& on_wait = {});
    FileLock(const FileLock&) = delete;
    FileLock& operator=(const FileLock&) = delete;
    // Tries once; returns false when another holder has it.
    static bool held_elsewhere(const std::string& path);

private:
    UniqueFd fd_;
};

void remove_tree(const std::string& path);
bool path_exists(const std::string& path);
std::uint64_t file_size(const std::string& path);
// "25.3 MiB"
std::string human_size(std::uint64_t bytes);

}  // namespace flowattr::matrix
