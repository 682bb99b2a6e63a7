#include "matrix/http_fetch.h"

#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <map>
#include <memory>
#include <vector>

#include "common/sha256.h"
#include "common/subprocess.h"
#include "common/unique_fd.h"
#include "matrix/cache_files.h"

namespace flowattr::matrix {
namespace {

using Clock = std::chrono::steady_clock;

std::string lower(std::string s) {
    for (char& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

std::string trim(const std::string& s) {
    std::size_t b = s.find_first_not_of(" \t\r\n");
    if (b == std::string::npos) return "";
    return s.substr(b, s.find_last_not_of(" \t\r\n") - b + 1);
}

int wait_fd(int fd, short events, std::chrono::milliseconds timeout) {
    struct pollfd p = {fd, events, 0};
    for (;;) {
        int r = poll(&p, 1, int(timeout.count()));
        if (r >= 0 || errno != EINTR) return r;
    }
}

UniqueFd connect_to(const Url& url, const HttpOptions& options) {
    struct addrinfo hints;
    std::memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    struct addrinfo* res = nullptr;
    int rc = getaddrinfo(url.host.c_str(), std::to_string(url.port).c_str(), &hints, &res);
    if (rc != 0) throw DownloadError("cannot resolve " + url.host + ": " + gai_strerror(rc));
    std::unique_ptr<struct addrinfo, void (*)(struct addrinfo*)> guard(res, freeaddrinfo);

    std::string failures;
    for (struct addrinfo* ai = res; ai; ai = ai->ai_next) {
        UniqueFd fd(socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol));
        if (!fd) continue;
        int err = 0;
        if (connect(fd.get(), ai->ai_addr, ai->ai_addrlen) != 0) {
            err = errno;
            if (err == EINPROGRESS) {
                int r = wait_fd(fd.get(), POLLOUT, options.connect_timeout);
                socklen_t len = sizeof err;
                if (r == 0) {
                    err = ETIMEDOUT;
                } else if (r < 0 || getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len) != 0) {
                    err = errno;
                }
            }
        }
        if (err == 0) return fd;
        failures = describe_errno("cannot connect to " + url.host + ":" + std::to_string(url.port), err);
    }
    throw DownloadError(failures.empty() ? "no usable address for " + url.host : failures);
}

// Reads at most len bytes, waiting up to io_timeout; 0 means the peer closed.
std::size_t read_some(int fd, char* buf, std::size_t len, const HttpOptions& options, const std::string& url) {
    for (;;) {
        ssize_t n = recv(fd, buf, len, 0);
        if (n >= 0) return std::size_t(n);
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) throw DownloadError(describe_errno("reading from " + url, errno));
        int r = wait_fd(fd, POLLIN, options.io_timeout);
        if (r == 0) throw DownloadError("reading from " + url + ": no data for " + std::to_string(options.io_timeout.count()) + " ms");
        if (r < 0) throw DownloadError(describe_errno("poll on " + url, errno));
    }
}

void write_all(int fd, const std::string& data, const HttpOptions& options, const std::string& url) {
    std::size_t off = 0;
    while (off < data.size()) {
        ssize_t n = send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
        if (n > 0) {
            off += std::size_t(n);
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (wait_fd(fd, POLLOUT, options.io_timeout) <= 0) throw DownloadError("sending the request to " + url + " timed out");
            continue;
        }
        throw DownloadError(describe_errno("sending the request to " + url, errno));
    }
}

struct Response {
    int status = 0;
    std::string reason;
    std::map<std::string, std::string> headers;  // lower-case names
    std::string body_start;                      // body bytes read along with the headers
};

Response read_head(int fd, const HttpOptions& options, const std::string& url) {
    std::string data;
    char buf[16384];
    std::size_t end;
    while ((end = data.find("\r\n\r\n")) == std::string::npos) {
        if (data.size() > 65536) throw DownloadError(url + ": response headers larger than 64 KiB");
        std::size_t n = read_some(fd, buf, sizeof buf, options, url);
        if (n == 0) throw DownloadError(url + ": connection closed before the response headers ended");
        data.append(buf, n);
    }
    Response r;
    r.body_start = data.substr(end + 4);
    std::string head = data.substr(0, end);
    std::size_t line_end = head.find("\r\n");
    std::string status_line = head.substr(0, line_end);
    // "HTTP/1.1 200 OK"
    if (status_line.compare(0, 5, "HTTP/") != 0 || status_line.size() < 12)
        throw DownloadError(url + ": not an HTTP response: '" + status_line.substr(0, 80) + "'");
    r.status = std::atoi(status_line.c_str() + status_line.find(' ') + 1);
    std::size_t reason_at = status_line.find(' ', status_line.find(' ') + 1);
    if (reason_at != std::string::npos) r.reason = status_line.substr(reason_at + 1);
    std::size_t pos = line_end == std::string::npos ? head.size() : line_end + 2;
    while (pos < head.size()) {
        std::size_t next = head.find("\r\n", pos);
        if (next == std::string::npos) next = head.size();
        std::string line = head.substr(pos, next - pos);
        std::size_t colon = line.find(':');
        if (colon != std::string::npos) r.headers[lower(trim(line.substr(0, colon)))] = trim(line.substr(colon + 1));
        pos = next + 2;
    }
    return r;
}

std::string resolve_location(const Url& base, const std::string& location) {
    if (location.find("://") != std::string::npos) return location;
    std::string authority = base.host.find(':') != std::string::npos ? "[" + base.host + "]" : base.host;
    authority += ":" + std::to_string(base.port);
    if (!location.empty() && location[0] == '/') return base.scheme + "://" + authority + location;
    std::string dir = base.target.substr(0, base.target.rfind('/') + 1);
    return base.scheme + "://" + authority + dir + location;
}

class OutFile {
public:
    explicit OutFile(const std::string& path) : path_(path) {
        fd_.reset(open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
        if (!fd_) throw Error("cannot create " + path, errno);
    }
    void write(const char* data, std::size_t len) {
        while (len > 0) {
            ssize_t n = ::write(fd_.get(), data, len);
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) throw Error("cannot write " + path_, errno);
            data += n;
            len -= std::size_t(n);
        }
    }
    void finish() {
        if (fsync(fd_.get()) != 0) throw Error("cannot fsync " + path_, errno);
        int fd = fd_.release();
        if (close(fd) != 0) throw Error("cannot close " + path_, errno);
    }

private:
    std::string path_;
    UniqueFd fd_;
};

// Plain HTTP/1.0 GET (1.0 so the server never answers chunked). Returns the redirect target
// when the server redirects, "" when the body was written to tmp_path.
std::string http_get(const Url& url, const std::string& url_text, const std::string& tmp_path, Sha256& hash,
                     std::uint64_t& size, const HttpOptions& options) {
    UniqueFd fd = connect_to(url, options);
    std::string host = url.host.find(':') != std::string::npos ? "[" + url.host + "]" : url.host;
    if (url.port != 80) host += ":" + std::to_string(url.port);
    write_all(fd.get(),
              "GET " + url.target + " HTTP/1.0\r\nHost: " + host +
                  "\r\nUser-Agent: flowattr-kmatrix\r\nAccept-Encoding: identity\r\nConnection: close\r\n\r\n",
              options, url_text);
    Response r = read_head(fd.get(), options, url_text);
    if (r.status >= 300 && r.status < 400 && r.headers.count("location")) return resolve_location(url, r.headers["location"]);
    if (r.status != 200) throw DownloadError(url_text + ": HTTP " + std::to_string(r.status) + " " + r.reason);
    if (r.headers.count("transfer-encoding") && lower(r.headers["transfer-encoding"]) != "identity")
        throw DownloadError(url_text + ": unsupported Transfer-Encoding " + r.headers["transfer-encoding"]);

    std::uint64_t total = 0;
    bool has_length = r.headers.count("content-length") > 0;
    if (has_length) total = std::strtoull(r.headers["content-length"].c_str(), nullptr, 10);

    OutFile out(tmp_path);
    size = 0;
    auto take = [&](const char* data, std::size_t n) {
        if (has_length && size + n > total) n = std::size_t(total - size);
        out.write(data, n);
        hash.update(data, n);
        size += n;
    };
    take(r.body_start.data(), r.body_start.size());
    auto last_report = Clock::now();
    std::vector<char> buf(1 << 16);
    while (!has_length || size < total) {
        std::size_t n = read_some(fd.get(), buf.data(), buf.size(), options, url_text);
        if (n == 0) break;
        take(buf.data(), n);
        if (options.on_progress && Clock::now() - last_report > std::chrono::seconds(1)) {
            options.on_progress(size, total);
            last_report = Clock::now();
        }
    }
    // Without Content-Length the end of the body is the end of the connection; a cut there is
    // caught by the sha256 check instead.
    if (has_length && size < total)
        throw DownloadError(url_text + ": connection closed after " + std::to_string(size) + " of " + std::to_string(total) +
                            " bytes");
    out.finish();
    if (options.on_progress) options.on_progress(size, total);
    return "";
}

void https_get(const std::string& url, const std::string& tmp_path, const HttpOptions& options) {
    RunOptions ro;
    ro.timeout = std::chrono::hours(2);
    auto seconds = [](std::chrono::milliseconds ms) { return std::to_string(std::max<long long>(1, ms.count() / 1000)); };
    std::vector<std::string> argv = {"curl", "--fail", "--silent", "--show-error", "--location",
                                     "--max-redirs", std::to_string(options.max_redirects),
                                     "--connect-timeout", seconds(options.connect_timeout),
                                     // Abort when the transfer stalls (below 1 byte/s for io_timeout).
                                     "--speed-limit", "1", "--speed-time", seconds(options.io_timeout),
                                     "--output", tmp_path, "--", url};
    RunResult r;
    try {
        r = run_command(argv, ro);
    } catch (const Error& e) {
        throw DownloadError("cannot download " + url + " (https needs curl): " + e.what());
    }
    if (!r.ok()) throw DownloadError("cannot download " + url + ": curl " + r.status_text() + ": " + trim(r.err), 0, r.err);
}

}  // namespace

ChecksumError::ChecksumError(const std::string& what_file, const std::string& expected, const std::string& actual)
    : Error("sha256 mismatch for " + what_file + ": expected " + expected + ", actual " + actual),
      expected_(expected),
      actual_(actual) {}

Url parse_url(const std::string& text) {
    Url u;
    std::size_t sep = text.find("://");
    if (sep == std::string::npos) throw DownloadError("not an absolute URL: " + text);
    u.scheme = lower(text.substr(0, sep));
    if (u.scheme != "http" && u.scheme != "https") throw DownloadError("unsupported URL scheme '" + u.scheme + "' in " + text);
    std::size_t path_at = text.find_first_of("/?#", sep + 3);
    std::string authority = text.substr(sep + 3, path_at == std::string::npos ? std::string::npos : path_at - sep - 3);
    u.target = path_at == std::string::npos ? "/" : text.substr(path_at);
    if (u.target[0] != '/') u.target = "/" + u.target;
    std::size_t hash = u.target.find('#');
    if (hash != std::string::npos) u.target.erase(hash);
    if (authority.find('@') != std::string::npos) throw DownloadError("credentials in URLs are not supported: " + text);
    std::string port;
    if (!authority.empty() && authority[0] == '[') {
        std::size_t close = authority.find(']');
        if (close == std::string::npos) throw DownloadError("bad IPv6 literal in " + text);
        u.host = authority.substr(1, close - 1);
        if (close + 1 < authority.size() && authority[close + 1] == ':') port = authority.substr(close + 2);
    } else {
        std::size_t colon = authority.rfind(':');
        u.host = authority.substr(0, colon);
        if (colon != std::string::npos) port = authority.substr(colon + 1);
    }
    if (u.host.empty()) throw DownloadError("no host in " + text);
    u.port = u.scheme == "https" ? 443 : 80;
    if (!port.empty()) {
        char* end = nullptr;
        long p = std::strtol(port.c_str(), &end, 10);
        if (*end || p <= 0 || p > 65535) throw DownloadError("bad port '" + port + "' in " + text);
        u.port = int(p);
    }
    return u;
}

DownloadResult download(const std::string& url_text, const std::string& dest, const std::string& expected_sha256,
                        const HttpOptions& options) {
    TempPath tmp(unique_temp_path(dest, "part"));
    DownloadResult result;
    std::string current = url_text;
    for (int hops = 0;; hops++) {
        if (hops > options.max_redirects) throw DownloadError(url_text + ": more than " + std::to_string(options.max_redirects) + " redirects");
        Url url = parse_url(current);
        if (url.scheme == "https") {
            https_get(current, tmp.path(), options);
            result.sha256 = sha256_file(tmp.path());
            result.size = file_size(tmp.path());
            break;
        }
        Sha256 hash;
        std::string next = http_get(url, current, tmp.path(), hash, result.size, options);
        if (next.empty()) {
            result.sha256 = hash.hex_digest();
            break;
        }
        current = next;
    }
    result.final_url = current;
    if (!expected_sha256.empty() && result.sha256 != expected_sha256) throw ChecksumError(url_text, expected_sha256, result.sha256);
    tmp.commit(dest);
    return result;
}

}  // namespace flowattr::matrix
