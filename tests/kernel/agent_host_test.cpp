// The agent on a host as people run it: connections that half-close, processes that exit,
// interfaces that come and go, a table that fills up, no cgroup2 in view, a run that was
// killed. Each test provokes the situation for real and reads the agent's own output.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <grp.h>
#include <linux/capability.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <set>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>
#include <vector>

#include "agent/agent.h"
#include "agent/cli.h"
#include "agent/private_mount.h"
#include "agent/probe.h"
#include "kernel_env.h"
#include "test_netns.h"
#include "test_process.h"

namespace {

using namespace flowattr::agent;
using fa::test::Child;
using fa::test::report;
using nlohmann::json;

sockaddr_in ipv4(const char* addr, std::uint16_t port) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    inet_pton(AF_INET, addr, &a.sin_addr);
    return a;
}

std::uint16_t local_port(int s) {
    sockaddr_in a{};
    socklen_t len = sizeof(a);
    getsockname(s, reinterpret_cast<sockaddr*>(&a), &len);
    return ntohs(a.sin_port);
}

std::vector<json> json_lines(const std::string& text) {
    std::vector<json> out;
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) out.push_back(json::parse(line));
    return out;
}

// The lines of the report at exit: after the last interval's agent record.
std::vector<json> final_report(const std::vector<json>& lines) {
    std::size_t start = 0;
    for (std::size_t i = 0; i < lines.size(); i++)
        if (lines[i]["type"] == "agent" && !lines[i]["final"].get<bool>()) start = i + 1;
    return std::vector<json>(lines.begin() + long(start), lines.end());
}

bool is_flow(const json& j, const std::string& iface, int local, int remote) {
    return j["type"].get<std::string>().rfind("flow", 0) == 0 && j["iface"] == iface &&
           j["local"]["port"] == local && j["remote"]["port"] == remote;
}

// Agent::run on a thread of its own, its JSON collected until stop().
class RunningAgent {
public:
    explicit RunningAgent(const RunOptions& options) : agent_(options) {
        thread_ = std::thread([this] { agent_.run(out_, stop_); });
    }
    ~RunningAgent() { stop(); }
    std::vector<json> stop() {
        stop_.store(true);
        if (thread_.joinable()) thread_.join();
        return json_lines(out_.str());
    }

private:
    Agent agent_;
    std::ostringstream out_;
    std::atomic<bool> stop_{false};
    std::thread thread_;
};

class AgentOnAHost : public ::testing::Test {
protected:
    void SetUp() override {
        FA_REQUIRE_ROOT();
        topo_ = std::make_unique<fa::test::VethPair>(2, 2);
    }
    RunOptions options() const {
        RunOptions o;
        o.interfaces = {InterfaceSpec{topo_->client_if, topo_->client.path()},
                        InterfaceSpec{topo_->server_if, topo_->server.path()}};
        o.interval_s = 0.1;
        o.max_flows = fa::test::kTestMaxFlows;
        return o;
    }
    std::unique_ptr<fa::test::VethPair> topo_;
};

// The client sends and half-closes; the server goes quiet for several intervals, then
// answers and closes. One flow per side from the first packet to the last, each record
// naming its process; at exit the client is gone and says so, the server lives on.
TEST_F(AgentOnAHost, HalfClosedConnectionIsOneFlowToTheEnd) {
    RunningAgent agent(options());
    Child server("fa-hc-server", topo_->server.fd(), [&](int out) {
        int s = socket(AF_INET, SOCK_STREAM, 0);
        int one = 1;
        setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        sockaddr_in a = ipv4("10.231.0.2", 7101);
        if (bind(s, reinterpret_cast<sockaddr*>(&a), sizeof(a)) || listen(s, 1)) return 2;
        report(out, "ready");
        int c = accept(s, nullptr, nullptr);
        char buf[4096];
        long got = 0;
        ssize_t n;
        while ((n = read(c, buf, sizeof(buf))) > 0) got += n;
        usleep(600000);  // six intervals without a packet, the client's FIN already seen
        std::string answer(5000, 'a');
        if (write(c, answer.data(), answer.size()) != long(answer.size())) return 3;
        close(c);
        report(out, "got " + std::to_string(got));
        pause();  // alive until the test ends
        return 0;
    });
    ASSERT_EQ(server.read_line(), "ready");
    Child client("fa-hc-client", topo_->client.fd(), [&](int out) {
        int s = socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in a = ipv4("10.231.0.2", 7101);
        if (connect(s, reinterpret_cast<sockaddr*>(&a), sizeof(a))) return 2;
        report(out, "port " + std::to_string(local_port(s)));
        std::string data(1000, 'd');
        if (write(s, data.data(), data.size()) != long(data.size())) return 3;
        shutdown(s, SHUT_WR);
        char buf[4096];
        long got = 0;
        ssize_t n;
        while ((n = read(s, buf, sizeof(buf))) > 0) got += n;
        report(out, "got " + std::to_string(got));
        return 0;
    });
    const pid_t client_pid = client.pid(), server_pid = server.pid();
    std::string port_line = client.read_line();
    ASSERT_EQ(port_line.rfind("port ", 0), 0u);
    const int port = std::stoi(port_line.substr(5));
    EXPECT_EQ(client.read_line(), "got 5000");
    EXPECT_EQ(server.read_line(), "got 1000");
    EXPECT_EQ(client.wait(), 0);
    usleep(300000);  // the last ACK, and intervals that see the client gone
    std::vector<json> lines = agent.stop();

    for (const auto& [iface, local, remote, pid, comm] :
         {std::tuple{topo_->client_if, port, 7101, client_pid, "fa-hc-client"},
          std::tuple{topo_->server_if, 7101, port, server_pid, "fa-hc-server"}}) {
        SCOPED_TRACE(iface);
        int starts = 0, records = 0;
        for (const auto& j : lines) {
            if (!is_flow(j, iface, local, remote)) continue;
            records++;
            if (j["type"] == "flow_start") {
                // As of the packet that started it: the client's SYN, out on one end, in on the other.
                starts++;
                const char* syn_way = pid == client_pid ? "egress" : "ingress";
                const char* other_way = pid == client_pid ? "ingress" : "egress";
                EXPECT_EQ(j[syn_way]["packets"], 1) << j.dump();
                EXPECT_EQ(j[other_way]["packets"], 0) << j.dump();
                EXPECT_EQ(j["tcp_flags"], json::array({"SYN"})) << j.dump();
            }
            ASSERT_FALSE(j["process"].is_null()) << "identity lost mid-connection: " << j.dump();
            EXPECT_EQ(j["process"]["pid"], pid) << j.dump();
            EXPECT_EQ(j["process"]["comm"], comm) << j.dump();
        }
        EXPECT_EQ(starts, 1) << "the connection was split";
        EXPECT_GT(records, 2);
        int in_final = 0;
        for (const auto& j : final_report(lines)) {
            if (!is_flow(j, iface, local, remote)) continue;
            in_final++;
            EXPECT_EQ(j["ended"], true);
            EXPECT_EQ(j["process"]["alive"], pid == server_pid) << j.dump();
            EXPECT_FALSE(j["process"]["exe"].get<std::string>().empty()) << "an exited process keeps its exe";
            const char* received = pid == client_pid ? "ingress" : "egress";
            const char* sent = pid == client_pid ? "egress" : "ingress";
            EXPECT_GT(j[received]["bytes"].get<std::uint64_t>(), 5000u);
            EXPECT_GT(j[sent]["bytes"].get<std::uint64_t>(), 1000u);
        }
        EXPECT_EQ(in_final, 1) << "the final report lists every flow once";
    }
}

// Every flow still in the table is printed at exit, also those quiet in the last interval.
TEST_F(AgentOnAHost, FinalReportListsEveryFlowInTheTable) {
    RunningAgent agent(options());
    const int kSockets = 5;
    Child sender("fa-final-tx", topo_->client.fd(), [&](int out) {
        for (int i = 0; i < kSockets; i++) {
            int s = socket(AF_INET, SOCK_DGRAM, 0);
            sockaddr_in a = ipv4("10.231.0.2", std::uint16_t(7200 + i));
            sendto(s, "x", 1, 0, reinterpret_cast<sockaddr*>(&a), sizeof(a));
        }
        report(out, "sent");
        pause();
        return 0;
    });
    ASSERT_EQ(sender.read_line(), "sent");
    usleep(400000);  // several intervals in which nothing changes
    std::vector<json> lines = agent.stop();
    std::vector<json> last = final_report(lines);
    ASSERT_FALSE(last.empty());
    int flows = 0, ours = 0;
    for (const auto& j : last) {
        if (j["type"] == "agent") {
            EXPECT_EQ(j["final"], true);
            EXPECT_EQ(j["flows"].get<int>(), flows) << "the final report prints what the table holds";
        }
        if (j["type"] != "flow") continue;
        flows++;
        if (j["iface"] == topo_->client_if && j["proto"] == "udp" && j["process"]["comm"] == "fa-final-tx") ours++;
    }
    EXPECT_EQ(ours, kSockets);
}

// A watched interface deleted mid-run is reported once and the others are still served;
// created again under its name, it is attached again and its flows carry the name.
TEST_F(AgentOnAHost, InterfaceGoneAndBackIsReportedAndAttachedAgain) {
    fa::test::VethPair other(0, 0);  // the same interface names, in two other namespaces
    RunOptions o;
    o.interfaces = {InterfaceSpec{topo_->client_if, topo_->client.path()},
                    InterfaceSpec{other.client_if, other.client.path()}};
    o.max_flows = fa::test::kTestMaxFlows;
    Agent agent(o);
    EXPECT_TRUE(agent.refresh_interfaces().empty()) << "nothing changed yet";

    topo_->remove();
    std::vector<InterfaceChange> changes = agent.refresh_interfaces();
    ASSERT_EQ(changes.size(), 1u);
    EXPECT_EQ(changes[0].iface.name, topo_->client_if);
    EXPECT_EQ(changes[0].state, InterfaceChange::State::gone);
    EXPECT_EQ(changes[0].netns_inode, netns_inode_of(topo_->client.path()));
    EXPECT_TRUE(agent.refresh_interfaces().empty()) << "said once";

    auto send_one = [](const fa::test::NetNs& ns, std::uint16_t port) {
        Child tx("fa-back-tx", ns.fd(), [&](int) {
            int s = socket(AF_INET, SOCK_DGRAM, 0);
            sockaddr_in a = ipv4("10.231.0.2", port);
            return sendto(s, "y", 1, 0, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 1 ? 0 : 1;
        });
        return tx.wait();
    };
    EXPECT_EQ(send_one(other.client, 7301), 0);

    topo_->create(0, 0);  // the kernel picks the index again
    changes = agent.refresh_interfaces();
    ASSERT_EQ(changes.size(), 1u);
    EXPECT_EQ(changes[0].state, InterfaceChange::State::attached) << changes[0].error;
    EXPECT_EQ(send_one(topo_->client, 7302), 0);

    // The datagram to 7302 waits for ARP on the new link before the egress hook sees it.
    std::optional<FlowRecord> other_flow, back_flow;
    fa::test::wait_until([&] {
        for (const auto& f : agent.collect()) {
            if (f.key.proto != FA_PROTO_UDP) continue;
            if (f.key.remote_port == 7301) other_flow = f;
            if (f.key.remote_port == 7302) back_flow = f;
        }
        return other_flow && back_flow;
    });
    ASSERT_TRUE(other_flow) << "the interface that stayed was not served while the other was gone";
    EXPECT_EQ(other_flow->netns_inode, netns_inode_of(other.client.path()));
    ASSERT_TRUE(back_flow) << "the re-created interface was not attached again";
    EXPECT_EQ(back_flow->iface.name, topo_->client_if);
    EXPECT_EQ(back_flow->netns_inode, netns_inode_of(topo_->client.path()));
}

// A table smaller than the traffic, from many short-lived processes: the kernel's LRU drops
// flows silently; the agent counts every one it lost, and keeps the details of the processes
// whose flows the table still holds, not of every process it ever met.
TEST_F(AgentOnAHost, FullTableCountsEvictionsAndForgetsTheirProcesses) {
    RunOptions o = options();
    o.max_flows = 16;
    Agent agent(o);
    const int kProcesses = 20, kSocketsEach = 3;
    std::ostringstream printed;
    for (int p = 0; p < kProcesses; p++) {
        Child sender("fa-evict-tx", topo_->client.fd(), [&](int) {
            for (int i = 0; i < kSocketsEach; i++) {
                int s = socket(AF_INET, SOCK_DGRAM, 0);
                sockaddr_in a = ipv4("10.231.0.2", std::uint16_t(7400 + p * kSocketsEach + i));
                if (sendto(s, "z", 1, 0, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 1) return 1;
                close(s);
            }
            return 0;
        });
        ASSERT_EQ(sender.wait(), 0);
        while (agent.poll_events(0, &printed) > 0) {
        }
    }
    // Each datagram is a flow on each end: 120 flows through a table of 16, each printed as it
    // starts. They leave once ARP is answered; report intervals until the agent has seen them
    // all (or 5 s).
    const std::uint64_t kFlows = 2u * kProcesses * kSocketsEach;
    json summary;
    std::string report;
    fa::test::wait_until([&] {
        while (agent.poll_events(0, &printed) > 0) {
        }
        std::ostringstream out;
        agent.report_interval(out, false);
        report = out.str();
        for (const auto& j : json_lines(report))
            if (j["type"] == "agent") summary = j;
        return !summary.is_null() &&
               summary["flows"].get<std::uint64_t>() + summary["flows_evicted"].get<std::uint64_t>() >= kFlows;
    });
    ASSERT_FALSE(summary.is_null()) << report;
    const auto flows = summary["flows"].get<std::uint64_t>(), evicted = summary["flows_evicted"].get<std::uint64_t>();
    EXPECT_LE(flows, 16u);
    EXPECT_GE(flows + evicted, kFlows) << summary.dump();
    EXPECT_EQ(summary["events"]["lost"], 0) << summary.dump();

    std::set<long> senders;
    for (const auto& j : json_lines(printed.str()))
        if (j["type"] == "flow_start" && !j["process"].is_null() && j["process"]["comm"] == "fa-evict-tx")
            senders.insert(j["process"]["pid"].get<long>());
    EXPECT_EQ(senders.size(), std::size_t(kProcesses)) << "every sender's flows were printed with its process";
    // At most one process a flow in the table. Which flows the LRU kept is its own affair (the
    // server ends' and the port-unreachable replies' flows have no process): that a flow still in
    // the table keeps its process's details is HalfClosedConnectionIsOneFlowToTheEnd's exited
    // client, whose exe is still printed at exit.
    EXPECT_LE(agent.processes_known(), 16u) << "processes of flows long evicted are still kept";
}

// A report reads the table a batch at a time and drains the flow-event ring buffer after each
// batch: a million-flow report takes seconds, longer than connection churn takes to fill the
// ring. Thousands of flows start while the agent is not polling; its report alone handles
// their events, prints them among the report's own lines, and counts none of their flows
// as evicted.
TEST_F(AgentOnAHost, ReportDrainsTheRingBetweenBatchesOfTheTable) {
    RunOptions o = options();
    o.max_flows = 65536;  // room to spare: an LRU table may evict before it is full
    Agent agent(o);
    // One datagram first, so that ARP is answered before the burst, which would otherwise wait
    // in (and overflow) the neighbour queue.
    auto send_to_ports = [&](std::uint16_t first, int count) {
        Child sender("fa-burst", topo_->client.fd(), [&](int) {
            int s = socket(AF_INET, SOCK_DGRAM, 0);
            for (int i = 0; i < count; i++) {
                sockaddr_in a = ipv4("10.231.0.2", std::uint16_t(first + i));
                if (sendto(s, "b", 1, 0, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 1) return 1;
            }
            return 0;
        });
        return sender.wait();
    };
    ASSERT_EQ(send_to_ports(19999, 1), 0);
    ASSERT_TRUE(fa::test::wait_until([&] {
        agent.poll_events(0);
        return agent.counters().events >= 2;  // the client's flow and the server's
    })) << "the first datagram's flows never started";

    // A flow on each end per datagram: more than one batch (4096 at most) of the table read.
    const int kFlows = 2500;
    ASSERT_EQ(send_to_ports(20000, kFlows), 0);
    const std::uint64_t before = agent.counters().events;
    std::ostringstream out;
    agent.report_interval(out, false);
    EXPECT_GE(agent.counters().events - before, std::uint64_t(kFlows)) << "the report left the ring to fill";

    // Ten thousand lines: each one's type is read from its text (its last key: the keys of every
    // line are sorted, FlowJson.SameBytesAsTheNlohmannTree), only the agent's line is parsed.
    // Parsing them all was most of this test's time under TCG.
    std::istringstream lines(out.str());
    std::size_t i = 0, first_start = std::string::npos, last_flow = 0, starts = 0;
    json summary;
    const std::string type_key = "\"type\":\"";
    for (std::string line; std::getline(lines, line); i++) {
        const std::size_t at = line.rfind(type_key);
        ASSERT_NE(at, std::string::npos) << line;
        const std::size_t from = at + type_key.size();
        const std::string type = line.substr(from, line.find('"', from) - from);
        if (type == "flow_start") {
            first_start = std::min(first_start, i);
            starts++;
        }
        if (type == "flow") last_flow = i;
        if (type == "agent") summary = json::parse(line);
    }
    EXPECT_GE(starts, std::size_t(kFlows));
    EXPECT_LT(first_start, last_flow) << "events printed only after the whole table was read";
    ASSERT_FALSE(summary.is_null());
    EXPECT_GE(summary["flows"].get<std::uint64_t>(), std::uint64_t(kFlows));
    EXPECT_EQ(summary["flows_evicted"], 0) << summary.dump();
    EXPECT_EQ(summary["events"]["lost"], 0) << summary.dump();
}

// `ip netns exec` mounts a fresh /sys: on a hybrid host no cgroup2 is in view. The agent
// mounts a private one, says so, and leaves nothing mounted at exit.
TEST(AgentMounts, PrivateCgroup2WhenNoneIsVisible) {
    FA_REQUIRE_ROOT();
    if (find_cgroup2_mount().empty()) GTEST_SKIP() << "needs a cgroup v2 mount to hide";
    Child run("fa-no-cgroup", -1, [&](int out) {
        if (unshare(CLONE_NEWNS) != 0 || mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) return 10;
        for (std::string m; !(m = find_cgroup2_mount()).empty();)
            if (umount2(m.c_str(), MNT_DETACH) != 0) return 11;
        std::ostringstream o, e;
        int rc = run_flowattr_cli({"run", "--iface", "lo", "--duration", "0.3", "--interval", "0.1"}, o, e);
        report(out, "rc " + std::to_string(rc));
        std::istringstream err(e.str());
        for (std::string line; std::getline(err, line);)
            if (line.find("cgroup accounting") != std::string::npos) report(out, line);
        report(out, find_cgroup2_mount().empty() ? "unmounted" : "still mounted: " + find_cgroup2_mount());
        return 0;
    });
    EXPECT_EQ(run.read_line(30000), "rc 0");
    std::string status = run.read_line();
    EXPECT_NE(status.find(std::string("cgroup accounting: ") + kPrivateCgroupDir), std::string::npos) << status;
    EXPECT_NE(status.find("mounted privately"), std::string::npos) << status;
    EXPECT_EQ(run.read_line(), "unmounted");
    EXPECT_EQ(run.wait(), 0);
    std::ifstream mounts("/proc/self/mounts");
    std::string all((std::istreambuf_iterator<char>(mounts)), std::istreambuf_iterator<char>());
    EXPECT_EQ(all.find(kPrivateCgroupDir), std::string::npos) << "the private mount leaked into the test's namespace";
}

// Without the privileges the agent needs: exit 1 (not a usage error) and one line naming
// what is missing, before anything is loaded.
TEST(AgentPrivileges, UnprivilegedOrCapabilityLessRunExitsOneNamingWhatIsMissing) {
    FA_REQUIRE_ROOT();
    for (bool keep_root : {false, true}) {
        SCOPED_TRACE(keep_root ? "root without capabilities" : "uid 65534");
        Child run("fa-unpriv", -1, [&](int out) {
            if (keep_root) {
                __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
                __user_cap_data_struct none[2] = {};
                if (syscall(SYS_capset, &header, none) != 0) return 10;
            } else if (setgroups(0, nullptr) != 0 || setresgid(65534, 65534, 65534) != 0 ||
                       setresuid(65534, 65534, 65534) != 0) {
                return 11;
            }
            std::ostringstream o, e;
            int rc = run_flowattr_cli({"run", "--iface", "lo", "--duration", "0.1"}, o, e);
            std::string err = e.str();
            int lines = 0;
            for (char c : err) lines += c == '\n';
            report(out, "rc " + std::to_string(rc) + " lines " + std::to_string(lines) + " out " +
                            std::to_string(o.str().size()));
            report(out, err.substr(0, err.find('\n')));
            return 0;
        });
        EXPECT_EQ(run.read_line(), "rc 1 lines 1 out 0");
        std::string line = run.read_line();
        EXPECT_NE(line.find(keep_root ? "flowattr: missing " : "flowattr: needs root: missing "), std::string::npos)
            << line;
        EXPECT_NE(line.find("CAP_NET_ADMIN"), std::string::npos) << line;
        EXPECT_EQ(run.wait(), 0);
    }
}

}  // namespace
