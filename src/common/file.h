#pragma once
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

namespace flowattr {

// Whole-file read; throws flowattr::Error naming the path.
std::string read_file(const std::string& path);
// Write to a mkstemp name beside PATH and rename it over PATH, so readers never see a partial file.
void write_file_atomic(const std::string& path, const std::string& data);

// For each of PATHS, the trailing directories ("a/") that tell its file apart from every
// other path with the same file name: the fewest that do, all of them when none do (the same
// path twice); empty for a file name no other path has. What `flowattr check` puts before
// an object's name when two inputs share one, and where `kmatrix check` stages each file,
// so that the guest's check names them as the host's would.
std::vector<std::string> distinguishing_dirs(const std::vector<std::string>& paths);

// Two of PATHS that name one file by the same absolute, normal path ("t/a.o", "./t/../t/a.o"):
// their indexes, the first repeat only. A check given one file twice would report it twice
// under one name, so `flowattr check` and `kmatrix check` refuse it.
struct RepeatedPath {
    std::size_t first;
    std::size_t again;
    // "PATHS[again]: the same file as PATHS[first], given twice": what both commands say.
    std::string message(const std::vector<std::string>& paths) const;
};
std::optional<RepeatedPath> repeated_path(const std::vector<std::string>& paths);

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
