#pragma once
#include <string>

namespace flowattr {

// Whole-file read; throws flowattr::Error naming the path.
std::string read_file(const std::string& path);
// Write to a mkstemp name beside PATH and rename it over PATH, so readers never see a partial file.
void write_file_atomic(const std::string& path, const std::string& data);

// mkdir -p (std::filesystem); throws flowattr::Error naming the path and the errno.
void make_directories(const std::string& path);

// mkdtemp-made directory under $TMPDIR (or /tmp), removed with its contents on destruction.
class TempDir {
public:
    explicit TempDir(const std::string& prefix = "flowattr");
    ~TempDir();
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    const std::string& path() const { return path_; }

private:
    std::string path_;
};

}  // namespace flowattr
