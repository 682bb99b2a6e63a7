#pragma once
// A tiny HTTP server on 127.0.0.1 for tests: each connection is handed to a callback that
// decides what bytes go back (a full response, a truncated body, a redirect ...).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <functional>
#include <stdexcept>
#include <string>
#include <thread>

namespace flowattr::test {

class LoopbackHttpServer {
public:
    class Conn {
    public:
        Conn(int fd, std::string request) : fd_(fd), request_(std::move(request)) {}
        // A request header's value ("" when absent); the name matched without regard to case.
        std::string header(const std::string& name) const {
            auto lower = [](std::string s) {
                for (char& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
                return s;
            };
            const std::string head = lower(request_), key = "\r\n" + lower(name) + ":";
            std::size_t at = head.find(key);
            if (at == std::string::npos) return "";
            at += key.size();
            std::size_t end = request_.find("\r\n", at);
            std::string value = request_.substr(at, end - at);
            value.erase(0, value.find_first_not_of(' '));
            return value;
        }
        void send_raw(const std::string& data) {
            std::size_t off = 0;
            while (off < data.size()) {
                ssize_t n = ::send(fd_, data.data() + off, data.size() - off, MSG_NOSIGNAL);
                if (n <= 0) return;  // the client went away: nothing more to tell it
                off += std::size_t(n);
            }
        }
        void send_response(int status, const std::string& body, const std::string& reason = "OK") {
            send_raw("HTTP/1.0 " + std::to_string(status) + " " + reason + "\r\nContent-Length: " + std::to_string(body.size()) +
                     "\r\nContent-Type: application/octet-stream\r\n\r\n" + body);
        }

    private:
        int fd_;
        std::string request_;
    };
    using Handler = std::function<void(const std::string& path, Conn& conn)>;

    explicit LoopbackHttpServer(Handler handler) : handler_(std::move(handler)) {
        listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof addr;
        if (listen_fd_ < 0 || bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
            listen(listen_fd_, 16) != 0 || getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
            throw std::runtime_error("loopback server: cannot listen");
        port_ = ntohs(addr.sin_port);
        thread_ = std::thread([this] { serve(); });
    }
    ~LoopbackHttpServer() { stop(); }
    LoopbackHttpServer(const LoopbackHttpServer&) = delete;
    LoopbackHttpServer& operator=(const LoopbackHttpServer&) = delete;

    int port() const { return port_; }
    std::string url(const std::string& path) const { return "http://127.0.0.1:" + std::to_string(port_) + path; }
    void stop() {
        if (stopping_.exchange(true)) return;
        thread_.join();
        close(listen_fd_);
    }

private:
    void serve() {
        while (!stopping_) {
            struct pollfd p = {listen_fd_, POLLIN, 0};
            if (poll(&p, 1, 50) <= 0) continue;
            int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
            if (fd < 0) continue;
            std::string request;
            char buf[4096];
            while (request.find("\r\n\r\n") == std::string::npos) {
                ssize_t n = recv(fd, buf, sizeof buf, 0);
                if (n <= 0) break;
                request.append(buf, std::size_t(n));
            }
            std::size_t sp1 = request.find(' '), sp2 = request.find(' ', sp1 + 1);
            std::string path = sp1 == std::string::npos || sp2 == std::string::npos ? "" : request.substr(sp1 + 1, sp2 - sp1 - 1);
            Conn conn(fd, request);
            handler_(path, conn);
            close(fd);
        }
    }

    Handler handler_;
    int listen_fd_ = -1;
    int port_ = 0;
    std::atomic<bool> stopping_{false};
    std::thread thread_;
};

}  // namespace flowattr::test
