#include "common/subprocess.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>

#include "common/error.h"
#include "common/unique_fd.h"

extern char** environ;

namespace flowattr {
namespace {

using Clock = std::chrono::steady_clock;
constexpr std::chrono::milliseconds kDrainGrace{2000};

struct Pipe {
    UniqueFd read, write;
};

Pipe make_pipe() {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) throw Error("cannot create a pipe", errno);
    return Pipe{UniqueFd(fds[0]), UniqueFd(fds[1])};
}

// Reaps the child whatever happens in the parent: a throwing callback must not leave a
// zombie or a runaway QEMU behind.
class ChildGuard {
public:
    explicit ChildGuard(pid_t pid) : pid_(pid) {}
    ChildGuard(const ChildGuard&) = delete;
    ChildGuard& operator=(const ChildGuard&) = delete;
    ~ChildGuard() {
        if (pid_ <= 0) return;
        kill(-pid_, SIGKILL);
        int status;
        while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
        }
    }
    void reaped() { pid_ = -1; }

private:
    pid_t pid_;
};

std::vector<std::string> merged_environment(const std::vector<std::string>& extra) {
    std::vector<std::string> env;
    for (char** e = environ; e && *e; e++) {
        std::string entry(*e);
        std::string key = entry.substr(0, entry.find('='));
        bool overridden = false;
        for (const auto& x : extra)
            if (x.compare(0, key.size() + 1, key + "=") == 0) overridden = true;
        if (!overridden) env.push_back(entry);
    }
    env.insert(env.end(), extra.begin(), extra.end());
    return env;
}

std::vector<char*> c_strings(std::vector<std::string>& strings) {
    std::vector<char*> out;
    for (auto& s : strings) out.push_back(s.data());
    out.push_back(nullptr);
    return out;
}

void append_capped(std::string& buf, const char* data, std::size_t len, std::size_t cap) {
    buf.append(data, len);
    if (buf.size() > cap) buf.erase(0, buf.size() - cap);
}

// Writing to a pipe whose reader has gone raises SIGPIPE, which would kill the whole process.
// Block it around the write and swallow a pending one, so a child that exits without reading
// its stdin only produces EPIPE.
ssize_t write_without_sigpipe(int fd, const char* data, std::size_t len) {
    sigset_t pipe_set, old_set, pending;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    sigpending(&pending);
    bool was_pending = sigismember(&pending, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, &old_set);
    ssize_t n = write(fd, data, len);
    int saved = errno;
    // A write cut short by the reader leaving returns the partial count, not EPIPE, yet still
    // raises the signal: look at what is pending rather than at the return value.
    sigpending(&pending);
    if (!was_pending && sigismember(&pending, SIGPIPE)) {
        struct timespec zero = {0, 0};
        while (sigtimedwait(&pipe_set, nullptr, &zero) < 0 && errno == EINTR) {
        }
    }
    pthread_sigmask(SIG_SETMASK, &old_set, nullptr);
    errno = saved;
    return n;
}

}  // namespace

std::string RunResult::status_text() const {
    if (timed_out) return "timed out after " + std::to_string(elapsed.count()) + " ms";
    if (term_signal) return "killed by signal " + std::to_string(term_signal) + " (" + strsignal(term_signal) + ")";
    return "exited with status " + std::to_string(exit_code);
}

std::string format_argv(const std::vector<std::string>& argv) {
    std::string out;
    for (const auto& a : argv) {
        if (!out.empty()) out += ' ';
        bool plain = !a.empty() && a.find_first_of(" \t\n'\"\\$`*?;&|<>()") == std::string::npos;
        if (plain) {
            out += a;
            continue;
        }
        out += '\'';
        for (char c : a) out += (c == '\'') ? std::string("'\\''") : std::string(1, c);
        out += '\'';
    }
    return out;
}

pid_t spawn(const SpawnSpec& spec) {
    if (spec.argv.empty()) throw Error("spawn: empty argv", EINVAL);
    // Everything the child needs is prepared before fork: between fork and exec only
    // async-signal-safe calls are allowed (other threads may hold locks).
    std::vector<std::string> args = spec.argv;
    std::vector<char*> c_args = c_strings(args);
    std::vector<std::string> env = merged_environment(spec.env);
    std::vector<char*> c_env = c_strings(env);
    Pipe exec_pipe = make_pipe();  // carries exec's errno; closes (EOF) on a successful exec

    const pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) throw Error("cannot fork for " + spec.argv[0], errno);
    if (pid == 0) {
        if (spec.own_group) setpgid(0, 0);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) _exit(127);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, nullptr);
        for (int sig : {SIGPIPE, SIGINT, SIGTERM}) signal(sig, SIG_DFL);
        if ((spec.stdin_fd >= 0 && dup2(spec.stdin_fd, 0) < 0) || (spec.stdout_fd >= 0 && dup2(spec.stdout_fd, 1) < 0) ||
            (spec.stderr_fd >= 0 && dup2(spec.stderr_fd, 2) < 0) || (!spec.cwd.empty() && chdir(spec.cwd.c_str()) != 0)) {
            int e = errno;
            (void)!write(exec_pipe.write.get(), &e, sizeof e);
            _exit(127);
        }
        execvpe(c_args[0], c_args.data(), c_env.data());
        int e = errno;
        (void)!write(exec_pipe.write.get(), &e, sizeof e);
        _exit(127);
    }
    // Also set from the parent, so the group exists before any kill(-pid) whichever runs first.
    if (spec.own_group) setpgid(pid, pid);
    exec_pipe.write.reset();
    int exec_errno = 0;
    ssize_t n;
    while ((n = read(exec_pipe.read.get(), &exec_errno, sizeof exec_errno)) < 0 && errno == EINTR) {
    }
    if (n == sizeof exec_errno) {
        int status;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
        }
        std::string where = spec.cwd.empty() ? "" : " in " + spec.cwd;
        throw Error("cannot execute " + spec.argv[0] + where, exec_errno);
    }
    return pid;
}

UniqueFd create_output_file(const std::string& path) {
    UniqueFd fd(open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (!fd) throw Error("cannot create " + path, errno);
    return fd;
}

UniqueFd open_dev_null() {
    UniqueFd fd(open("/dev/null", O_RDONLY | O_CLOEXEC));
    if (!fd) throw Error("cannot open /dev/null", errno);
    return fd;
}

RunResult run_command(const std::vector<std::string>& argv, const RunOptions& options) {
    if (argv.empty()) throw Error("run_command: empty argv", EINVAL);

    UniqueFd stdout_file;
    if (!options.stdout_path.empty()) stdout_file = create_output_file(options.stdout_path);
    UniqueFd dev_null = open_dev_null();

    Pipe out_pipe = make_pipe();
    Pipe err_pipe = make_pipe();
    Pipe in_pipe;
    if (!options.stdin_data.empty()) {
        in_pipe = make_pipe();
        // Non-blocking, so a large input never stalls the loop while the child fills stdout.
        if (fcntl(in_pipe.write.get(), F_SETFL, O_NONBLOCK) != 0) throw Error("cannot set O_NONBLOCK on a pipe", errno);
    }

    const auto start = Clock::now();
    SpawnSpec spec;
    spec.argv = argv;
    spec.env = options.env;
    spec.cwd = options.cwd;
    spec.stdin_fd = in_pipe.read ? in_pipe.read.get() : dev_null.get();
    spec.stdout_fd = stdout_file ? stdout_file.get() : out_pipe.write.get();
    spec.stderr_fd = err_pipe.write.get();
    // Its own process group, so a timeout kills the child's children too (qemu helpers, xz of tar).
    const pid_t pid = spawn(spec);
    ChildGuard guard(pid);
    out_pipe.write.reset();
    err_pipe.write.reset();
    in_pipe.read.reset();
    stdout_file.reset();

    RunResult result;
    const bool has_deadline = options.timeout.count() > 0;
    auto deadline = start + options.timeout;
    auto expire_if_due = [&] {
        if (has_deadline && !result.timed_out && Clock::now() >= deadline) {
            result.timed_out = true;
            kill(-pid, SIGKILL);
        }
    };

    std::size_t in_off = 0;
    if (!options.stdout_path.empty()) out_pipe.read.reset();
    char buf[65536];
    while (out_pipe.read || err_pipe.read || in_pipe.write) {
        struct pollfd fds[3];
        int nfds = 0;
        int out_i = -1, err_i = -1, in_i = -1;
        if (out_pipe.read) fds[out_i = nfds++] = {out_pipe.read.get(), POLLIN, 0};
        if (err_pipe.read) fds[err_i = nfds++] = {err_pipe.read.get(), POLLIN, 0};
        if (in_pipe.write) fds[in_i = nfds++] = {in_pipe.write.get(), POLLOUT, 0};
        int wait_ms = -1;
        if (has_deadline) {
            // After the kill, a process that left the group (setsid) may still hold the pipes:
            // drain for a short grace period, then stop listening.
            auto until = result.timed_out ? deadline + kDrainGrace : deadline;
            auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now()).count();
            wait_ms = int(std::max<long long>(0, left));
        }
        int r = poll(fds, nfds, wait_ms);
        if (r < 0) {
            if (errno == EINTR) continue;
            throw Error("poll on the pipes of " + argv[0], errno);
        }
        if (r == 0 && result.timed_out) {
            out_pipe.read.reset();
            err_pipe.read.reset();
            in_pipe.write.reset();
            break;
        }
        expire_if_due();
        auto drain = [&](int i, UniqueFd& fd, std::string& sink,
                         const std::function<void(const std::string&)>& callback) {
            if (i < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) return;
            ssize_t got = read(fd.get(), buf, sizeof buf);
            if (got < 0 && errno == EINTR) return;
            if (got <= 0) {
                fd.reset();
                return;
            }
            append_capped(sink, buf, std::size_t(got), options.max_capture);
            if (callback) callback(std::string(buf, std::size_t(got)));
        };
        drain(out_i, out_pipe.read, result.out, options.on_stdout);
        drain(err_i, err_pipe.read, result.err, options.on_stderr);
        if (has_deadline && !result.timed_out && options.restart_timeout && options.restart_timeout())
            deadline = Clock::now() + options.timeout;
        if (in_i >= 0 && (fds[in_i].revents & (POLLOUT | POLLERR | POLLHUP))) {
            ssize_t w = write_without_sigpipe(in_pipe.write.get(), options.stdin_data.data() + in_off,
                                              options.stdin_data.size() - in_off);
            if (w > 0) in_off += std::size_t(w);
            // A child that stops reading its input (EPIPE) is not our error: its status tells.
            if ((w < 0 && errno != EINTR && errno != EAGAIN) || in_off == options.stdin_data.size())
                in_pipe.write.reset();
        }
    }

    int status = 0;
    for (;;) {
        pid_t w = waitpid(pid, &status, has_deadline && !result.timed_out ? WNOHANG : 0);
        if (w == pid) break;
        if (w < 0) {
            if (errno == EINTR) continue;
            throw Error("waitpid for " + argv[0], errno);
        }
        // The child closed its output but still runs: poll for its exit until the deadline.
        expire_if_due();
        if (!result.timed_out) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    guard.reaped();
    result.elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
    if (WIFEXITED(status)) {
        result.exit_code = WEXITSTATUS(status);
    } else if (WIFSIGNALED(status)) {
        result.term_signal = WTERMSIG(status);
    }
    return result;
}

RunResult check_command(const std::vector<std::string>& argv, const std::string& what, const RunOptions& options) {
    RunResult r = run_command(argv, options);
    if (!r.ok()) throw Error(what + ": " + format_argv(argv) + " " + r.status_text(), 0, r.err);
    return r;
}

}  // namespace flowattr
