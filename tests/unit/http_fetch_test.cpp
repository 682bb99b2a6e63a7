#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <string>
#include <thread>

#include "common/file.h"
#include "common/sha256.h"
#include "loopback_http_server.h"
#include "matrix/cache_files.h"
#include "matrix/http_fetch.h"

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

TEST_F(HttpFetch, ConnectionCutMidDownloadLeavesNothing) {
    const std::string body = payload(200000);
    LoopbackHttpServer server([&](const std::string&, LoopbackHttpServer::Conn& c) {
        // Announce the whole length, send half, hang up.
        c.send_raw("HTTP/1.0 200 OK\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n");
        c.send_raw(body.substr(0, body.size() / 2));
    });
    try {
        download(server.url("/vmlinuz"), dir_ + "/out", flowattr::sha256_hex(body));
        FAIL() << "expected DownloadError";
    } catch (const DownloadError& e) {
        EXPECT_NE(std::string(e.what()).find("connection closed after 100000 of 200000 bytes"), std::string::npos) << e.what();
    }
    EXPECT_TRUE(files().empty());
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
        EXPECT_NE(std::string(e.what()).find("HTTP 404 Not Found"), std::string::npos) << e.what();
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

// A server that sends part of the body and then nothing: refused after io_timeout of
// silence (not after the whole transfer's time), nothing left behind.
TEST_F(HttpFetch, StalledServerTimesOutAndLeavesNothing) {
    const std::string body = payload(100000);
    LoopbackHttpServer server([&](const std::string&, LoopbackHttpServer::Conn& c) {
        c.send_raw("HTTP/1.0 200 OK\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n");
        c.send_raw(body.substr(0, 1000));
        std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    });
    flowattr::matrix::HttpOptions options;
    options.io_timeout = std::chrono::milliseconds(300);
    try {
        download(server.url("/vmlinuz"), dir_ + "/out", flowattr::sha256_hex(body), options);
        FAIL() << "expected DownloadError";
    } catch (const DownloadError& e) {
        EXPECT_NE(std::string(e.what()).find("no data for 300 ms"), std::string::npos) << e.what();
    }
    EXPECT_TRUE(files().empty());
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

TEST(HttpUrl, Parses) {
    auto u = flowattr::matrix::parse_url("http://[::1]:8080/a/b?c");
    EXPECT_EQ(u.host, "::1");
    EXPECT_EQ(u.port, 8080);
    EXPECT_EQ(u.target, "/a/b?c");
    EXPECT_EQ(flowattr::matrix::parse_url("https://kernel.example").port, 443);
    EXPECT_EQ(flowattr::matrix::parse_url("https://kernel.example").target, "/");
    EXPECT_THROW(flowattr::matrix::parse_url("ftp://x/y"), DownloadError);
    EXPECT_THROW(flowattr::matrix::parse_url("http://h:99999/"), DownloadError);
}

}  // namespace
