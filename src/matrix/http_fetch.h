#pragma once
// Downloads for url: kernel sources. http:// is spoken directly over a socket (no dependency,
// testable against a loopback server); https:// goes through curl, which owns TLS and CAs.
// Every download lands in a temporary file next to the destination, is checked against the
// pinned sha256 and only then renamed into place: the destination never holds a partial or
// unverified file.
#include <chrono>
#include <memory>
#include <cstdint>
#include <functional>
#include <string>

#include "common/error.h"

namespace flowattr::matrix {

// The source could not be downloaded (DNS, refused, HTTP 404, connection cut, timeout): the
// kernel is "unavailable", not a broken cache.
class DownloadError : public Error {
public:
    using Error::Error;
};

// The bytes arrived but are not the pinned ones: never used, always loud.
class ChecksumError : public Error {
public:
    ChecksumError(const std::string& what_file, const std::string& expected, const std::string& actual);
    const std::string& expected() const { return expected_; }
    const std::string& actual() const { return actual_; }

private:
    std::string expected_, actual_;
};

struct Url {
    std::string scheme;  // "http" | "https"
    std::string host;    // without brackets for IPv6 literals
    int port = 0;
    std::string target;  // path + query, starting with '/'
};
// Throws DownloadError for anything but an absolute http(s) URL.
Url parse_url(const std::string& url);

struct HttpOptions {
    std::chrono::milliseconds connect_timeout{15000};
    std::chrono::milliseconds io_timeout{60000};  // per read/write, not for the whole transfer
    int max_redirects = 5;
    // Called now and then with bytes received and the announced total (0 when unknown).
    std::function<void(std::uint64_t done, std::uint64_t total)> on_progress;
};

struct DownloadResult {
    std::string sha256;
    std::uint64_t size = 0;
    std::string final_url;  // after redirects
};

// Downloads url to dest. When expected_sha256 is non-empty and differs, throws ChecksumError
// (naming expected and actual) and leaves nothing behind; on any other failure throws
// DownloadError, also leaving nothing behind.
DownloadResult download(const std::string& url, const std::string& dest, const std::string& expected_sha256,
                        const HttpOptions& options = {});

}  // namespace flowattr::matrix
