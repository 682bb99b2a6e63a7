#pragma once
// Forked test processes with their own comm, optionally inside a network namespace, that
// report back over a pipe. The parent always reaps them (killing on timeout).
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <functional>
#include <string>

namespace fa::test {

class Child {
public:
    // FN runs in the child with `report` as a write fd; its return value is the exit code.
    Child(const std::string& comm, int netns_fd, const std::function<int(int report)>& fn) {
        int fds[2];
        if (pipe2(fds, O_CLOEXEC) != 0) return;
        pid_ = fork();
        if (pid_ == 0) {
            close(fds[0]);
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            prctl(PR_SET_NAME, comm.c_str());
            if (netns_fd >= 0 && setns(netns_fd, CLONE_NEWNET) != 0) _exit(120);
            _exit(fn(fds[1]));
        }
        close(fds[1]);
        read_fd_ = fds[0];
    }
    ~Child() {
        if (pid_ > 0) {
            kill(pid_, SIGKILL);
            wait();
        }
        if (read_fd_ >= 0) close(read_fd_);
    }
    Child(const Child&) = delete;
    Child& operator=(const Child&) = delete;

    pid_t pid() const { return pid_; }

    // One line written by the child ("ready", "count 3000"), or "" on timeout/EOF.
    std::string read_line(int timeout_ms = 10000) {
        std::string line;
        auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
        while (true) {
            int left = int(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count());
            if (left <= 0) return "";
            pollfd p{read_fd_, POLLIN, 0};
            if (poll(&p, 1, left) <= 0) return "";
            char c;
            if (read(read_fd_, &c, 1) != 1) return "";
            if (c == '\n') return line;
            line += c;
        }
    }

    // Exit code, or -signal; waits at most timeout_ms before killing.
    int wait(int timeout_ms = 10000) {
        if (pid_ <= 0) return exit_code_;
        auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
        int status = 0;
        while (waitpid(pid_, &status, WNOHANG) == 0) {
            if (std::chrono::steady_clock::now() > deadline) {
                kill(pid_, SIGKILL);
                waitpid(pid_, &status, 0);
                break;
            }
            usleep(10000);
        }
        pid_ = 0;
        exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
        return exit_code_;
    }

private:
    pid_t pid_ = -1;
    int read_fd_ = -1;
    int exit_code_ = -1;
};

inline void report(int fd, const std::string& line) {
    std::string s = line + "\n";
    if (write(fd, s.data(), s.size()) < 0) _exit(121);
}

}  // namespace fa::test
