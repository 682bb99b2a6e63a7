// Connection-churn benchmark: short-lived TCP connections per second on lo that a real
// `flowattr run` attributes to the right process, and the rate where it stops doing so. For
// each rate a fresh agent starts (as a user starts it, JSON on stdout); a generator process
// of known pid opens and closes connections to a listener at that rate for a second (each
// from its own 127/8 address, closed with RST), writing down each client end; the agent is
// stopped and its output read: every connection must have a line naming the generator's pid,
// and the agent's own count of events lost to a full ring buffer must stay 0.
// Usage: flowattr_churn_bench FLOWATTR OUT_DIR
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <cstdio>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/file.h"
#include "common/unique_fd.h"
#include "matrix/qemu_runner.h"
#include "bench_support.h"

namespace {

constexpr int kRates[] = {1000, 2000, 5000, 10000, 20000, 40000};  // connections per second asked
constexpr int kSecondsPerRate = 1;

// Accepts and closes connections on 127.0.0.1 until destroyed.
class Listener {
public:
    Listener() : socket_(fa::bench::listen_tcp(htonl(INADDR_LOOPBACK), 4096)) {
        thread_ = std::thread([this] {
            while (!stop_) {
                int c = accept4(socket_.fd.get(), nullptr, nullptr, SOCK_CLOEXEC);
                if (c >= 0) close(c);
            }
        });
    }
    ~Listener() {
        stop_ = true;
        shutdown(socket_.fd.get(), SHUT_RDWR);
        thread_.join();
    }
    std::uint16_t port() const { return socket_.port; }

private:
    fa::bench::ListeningSocket socket_;
    std::atomic<bool> stop_{false};
    std::thread thread_;
};

// In a child process: RATE connections per second to PORT for kSecondsPerRate, each written
// to PORTS_PATH as a line: "p ADDR:PORT" (its local end) or "e ERRNO" (it failed). Exits 0.
[[noreturn]] void generate(int rate, std::uint16_t port, const std::string& ports_path) {
    std::FILE* out = std::fopen(ports_path.c_str(), "w");
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    to.sin_port = htons(port);
    const auto start = std::chrono::steady_clock::now();
    const long total = long(rate) * kSecondsPerRate;
    for (long i = 0; i < total; i++) {
        // Paced: connection i is not opened before its time.
        std::this_thread::sleep_until(start + std::chrono::nanoseconds(i * 1000000000L / rate));
        int s = socket(AF_INET, SOCK_STREAM, 0);
        if (s < 0) {
            std::fprintf(out, "e %d\n", errno);
            continue;
        }
        // A source address of its own per connection (all of 127/8 is lo's): a port the kernel
        // hands out again after an RST still makes a new 5-tuple, so every connection is a flow.
        sockaddr_in from{};
        from.sin_family = AF_INET;
        from.sin_addr.s_addr = htonl((127u << 24) | (1u << 16) | std::uint32_t(i & 0xffff));
        if (bind(s, reinterpret_cast<sockaddr*>(&from), sizeof from) == 0 &&
            connect(s, reinterpret_cast<sockaddr*>(&to), sizeof to) == 0) {
            sockaddr_in me{};
            socklen_t len = sizeof me;
            getsockname(s, reinterpret_cast<sockaddr*>(&me), &len);
            char addr[INET_ADDRSTRLEN] = {};
            inet_ntop(AF_INET, &me.sin_addr, addr, sizeof addr);
            std::fprintf(out, "p %s:%u\n", addr, unsigned(ntohs(me.sin_port)));
            const linger reset{1, 0};
            setsockopt(s, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
        } else {
            std::fprintf(out, "e %d\n", errno);
        }
        close(s);
    }
    std::fclose(out);
    _exit(0);
}

struct RateResult {
    int asked = 0;
    double achieved = 0;  // connections per second the generator managed
    std::size_t connections = 0, failed_connects = 0, right_pid = 0, wrong_pid = 0, no_process = 0, missing = 0;
    int failure_errno = 0;
    std::string failure;  // the commonest reason a connect failed
    std::uint64_t events_lost = 0;
};

RateResult measure(const std::string& flowattr, const std::string& dir, int rate, const Listener& listener) {
    RateResult r;
    r.asked = rate;
    const std::string log = dir + "/agent-" + std::to_string(rate) + ".log";
    flowattr::matrix::ChildProcess agent({flowattr, "run", "--iface", "lo", "--max-flows", "1000000", "--interval", "1"},
                                         log, true);
    // Attached once it has said how (stderr, in the same log).
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (flowattr::read_file(log).find("flows: ") == std::string::npos) {
        if (agent.poll() || std::chrono::steady_clock::now() > deadline)
            throw flowattr::Error("flowattr run did not attach to lo within 30 s: " + flowattr::read_file(log));
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    const std::string ports_path = dir + "/ports-" + std::to_string(rate);
    const auto start = std::chrono::steady_clock::now();
    const pid_t generator = fork();
    if (generator < 0) throw flowattr::Error("fork", errno);
    if (generator == 0) generate(rate, listener.port(), ports_path);
    int status = 0;
    waitpid(generator, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        throw flowattr::Error("the connection generator ended with wait status " + std::to_string(status));
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));  // the agent's next interval
    agent.terminate(10.0);

    std::set<std::string> ports;  // "ADDR:PORT" of each connection's client end
    std::map<int, std::size_t> failures;  // errno -> count
    std::ifstream in(ports_path);
    for (std::string what, value; in >> what >> value;) {
        if (what == "p") ports.insert(value);
        else failures[std::stoi(value)]++;
    }
    r.connections = ports.size();
    for (const auto& [err, n] : failures) {
        r.failed_connects += n;
        if (r.failure.empty() || n > failures[r.failure_errno]) {
            r.failure_errno = err;
            r.failure = std::strerror(err);
        }
    }
    r.achieved = double(r.connections) / seconds;
    // What the agent said of each connection: the pids on the lines of its client end's flow.
    std::map<std::string, std::set<long>> pids;
    std::ifstream lines(log);
    for (std::string line; std::getline(lines, line);) {
        if (line.empty() || line[0] != '{') continue;
        const auto j = nlohmann::json::parse(line, nullptr, false);
        if (j.is_discarded()) continue;
        if (j.value("type", "") == "agent") r.events_lost = j["events"].value("lost", 0ull);
        if (!j.contains("local") || j.value("proto", "") != "tcp") continue;
        const std::string local = j["local"].value("addr", "") + ":" + std::to_string(j["local"].value("port", 0u));
        if (j["remote"].value("port", 0u) != listener.port() || !ports.count(local)) continue;
        pids[local].insert(j["process"].is_null() ? 0L : j["process"].value("pid", 0L));
    }
    for (const std::string& p : ports) {
        const auto it = pids.find(p);
        if (it == pids.end()) r.missing++;
        else if (it->second.count(generator) && it->second.size() == 1) r.right_pid++;
        else if (it->second == std::set<long>{0}) r.no_process++;
        else r.wrong_pid++;
    }
    return r;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 3) {
        std::fprintf(stderr, "usage: flowattr_churn_bench FLOWATTR OUT_DIR\n");
        return 2;
    }
    const std::string flowattr = argv[1], out_dir = argv[2];
    if (geteuid() != 0) {
        std::fprintf(stderr, "flowattr_churn_bench: needs root (flowattr run)\n");
        return 1;
    }
    std::printf("connection churn on lo (a fresh flowattr run per rate, %d s of connections each, closed with RST)\n",
                kSecondsPerRate);
    nlohmann::json results = nlohmann::json::array();
    int loss_begins = 0;
    try {
        flowattr::TempDir dir("churn-bench");
        Listener listener;
        for (int rate : kRates) {
            const RateResult r = measure(flowattr, dir.path(), rate, listener);
            const bool whole = r.right_pid == r.connections && r.events_lost == 0;
            if (!whole && !loss_begins) loss_begins = rate;
            std::printf("  %6d/s asked, %8.0f/s made: %zu connections (%zu connects failed%s%s), %zu with the "
                        "generator's pid, %zu wrong pid, %zu no process, %zu missing, %llu events lost%s\n",
                        r.asked, r.achieved, r.connections, r.failed_connects, r.failure.empty() ? "" : ", mostly ",
                        r.failure.c_str(), r.right_pid, r.wrong_pid, r.no_process, r.missing,
                        static_cast<unsigned long long>(r.events_lost), whole ? "" : "  <- loss");
            std::fflush(stdout);
            results.push_back({{"asked_per_s", r.asked},
                               {"made_per_s", r.achieved},
                               {"connections", r.connections},
                               {"failed_connects", r.failed_connects},
                               {"failed_connects_mostly", r.failure},
                               {"right_pid", r.right_pid},
                               {"wrong_pid", r.wrong_pid},
                               {"no_process", r.no_process},
                               {"missing", r.missing},
                               {"events_lost", r.events_lost}});
        }
        fa::bench::merge_result(out_dir + "/results.json", "churn",
                                {{"seconds_per_rate", kSecondsPerRate}, {"rates", results}, {"loss_begins_at_per_s", loss_begins}});
    } catch (const std::exception& e) {
        std::fprintf(stderr, "flowattr_churn_bench: %s\n", e.what());
        return 1;
    }
    if (loss_begins) std::printf("loss begins at %d connections/s asked\n", loss_begins);
    else std::printf("no loss at any rate asked\n");
    return 0;
}
