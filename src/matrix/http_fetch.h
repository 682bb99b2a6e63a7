#pragma once
// Downloads for url: kernel sources, http:// and https:// alike through libcurl: its
// timeouts, redirects, TLS and CA handling, proxies (http_proxy, https_proxy, no_proxy, as
// curl honours them) and byte-range resume. Every download lands in DEST.part, is checked
// against the pinned sha256 and only then renamed to DEST: the destination never holds a
// partial or unverified file.
#include <atomic>
#include <chrono>
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

struct HttpOptions {
    std::chrono::milliseconds connect_timeout{15000};
    // A transfer that receives nothing for this long is abandoned; the whole transfer has no
    // limit (a kernel package on a slow link may take minutes).
    std::chrono::seconds stall_timeout{60};
    long max_redirects = 5;
    // Called about once a second with bytes received (including a resumed part) and the total
    // (0 when the server does not say).
    std::function<void(std::uint64_t done, std::uint64_t total)> on_progress;
    // Set (from a signal handler: kmatrix's SIGINT, SIGTERM, SIGHUP) to stop the transfer within
    // about a second, keeping what arrived for the next call.
    const std::atomic<bool>* cancel = nullptr;
};

struct DownloadResult {
    std::string sha256;
    std::uint64_t size = 0;
    std::uint64_t resumed_from = 0;  // bytes an earlier, cut-short call had left in DEST.part
    std::string final_url;           // after redirects
};

// Downloads url (http or https only) to dest. A transfer cut short throws DownloadError and
// leaves dest.part, which the next call for the same dest resumes with a byte range (a server
// that ignores ranges sends the whole file again). When expected_sha256 is non-empty and
// differs, throws ChecksumError naming expected and actual and removes dest.part; a resumed
// download that fails the check is first retried once from byte 0.
DownloadResult download(const std::string& url, const std::string& dest, const std::string& expected_sha256,
                        const HttpOptions& options = {});

// dest.part: where download() keeps the bytes of an unfinished transfer of dest.
std::string partial_download_path(const std::string& dest);

}  // namespace flowattr::matrix
