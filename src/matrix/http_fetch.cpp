#include "matrix/http_fetch.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <memory>
#include <mutex>

#include "common/env.h"
#include "common/sha256.h"
#include "common/unique_fd.h"
#include "matrix/cache_files.h"

namespace flowattr::matrix {
namespace {

using Clock = std::chrono::steady_clock;

struct EasyHandleDeleter {
    void operator()(CURL* curl) const { curl_easy_cleanup(curl); }
};
using EasyHandle = std::unique_ptr<CURL, EasyHandleDeleter>;

// libcurl's global state, set up once for the process (kmatrix fetches from several threads).
void init_curl_once() {
    static std::once_flag once;
    static CURLcode rc = CURLE_OK;
    std::call_once(once, [] { rc = curl_global_init(CURL_GLOBAL_DEFAULT); });
    if (rc != CURLE_OK) throw DownloadError(std::string("cannot initialise libcurl: ") + curl_easy_strerror(rc));
}

// One transfer's sinks: the .part file (appended to) and the progress callback.
struct Transfer {
    int fd = -1;
    std::uint64_t resumed_from = 0;
    std::uint64_t received = 0;
    int write_errno = 0;
    const HttpOptions* options = nullptr;
    Clock::time_point last_report = Clock::now();
    Clock::time_point last_data = Clock::now();
    std::uint64_t last_now = 0;
    bool stalled = false;
    bool cancelled = false;

    static size_t on_data(char* data, size_t size, size_t count, void* self) {
        auto* t = static_cast<Transfer*>(self);
        const size_t len = size * count;
        size_t off = 0;
        while (off < len) {
            ssize_t n = ::write(t->fd, data + off, len - off);
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) {
                t->write_errno = errno;
                return 0;  // libcurl stops with CURLE_WRITE_ERROR
            }
            off += size_t(n);
        }
        t->received += len;
        return len;
    }

    static int on_progress(void* self, curl_off_t total, curl_off_t now, curl_off_t, curl_off_t) {
        auto* t = static_cast<Transfer*>(self);
        // libcurl calls this about once a second even while nothing arrives.
        if (t->options->cancel && t->options->cancel->load()) {
            t->cancelled = true;
            return 1;  // libcurl stops with CURLE_ABORTED_BY_CALLBACK
        }
        // The stall limit is checked here rather than with libcurl's low-speed limit, which
        // averages over several seconds: a burst followed by silence would live on for ~5 s.
        if (std::uint64_t(now) != t->last_now) {
            t->last_now = std::uint64_t(now);
            t->last_data = Clock::now();
        } else if (Clock::now() - t->last_data >= t->options->stall_timeout) {
            t->stalled = true;
            return 1;  // libcurl stops with CURLE_ABORTED_BY_CALLBACK
        }
        if (t->options->on_progress && Clock::now() - t->last_report >= std::chrono::seconds(1)) {
            t->last_report = Clock::now();
            // libcurl counts the requested range only; the user sees the whole file.
            t->options->on_progress(t->resumed_from + std::uint64_t(now), total > 0 ? t->resumed_from + std::uint64_t(total) : 0);
        }
        return 0;
    }
};

std::uint64_t size_of(int fd) {
    struct stat st;
    if (fstat(fd, &st) != 0) throw Error("cannot stat a download's .part file", errno);
    return std::uint64_t(st.st_size);
}

// What a failed transfer tells the user: the URL, what went wrong in words, and what is kept.
std::string describe_failure(const std::string& url, CURLcode rc, const char* curl_message, CURL* curl, const Transfer& t,
                             const HttpOptions& options, const std::string& part) {
    std::string why = *curl_message ? curl_message : curl_easy_strerror(rc);
    long status = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    switch (rc) {
        case CURLE_HTTP_RETURNED_ERROR: why = "HTTP " + std::to_string(status); break;
        case CURLE_TOO_MANY_REDIRECTS: why = "more than " + std::to_string(options.max_redirects) + " redirects"; break;
        case CURLE_UNSUPPORTED_PROTOCOL: why = "only http:// and https:// URLs are downloaded (" + why + ")"; break;
        case CURLE_WRITE_ERROR: why = describe_errno("cannot write " + part, t.write_errno); break;
        case CURLE_ABORTED_BY_CALLBACK:
            if (t.stalled) why = "no data for " + std::to_string(options.stall_timeout.count()) + " s";
            if (t.cancelled) why = "interrupted";
            break;
        default: break;
    }
    const std::uint64_t kept = t.resumed_from + t.received;
    if (kept > 0 && rc != CURLE_WRITE_ERROR)
        why += "; " + std::to_string(kept) + " bytes kept in " + part + ", the next fetch resumes there";
    return "cannot download " + url + ": " + why;
}

// One libcurl transfer of url, appended to the .part file (resumed when it already holds bytes).
std::string transfer(const std::string& url, const std::string& part, const HttpOptions& options, std::uint64_t& resumed_from) {
    // O_NOFOLLOW: a symlink planted at the .part never redirects the write.
    UniqueFd fd(::open(part.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0644));
    if (!fd) throw Error("cannot open " + part, errno);
    Transfer t;
    t.fd = fd.get();
    t.resumed_from = resumed_from = size_of(fd.get());
    t.options = &options;

    EasyHandle curl(curl_easy_init());
    if (!curl) throw DownloadError("cannot download " + url + ": curl_easy_init failed");
    char message[CURL_ERROR_SIZE] = "";
    CURL* c = curl.get();
    curl_easy_setopt(c, CURLOPT_URL, url.c_str());
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, message);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, options.max_redirects);
    curl_easy_setopt(c, CURLOPT_FAILONERROR, 1L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);  // kmatrix fetches on threads; no SIGALRM for DNS
    curl_easy_setopt(c, CURLOPT_USERAGENT, "flowattr-kmatrix");
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, long(options.connect_timeout.count()));
    // The curl program's variable for a private mirror's CA; libcurl itself only reads proxies
    // from the environment.
    const std::string ca_bundle = env_or("CURL_CA_BUNDLE", "");
    if (!ca_bundle.empty()) curl_easy_setopt(c, CURLOPT_CAINFO, ca_bundle.c_str());
    if (resumed_from > 0) curl_easy_setopt(c, CURLOPT_RESUME_FROM_LARGE, curl_off_t(resumed_from));
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &Transfer::on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &t);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, &Transfer::on_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, &t);

    CURLcode rc = curl_easy_perform(c);
    if (rc == CURLE_RANGE_ERROR && resumed_from > 0) {
        // The server cannot send a range: start over from byte 0.
        if (::ftruncate(fd.get(), 0) != 0) throw Error("cannot truncate " + part, errno);
        resumed_from = 0;
        return transfer(url, part, options, resumed_from);
    }
    if (rc != CURLE_OK) {
        const bool empty = size_of(fd.get()) == 0;
        fd.reset();
        if (empty) ::unlink(part.c_str());
        throw DownloadError(describe_failure(url, rc, message, c, t, options, part));
    }
    if (::fsync(fd.get()) != 0) throw Error("cannot fsync " + part, errno);
    if (options.on_progress) {
        const std::uint64_t size = size_of(fd.get());
        options.on_progress(size, size);
    }
    char* effective = nullptr;
    curl_easy_getinfo(c, CURLINFO_EFFECTIVE_URL, &effective);
    return effective ? effective : url;
}

}  // namespace

ChecksumError::ChecksumError(const std::string& what_file, const std::string& expected, const std::string& actual)
    : Error("sha256 mismatch for " + what_file + ": expected " + expected + ", actual " + actual),
      expected_(expected),
      actual_(actual) {}

std::string partial_download_path(const std::string& dest) { return dest + ".part"; }

DownloadResult download(const std::string& url, const std::string& dest, const std::string& expected_sha256,
                        const HttpOptions& options) {
    init_curl_once();
    const std::string part = partial_download_path(dest);
    DownloadResult result;
    for (;;) {
        result.final_url = transfer(url, part, options, result.resumed_from);
        result.sha256 = sha256_file(part);
        result.size = file_size(part);
        if (expected_sha256.empty() || result.sha256 == expected_sha256) break;
        ::unlink(part.c_str());
        // A resumed file may hold bytes of an older version of the URL: one more try from zero.
        if (result.resumed_from == 0) throw ChecksumError(url, expected_sha256, result.sha256);
    }
    if (std::rename(part.c_str(), dest.c_str()) != 0) throw Error("cannot rename " + part + " to " + dest, errno);
    return result;
}

}  // namespace flowattr::matrix
