#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <thread>

#include "common/file.h"
#include "common/sha256.h"
#include "build_tree.h"
#include "loopback_http_server.h"
#include "matrix/cache_files.h"
#include "matrix/http_fetch.h"
#include "matrix/qemu_runner.h"

namespace {

using flowattr::matrix::ChecksumError;
using flowattr::matrix::download;
using flowattr::matrix::DownloadError;
using flowattr::test::LoopbackHttpServer;

std::string payload(std::size_t n) {
    std::string s(n, '\0');
    for (std::size_t i = 0; i < n; i++) s[i] = char((i * 131) ^ (i >> 7));
    return s;
}

class HttpFetch : public ::testing::Test {
protected:
    void SetUp() override {
        char tmpl[] = "/tmp/flowattr-http-XXXXXX";
        ASSERT_NE(mkdtemp(tmpl), nullptr);
        dir_ = tmpl;
    }
    void TearDown() override { flowattr::matrix::remove_tree(dir_); }

    // Files in the directory: after a failure it must be empty (no partial download left).
    std::vector<std::string> files() const {
        std::vector<std::string> out;
        DIR* d = opendir(dir_.c_str());
        while (struct dirent* e = readdir(d))
            if (std::string(e->d_name) != "." && std::string(e->d_name) != "..") out.push_back(e->d_name);
        closedir(d);
        return out;
    }

    // What download() to DIR/out throws when the server sends the first 1000 bytes of a
    // 100,000-byte body and then nothing for HOLD; TOOK: how long download() ran.
    std::string trickled_download_error(const flowattr::matrix::HttpOptions& options, std::chrono::milliseconds hold,
                                        std::chrono::steady_clock::duration* took) {
        const std::string body = payload(100000);
        LoopbackHttpServer server([&](const std::string&, LoopbackHttpServer::Conn& c) {
            c.send_raw("HTTP/1.0 200 OK\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n");
            c.send_raw(body.substr(0, 1000));
            std::this_thread::sleep_for(hold);
        });
        const auto start = std::chrono::steady_clock::now();
        std::string error = "no DownloadError";
        try {
            download(server.url("/vmlinuz"), dir_ + "/out", flowattr::sha256_hex(body), options);
        } catch (const DownloadError& e) {
            error = e.what();
        }
        *took = std::chrono::steady_clock::now() - start;
        return error;
    }

    std::string dir_;
};

TEST_F(HttpFetch, DownloadsAndVerifies) {
    const std::string body = payload(300000);
    LoopbackHttpServer server([&](const std::string& path, LoopbackHttpServer::Conn& c) {
        EXPECT_EQ(path, "/kernels/vmlinuz?x=1");
        c.send_response(200, body);
    });
    std::uint64_t last_done = 0;
    flowattr::matrix::HttpOptions options;
    options.on_progress = [&](std::uint64_t done, std::uint64_t total) {
        last_done = done;
        EXPECT_EQ(total, body.size());
    };
    auto r = download(server.url("/kernels/vmlinuz?x=1"), dir_ + "/out", flowattr::sha256_hex(body), options);
    EXPECT_EQ(r.size, body.size());
    EXPECT_EQ(r.sha256, flowattr::sha256_hex(body));
    EXPECT_EQ(flowattr::read_file(dir_ + "/out"), body);
    EXPECT_EQ(last_done, body.size());
    EXPECT_EQ(files(), std::vector<std::string>{"out"});
}

TEST_F(HttpFetch, WrongSha256IsRefusedAndNothingIsLeft) {
    const std::string body = payload(5000);
    LoopbackHttpServer server([&](const std::string&, LoopbackHttpServer::Conn& c) { c.send_response(200, body); });
    const std::string wrong(64, 'a');
    try {
        download(server.url("/vmlinuz"), dir_ + "/out", wrong);
        FAIL() << "expected ChecksumError";
    } catch (const ChecksumError& e) {
        std::string what = e.what();
        EXPECT_NE(what.find("expected " + wrong), std::string::npos) << what;
        EXPECT_NE(what.find("actual " + flowattr::sha256_hex(body)), std::string::npos) << what;
        EXPECT_EQ(e.actual(), flowattr::sha256_hex(body));
    }
    EXPECT_TRUE(files().empty());
}

// A cut transfer keeps its bytes in DEST.part; the next call asks for the rest with a Range
// request and appends it.
TEST_F(HttpFetch, CutTransferIsResumedWithARange) {
    const std::string body = payload(200000);
    std::vector<std::string> ranges;
    LoopbackHttpServer server([&](const std::string&, LoopbackHttpServer::Conn& c) {
        ranges.push_back(c.header("Range"));
        if (ranges.size() == 1) {  // announce the whole length, send half, hang up
            c.send_raw("HTTP/1.0 200 OK\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n");
            c.send_raw(body.substr(0, body.size() / 2));
            return;
        }
        const std::size_t from = body.size() / 2;
        c.send_raw("HTTP/1.0 206 Partial Content\r\nContent-Range: bytes " + std::to_string(from) + "-" +
                   std::to_string(body.size() - 1) + "/" + std::to_string(body.size()) +
                   "\r\nContent-Length: " + std::to_string(body.size() - from) + "\r\n\r\n" + body.substr(from));
    });
    try {
        download(server.url("/vmlinuz"), dir_ + "/out", flowattr::sha256_hex(body));
        FAIL() << "expected DownloadError";
    } catch (const DownloadError& e) {
        EXPECT_NE(std::string(e.what()).find("100000 bytes kept in " + dir_ + "/out.part"), std::string::npos) << e.what();
    }
    EXPECT_EQ(files(), std::vector<std::string>{"out.part"});

    std::uint64_t last_done = 0, last_total = 0;
    flowattr::matrix::HttpOptions options;
    options.on_progress = [&](std::uint64_t done, std::uint64_t total) {
        last_done = done;
        last_total = total;
    };
    auto r = download(server.url("/vmlinuz"), dir_ + "/out", flowattr::sha256_hex(body), options);
    EXPECT_EQ(r.resumed_from, 100000u);
    EXPECT_EQ(r.size, body.size());
    EXPECT_EQ(flowattr::read_file(dir_ + "/out"), body);
    EXPECT_EQ(files(), std::vector<std::string>{"out"});
    EXPECT_EQ(ranges, (std::vector<std::string>{"", "bytes=100000-"}));
    EXPECT_EQ(last_done, body.size());  // progress counts the resumed part too
    EXPECT_EQ(last_total, body.size());
}

// A server that ignores the Range header: the whole file again, from byte 0.
TEST_F(HttpFetch, ServerWithoutRangesSendsTheWholeFileAgain) {
    const std::string body = payload(50000);
    int requests = 0;
    LoopbackHttpServer server([&](const std::string&, LoopbackHttpServer::Conn& c) {
        if (++requests == 1) {
            c.send_raw("HTTP/1.0 200 OK\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body.substr(0, 7000));
            return;
        }
        c.send_response(200, body);
    });
    EXPECT_THROW(download(server.url("/k"), dir_ + "/out", flowattr::sha256_hex(body)), DownloadError);
    auto r = download(server.url("/k"), dir_ + "/out", flowattr::sha256_hex(body));
    EXPECT_EQ(r.resumed_from, 0u);
    EXPECT_EQ(flowattr::read_file(dir_ + "/out"), body);
    EXPECT_EQ(files(), std::vector<std::string>{"out"});
}

// A .part whose bytes are not the file's (an older upload under the same URL): the resumed
// result fails its sha256, and the download starts over once from byte 0.
TEST_F(HttpFetch, ResumedBytesThatFailTheCheckAreFetchedAgainFromZero) {
    const std::string body = payload(30000);
    flowattr::write_file_atomic(dir_ + "/out.part", std::string(1000, 'x'));
    std::vector<std::string> ranges;
    LoopbackHttpServer server([&](const std::string&, LoopbackHttpServer::Conn& c) {
        ranges.push_back(c.header("Range"));
        if (ranges.back().empty()) return c.send_response(200, body);
        c.send_raw("HTTP/1.0 206 Partial Content\r\nContent-Range: bytes 1000-" + std::to_string(body.size() - 1) + "/" +
                   std::to_string(body.size()) + "\r\nContent-Length: " + std::to_string(body.size() - 1000) + "\r\n\r\n" +
                   body.substr(1000));
    });
    auto r = download(server.url("/k"), dir_ + "/out", flowattr::sha256_hex(body));
    EXPECT_EQ(ranges, (std::vector<std::string>{"bytes=1000-", ""}));
    EXPECT_EQ(r.resumed_from, 0u);
    EXPECT_EQ(flowattr::read_file(dir_ + "/out"), body);
    EXPECT_EQ(files(), std::vector<std::string>{"out"});
}

TEST_F(HttpFetch, CutWithoutContentLengthIsCaughtBySha256) {
    const std::string body = payload(50000);
    LoopbackHttpServer server([&](const std::string&, LoopbackHttpServer::Conn& c) {
        c.send_raw("HTTP/1.0 200 OK\r\n\r\n");
        c.send_raw(body.substr(0, 1000));
    });
    EXPECT_THROW(download(server.url("/k"), dir_ + "/out", flowattr::sha256_hex(body)), ChecksumError);
    EXPECT_TRUE(files().empty());
}

TEST_F(HttpFetch, HttpErrorStatusAndRefusedConnection) {
    LoopbackHttpServer server([&](const std::string&, LoopbackHttpServer::Conn& c) { c.send_response(404, "nope", "Not Found"); });
    try {
        download(server.url("/missing.deb"), dir_ + "/out", "");
        FAIL() << "expected DownloadError";
    } catch (const DownloadError& e) {
        EXPECT_NE(std::string(e.what()).find("HTTP 404"), std::string::npos) << e.what();
    }
    // A port nobody listens on: the server above owns its port only while it lives.
    int port = server.port();
    server.stop();
    EXPECT_THROW(download("http://127.0.0.1:" + std::to_string(port) + "/x", dir_ + "/out", ""), DownloadError);
    EXPECT_TRUE(files().empty());
}

TEST_F(HttpFetch, FollowsRelativeRedirects) {
    const std::string body = "kernel bytes";
    LoopbackHttpServer server([&](const std::string& path, LoopbackHttpServer::Conn& c) {
        if (path == "/old/vmlinuz") {
            c.send_raw("HTTP/1.0 302 Found\r\nLocation: /new/vmlinuz\r\nContent-Length: 0\r\n\r\n");
        } else {
            c.send_response(200, body);
        }
    });
    auto r = download(server.url("/old/vmlinuz"), dir_ + "/out", flowattr::sha256_hex(body));
    EXPECT_EQ(r.final_url, server.url("/new/vmlinuz"));
    EXPECT_EQ(flowattr::read_file(dir_ + "/out"), body);
}

// A server that sends part of the body and then nothing: abandoned after stall_timeout of
// silence (not after the whole transfer's time), the bytes kept for the next call.
TEST_F(HttpFetch, StalledServerTimesOutAndKeepsWhatArrived) {
    flowattr::matrix::HttpOptions options;
    options.stall_timeout = std::chrono::seconds(1);
    std::chrono::steady_clock::duration took{};
    const std::string error = trickled_download_error(options, std::chrono::milliseconds(4000), &took);
    EXPECT_NE(error.find("no data for 1 s"), std::string::npos) << error;
    EXPECT_NE(error.find("1000 bytes kept"), std::string::npos) << error;
    EXPECT_LT(took, std::chrono::milliseconds(3900)) << "waited for the server instead";
    EXPECT_EQ(files(), std::vector<std::string>{"out.part"});
}

// Ctrl-C while a server trickles: the transfer stops within about a second of the flag (not at
// the stall limit, nor when the server is done), keeping what arrived for the next call.
TEST_F(HttpFetch, CancelStopsTheTransferAndKeepsWhatArrived) {
    std::atomic<bool> cancel{false};
    flowattr::matrix::HttpOptions options;
    options.cancel = &cancel;
    std::thread ctrl_c([&] {
        std::this_thread::sleep_for(std::chrono::milliseconds(300));
        cancel.store(true);
    });
    std::chrono::steady_clock::duration took{};
    const std::string error = trickled_download_error(options, std::chrono::milliseconds(3000), &took);
    ctrl_c.join();
    EXPECT_NE(error.find(": interrupted; 1000 bytes kept"), std::string::npos) << error;
    EXPECT_LT(took, std::chrono::milliseconds(2500)) << "ran on after the flag";
    EXPECT_EQ(files(), std::vector<std::string>{"out.part"});
}

TEST_F(HttpFetch, RedirectLoopIsRefused) {
    LoopbackHttpServer server([&](const std::string& path, LoopbackHttpServer::Conn& c) {
        c.send_raw(std::string("HTTP/1.0 302 Found\r\nLocation: ") + (path == "/a" ? "/b" : "/a") +
                   "\r\nContent-Length: 0\r\n\r\n");
    });
    try {
        download(server.url("/a"), dir_ + "/out", "");
        FAIL() << "expected DownloadError";
    } catch (const DownloadError& e) {
        EXPECT_NE(std::string(e.what()).find("more than 5 redirects"), std::string::npos) << e.what();
    }
    EXPECT_TRUE(files().empty());
}

TEST_F(HttpFetch, SymlinkPlantedAtThePartFileIsRefused) {
    flowattr::write_file_atomic(dir_ + "/victim", "untouched");
    ASSERT_EQ(symlink((dir_ + "/victim").c_str(), (dir_ + "/out.part").c_str()), 0);
    LoopbackHttpServer server([&](const std::string&, LoopbackHttpServer::Conn& c) { c.send_response(200, "payload"); });
    EXPECT_THROW(download(server.url("/k"), dir_ + "/out", flowattr::sha256_hex("payload")), flowattr::Error);
    EXPECT_EQ(flowattr::read_file(dir_ + "/victim"), "untouched");
    EXPECT_FALSE(flowattr::matrix::path_exists(dir_ + "/out"));
}

TEST_F(HttpFetch, OnlyHttpAndHttpsAreFetched) {
    for (const char* url : {"ftp://127.0.0.1/vmlinuz", "file:///etc/passwd"}) {
        try {
            download(url, dir_ + "/out", "");
            FAIL() << "expected DownloadError for " << url;
        } catch (const DownloadError& e) {
            EXPECT_NE(std::string(e.what()).find("only http:// and https://"), std::string::npos) << e.what();
        }
    }
    EXPECT_TRUE(files().empty());
}

// Sets environment variables for one test and restores them after.
class ScopedEnv {
public:
    ScopedEnv(std::initializer_list<std::pair<const char*, std::string>> vars) {
        for (const auto& [name, value] : vars) {
            const char* old = std::getenv(name);
            saved_.push_back({name, old ? std::optional<std::string>(old) : std::nullopt});
            setenv(name, value.c_str(), 1);
        }
    }
    ~ScopedEnv() {
        for (const auto& [name, value] : saved_) value ? (void)setenv(name, value->c_str(), 1) : (void)unsetenv(name);
    }

private:
    std::vector<std::pair<const char*, std::optional<std::string>>> saved_;
};

// http_proxy is honoured as curl honours it (the request goes to the proxy with the absolute
// URL), and no_proxy exempts hosts from it.
TEST_F(HttpFetch, HonoursHttpProxyAndNoProxy) {
    const std::string body = "through the proxy";
    std::vector<std::string> targets;
    LoopbackHttpServer proxy([&](const std::string& target, LoopbackHttpServer::Conn& c) {
        targets.push_back(target);
        c.send_response(200, body);
    });
    {
        ScopedEnv env{{"http_proxy", proxy.url("")}, {"no_proxy", ""}};
        auto r = download("http://kernels.invalid/vmlinuz", dir_ + "/out", flowattr::sha256_hex(body));
        EXPECT_EQ(flowattr::read_file(dir_ + "/out"), body);
    }
    EXPECT_EQ(targets, std::vector<std::string>{"http://kernels.invalid/vmlinuz"});

    LoopbackHttpServer origin([&](const std::string&, LoopbackHttpServer::Conn& c) { c.send_response(200, "direct"); });
    ScopedEnv env{{"http_proxy", proxy.url("")}, {"no_proxy", "127.0.0.1"}};
    download(origin.url("/vmlinuz"), dir_ + "/direct", flowattr::sha256_hex("direct"));
    EXPECT_EQ(targets.size(), 1u) << "no_proxy ignored: " << targets.back();
}

// https through the same libcurl path: a local TLS server (Python's ssl module, python3 is a
// pinned host tool) with a self-signed certificate from testdata/tls. Refused until the
// certificate is trusted through CURL_CA_BUNDLE, as with the curl program.
TEST_F(HttpFetch, HttpsIsVerifiedAndCurlCaBundleIsHonoured) {
    if (access("/usr/bin/python3", X_OK) != 0) GTEST_SKIP() << "no /usr/bin/python3 for the local TLS server (make deps installs it)";
    const std::string tls = fa::test::source_dir() + "/tests/unit/testdata/tls";
    const std::string body = payload(70000);
    flowattr::make_directories(dir_ + "/www");
    flowattr::write_file_atomic(dir_ + "/www/vmlinuz", body);
    const std::string server_code =
        "import functools, http.server, ssl, sys\n"
        "ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)\n"
        "ctx.load_cert_chain(sys.argv[1], sys.argv[2])\n"
        "handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=sys.argv[3])\n"
        "srv = http.server.HTTPServer(('127.0.0.1', 0), handler)\n"
        "srv.socket = ctx.wrap_socket(srv.socket, server_side=True)\n"
        "print(srv.server_address[1], flush=True)\n"
        "srv.serve_forever()\n";
    const std::string log = dir_ + "/server.log";
    flowattr::matrix::ChildProcess server({"/usr/bin/python3", "-c", server_code, tls + "/loopback.crt", tls + "/loopback.key", dir_ + "/www"},
                                          log, true);
    std::string port;
    for (int i = 0; i < 100 && port.empty(); i++) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        const std::string out = flowattr::read_file(log);
        if (out.find('\n') != std::string::npos) port = out.substr(0, out.find('\n'));
    }
    ASSERT_FALSE(port.empty()) << "the TLS server did not start: " << flowattr::read_file(log);
    const std::string url = "https://127.0.0.1:" + port + "/vmlinuz";

    {
        ScopedEnv env{{"CURL_CA_BUNDLE", ""}, {"https_proxy", ""}, {"no_proxy", "*"}};
        try {
            download(url, dir_ + "/copy", flowattr::sha256_hex(body));
            FAIL() << "a self-signed certificate was accepted";
        } catch (const DownloadError& e) {
            EXPECT_NE(std::string(e.what()).find("certificate"), std::string::npos) << e.what();
        }
    }
    ScopedEnv env{{"CURL_CA_BUNDLE", tls + "/loopback.crt"}, {"https_proxy", ""}, {"no_proxy", "*"}};
    auto r = download(url, dir_ + "/copy", flowattr::sha256_hex(body));
    EXPECT_EQ(r.size, body.size());
    EXPECT_EQ(flowattr::read_file(dir_ + "/copy"), body);
    server.terminate();
}

}  // namespace
