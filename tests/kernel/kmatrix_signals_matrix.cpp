// `kmatrix run` stopped mid-run, as a user or a CI runner stops it: SIGINT and SIGTERM end it
// with exit 130 and a partial report; SIGKILL leaves it no say, and its QEMU must still go
// (PR_SET_PDEATHSIG). No QEMU survives any of them, and the next run works; a url: download under
// way stops too. Label `matrix` (src/matrix/CMakeLists.txt); skips, saying why, without QEMU or
// without the 6.1 kernel.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "common/file.h"
#include "common/subprocess.h"
#include "kmatrix_host_test.h"
#include "../unit/loopback_http_server.h"

namespace {

// Field N (1-based, after "pid (comm)") of /proc/PID/stat; "" when the process is gone.
std::string stat_field(pid_t pid, int n) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    auto close = text.rfind(')');
    if (close == std::string::npos) return "";
    std::istringstream fields(text.substr(close + 2));
    std::string f;
    for (int i = 3; i <= n && fields >> f; i++) {
    }
    return f;
}

bool running(pid_t pid) {
    std::string state = stat_field(pid, 3);
    return !state.empty() && state != "Z";
}

// QEMU processes descended from ROOT.
std::vector<pid_t> qemu_under(pid_t root) {
    std::vector<pid_t> found;
    for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
        const std::string name = entry.path().filename().string();
        if (name.find_first_not_of("0123456789") != std::string::npos) continue;
        const pid_t pid = std::stoi(name);
        std::ifstream comm_file(entry.path() / "comm");
        std::string comm;
        std::getline(comm_file, comm);
        if (comm.rfind("qemu-system", 0) != 0) continue;
        for (pid_t p = pid; p > 1;) {
            std::string parent = stat_field(p, 4);
            if (parent.empty()) break;
            p = std::stoi(parent);
            if (p == root) {
                found.push_back(pid);
                break;
            }
        }
    }
    return found;
}

class KmatrixSignals : public fa::test::KmatrixHostTest {
protected:
    void SetUp() override {
        set_up("kmatrix-signals");
        if (IsSkipped() || HasFatalFailure()) return;
        auto fetched = flowattr::run_command({kmatrix_, "fetch", "--kernels", flowattr::env_or("KERNELS", ""), "6.1"});
        if (fetched.exit_code != 0) GTEST_SKIP() << "the 6.1 kernel is not obtainable here: " << fetched.out;
    }

    // `kmatrix run -j1 --artifacts $ARTIFACTS --out DIR/OUT ARGS...` in the background, its output
    // in DIR/OUT.log; CACHE, when given, is its FLOWATTR_CACHE.
    pid_t spawn_run(const std::string& out, const std::vector<std::string>& args, const std::string& cache = "") {
        std::vector<std::string> argv = {kmatrix_, "run", "-j1", "--artifacts", flowattr::env_or("ARTIFACTS", ""),
                                         "--out", dir_->path() + "/" + out};
        argv.insert(argv.end(), args.begin(), args.end());
        pid_t pid = fork();
        if (pid == 0) {
            int log = open((dir_->path() + "/" + out + ".log").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
            dup2(log, STDOUT_FILENO);
            dup2(log, STDERR_FILENO);
            if (!cache.empty()) setenv("FLOWATTR_CACHE", cache.c_str(), 1);
            std::vector<char*> c_argv;
            for (auto& a : argv) c_argv.push_back(a.data());
            c_argv.push_back(nullptr);
            execv(c_argv[0], c_argv.data());
            _exit(127);
        }
        return pid;
    }

    // `kmatrix run --only 6.1` in the background, output to OUT/; returns once its QEMU runs.
    pid_t start_run(const std::string& out, std::vector<pid_t>* qemu) {
        pid_t pid = spawn_run(out, {"--kernels", flowattr::env_or("KERNELS", ""), "--only", "6.1"});
        auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
        while (std::chrono::steady_clock::now() < deadline && (*qemu = qemu_under(pid)).empty())
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
        // Into the boot, where a careless harness would leave QEMU behind.
        std::this_thread::sleep_for(std::chrono::seconds(2));
        return pid;
    }

    // Exit code, or -signal; SIGKILLs it after TIMEOUT.
    static int wait_for(pid_t pid, std::chrono::seconds timeout) {
        auto deadline = std::chrono::steady_clock::now() + timeout;
        int status = 0;
        while (waitpid(pid, &status, WNOHANG) == 0) {
            if (std::chrono::steady_clock::now() > deadline) {
                kill(pid, SIGKILL);
                waitpid(pid, &status, 0);
                return -1000;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
        return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
    }

    static bool all_gone(const std::vector<pid_t>& pids, std::chrono::seconds within) {
        auto deadline = std::chrono::steady_clock::now() + within;
        for (;;) {
            bool any = false;
            for (pid_t p : pids) any = any || running(p);
            if (!any) return true;
            if (std::chrono::steady_clock::now() > deadline) return false;
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
    }

};

TEST_F(KmatrixSignals, InterruptedRunsLeaveNoQemuAndThePartialReport) {
    for (int sig : {SIGINT, SIGTERM}) {
        SCOPED_TRACE(strsignal(sig));
        const std::string out = std::string("out-") + std::to_string(sig);
        std::vector<pid_t> qemu;
        pid_t run = start_run(out, &qemu);
        ASSERT_FALSE(qemu.empty()) << "no QEMU started within two minutes: " << flowattr::read_file(dir_->path() + "/" + out + ".log");
        ASSERT_EQ(kill(run, sig), 0);
        EXPECT_EQ(wait_for(run, std::chrono::seconds(60)), 130) << flowattr::read_file(dir_->path() + "/" + out + ".log");
        EXPECT_TRUE(all_gone(qemu, std::chrono::seconds(10))) << "QEMU outlived kmatrix";
        const std::string summary = dir_->path() + "/" + out + "/summary.md";
        ASSERT_TRUE(std::filesystem::exists(summary)) << "no partial report";
        EXPECT_NE(flowattr::read_file(summary).find("6.1"), std::string::npos);
        EXPECT_TRUE(std::filesystem::exists(dir_->path() + "/" + out + "/6.1/junit.xml"));
        EXPECT_NE(flowattr::read_file(dir_->path() + "/" + out + ".log").find("interrupted: partial results"),
                  std::string::npos);
    }
}

// Ctrl-C while a url: kernel trickles in: kmatrix stops within seconds (not when the server is
// done, nor at the minute's stall limit), says it was interrupted, and keeps what arrived in the
// artifact's .part for the next fetch to resume.
class KmatrixInterruptedDownload : public KmatrixSignals {
protected:
    void SetUp() override { set_up("kmatrix-interrupted-download"); }  // no kernel fetched: it serves its own
};

TEST_F(KmatrixInterruptedDownload, CtrlCStopsAUrlDownloadAndKeepsItsPart) {
    std::atomic<bool> sent{false}, done{false};
    flowattr::test::LoopbackHttpServer server([&](const std::string&, flowattr::test::LoopbackHttpServer::Conn& c) {
        c.send_raw("HTTP/1.0 200 OK\r\nContent-Length: 10000000\r\n\r\n" + std::string(1000, 'k'));
        sent = true;
        while (!done) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    });
    const std::string sha256(64, '1');
    const std::string kernels = dir_->path() + "/kernels.txt", cache = dir_->path() + "/cache";
    flowattr::write_file_atomic(kernels, "slow 6.1 url:" + server.url("/vmlinuz") + " " + sha256 + " - x86_64\n");
    const std::string log = dir_->path() + "/out.log";
    const pid_t run = spawn_run("out", {"--kernels", kernels}, cache);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (!sent && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    ASSERT_TRUE(sent) << "kmatrix never asked for the kernel: " << flowattr::read_file(log);
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    const auto interrupted = std::chrono::steady_clock::now();
    ASSERT_EQ(kill(run, SIGINT), 0);
    const int rc = wait_for(run, std::chrono::seconds(20));
    const auto took = std::chrono::steady_clock::now() - interrupted;
    done = true;
    const std::string text = flowattr::read_file(log);
    EXPECT_EQ(rc, 130) << text;
    EXPECT_LT(took, std::chrono::seconds(5)) << "kmatrix ran on after Ctrl-C: " << text;
    EXPECT_NE(text.find("interrupted; 1000 bytes kept"), std::string::npos) << text;
    EXPECT_TRUE(std::filesystem::exists(cache + "/artifacts/" + sha256 + ".part")) << text;
}

TEST_F(KmatrixSignals, SigkilledRunTakesItsQemuAlongAndTheNextRunWorks) {
    std::vector<pid_t> qemu;
    pid_t run = start_run("out-kill", &qemu);
    ASSERT_FALSE(qemu.empty()) << "no QEMU started within two minutes";
    ASSERT_EQ(kill(run, SIGKILL), 0);
    EXPECT_EQ(wait_for(run, std::chrono::seconds(30)), -SIGKILL);
    EXPECT_TRUE(all_gone(qemu, std::chrono::seconds(10))) << "QEMU outlived a SIGKILLed kmatrix";

    auto next = flowattr::run_command({kmatrix_, "exec", "--kernels", flowattr::env_or("KERNELS", ""), "--only", "6.1", "--artifacts",
                                       flowattr::env_or("ARTIFACTS", ""), "--out", dir_->path() + "/out-next", "--", "true"});
    EXPECT_EQ(next.exit_code, 0) << next.out << next.err;
}

}  // namespace
