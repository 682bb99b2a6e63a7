#include "common/file.h"

#include <fcntl.h>
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <vector>

#include "common/error.h"
#include "common/unique_fd.h"

namespace flowattr {

// read(2), not an ifstream: a stream reads a directory (or a failing device) as an empty
// file without a word, where this names the file and the errno.
std::string read_file(const std::string& path) {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) throw Error("cannot open " + path, errno);
    struct stat st {};
    std::string data;
    if (::fstat(fd.get(), &st) == 0 && S_ISREG(st.st_mode)) data.reserve(std::size_t(st.st_size));
    char buf[65536];
    for (;;) {
        const ssize_t n = ::read(fd.get(), buf, sizeof buf);
        if (n == 0) return data;
        if (n < 0) {
            if (errno == EINTR) continue;
            throw Error("cannot read " + path, errno);
        }
        data.append(buf, std::size_t(n));
    }
}

// The temporary name comes from mkstemp (random suffix, O_EXCL): a fixed name such as
// PATH.tmp.PID could be guessed by another user of a shared directory, who could plant a
// symlink there and have the write go wherever it points.
void write_file_atomic(const std::string& path, const std::string& data) {
    std::vector<char> name(path.begin(), path.end());
    const std::string suffix = ".tmp.XXXXXX";
    name.insert(name.end(), suffix.begin(), suffix.end());
    name.push_back('\0');
    UniqueFd fd(mkstemp(name.data()));
    if (!fd) throw Error("cannot create a temporary file for " + path, errno);
    const std::string tmp = name.data();
    auto fail = [&](const std::string& what) {
        int err = errno;
        ::unlink(tmp.c_str());
        throw Error(what, err);
    };
    // mkstemp makes the file 0600; the result is an ordinary readable output file.
    if (fchmod(fd.get(), 0644) != 0) fail("cannot chmod " + tmp);
    for (std::size_t off = 0; off < data.size();) {
        ssize_t n = ::write(fd.get(), data.data() + off, data.size() - off);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) fail("cannot write " + tmp);
        off += std::size_t(n);
    }
    if (::close(fd.release()) != 0) fail("cannot write " + tmp);
    if (std::rename(tmp.c_str(), path.c_str()) != 0) fail("cannot rename " + tmp + " to " + path);
}

TempDir::TempDir(const std::string& prefix) {
    const char* base = std::getenv("TMPDIR");
    std::string tmpl = std::string(base && *base ? base : "/tmp") + "/" + prefix + ".XXXXXX";
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    if (!mkdtemp(buf.data())) throw Error("cannot create a temporary directory from " + tmpl, errno);
    path_ = buf.data();
}

TempDir::~TempDir() {
    nftw(
        path_.c_str(), [](const char* p, const struct stat*, int, struct FTW*) { return ::remove(p); }, 16,
        FTW_DEPTH | FTW_PHYS);
}

namespace {

// Each path as the components of its absolute form, the file name last: no "." or ".."
// (kmatrix stages files below these directories, where ".." would leave /check/NN).
std::vector<std::vector<std::string>> absolute_parts(const std::vector<std::string>& paths) {
    std::vector<std::vector<std::string>> parts;
    for (const auto& path : paths) {
        std::error_code ec;
        std::filesystem::path full = std::filesystem::absolute(path, ec);
        if (ec) full = std::filesystem::path("/") / path;
        std::vector<std::string> p;
        for (const auto& c : full.lexically_normal())
            if (!c.empty() && c != "." && c != ".." && c != "/") p.push_back(c.string());
        parts.push_back(std::move(p));
    }
    return parts;
}

}  // namespace

std::string RepeatedPath::message(const std::vector<std::string>& paths) const {
    return paths[again] + ": the same file as " + paths[first] + ", given twice";
}

std::optional<RepeatedPath> repeated_path(const std::vector<std::string>& paths) {
    const auto parts = absolute_parts(paths);
    for (std::size_t again = 1; again < parts.size(); again++)
        for (std::size_t first = 0; first < again; first++)
            if (parts[first] == parts[again]) return RepeatedPath{first, again};
    return std::nullopt;
}

std::vector<std::string> distinguishing_dirs(const std::vector<std::string>& paths) {
    const auto parts = absolute_parts(paths);
    // The last N components of P, as one string, or P whole when it has fewer.
    auto tail = [](const std::vector<std::string>& p, std::size_t n) {
        std::string s;
        for (std::size_t i = p.size() > n ? p.size() - n : 0; i < p.size(); i++) s += "/" + p[i];
        return s;
    };
    std::vector<std::string> dirs(paths.size());
    for (std::size_t i = 0; i < parts.size(); i++) {
        if (parts[i].empty()) continue;
        std::vector<std::size_t> alike;
        for (std::size_t j = 0; j < parts.size(); j++)
            if (j != i && !parts[j].empty() && parts[j].back() == parts[i].back()) alike.push_back(j);
        if (alike.empty()) continue;
        std::size_t n = 1;
        while (n < parts[i].size() && std::any_of(alike.begin(), alike.end(), [&](std::size_t j) {
                   return tail(parts[j], n) == tail(parts[i], n);
               }))
            n++;
        for (std::size_t k = parts[i].size() - n; k + 1 < parts[i].size(); k++) dirs[i] += parts[i][k] + "/";
    }
    return dirs;
}

void make_directories(const std::string& path) {
    std::error_code ec;
    std::filesystem::create_directories(path, ec);
    if (ec) throw Error("cannot create directory " + path, ec.value());
}

}  // namespace flowattr
