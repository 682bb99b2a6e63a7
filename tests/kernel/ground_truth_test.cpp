// What a user does to trust the agent, as a test: real programs from Debian (python3's
// http.server, curl, socat) in two namespaces joined by a veth pair whose ends both have
// ifindex 2, a server older than the agent, rate-limited downloads over IPv4 and IPv6,
// short-lived clients, and `ss -tunap` snapshots taken during the transfers as the ground
// truth for who owns each socket. Skips, naming them, where the programs are missing (the
// matrix VMs have only busybox).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>
#include <tuple>
#include <vector>

#include "agent/agent.h"
#include "kernel_env.h"
#include "test_netns.h"
#include "test_process.h"

namespace {

using namespace flowattr::agent;
using fa::test::Child;
using nlohmann::json;

const char* const kPrograms[] = {"/usr/bin/python3", "/usr/bin/curl", "/usr/bin/socat", "/usr/bin/ss"};

// PROGRAM ARGS... run inside NS; its stdout comes back through read_line().
std::unique_ptr<Child> spawn(const fa::test::NetNs& ns, const std::vector<std::string>& argv) {
    return std::make_unique<Child>(argv[0], ns.fd(), [argv](int out) {
        dup2(out, STDOUT_FILENO);
        int null = open("/dev/null", O_WRONLY);
        dup2(null, STDERR_FILENO);
        std::vector<char*> args;
        for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
        args.push_back(nullptr);
        execv(args[0], args.data());
        return 127;
    });
}

// Who owns a socket, as `ss -tunap` says: (proto, local port, remote port) -> (pid, comm).
using SocketKey = std::tuple<std::string, int, int>;
using Owner = std::pair<int, std::string>;

int port_of(const std::string& endpoint) { return std::stoi(endpoint.substr(endpoint.rfind(':') + 1)); }

// Lines like: tcp ESTAB 0 0 10.231.0.1:41234 10.231.0.2:8000 users:(("curl",pid=812,fd=5))
void parse_ss(const std::string& line, std::map<SocketKey, Owner>& owners) {
    std::istringstream in(line);
    std::string netid, state, recvq, sendq, local, peer, users;
    if (!(in >> netid >> state >> recvq >> sendq >> local >> peer >> users)) return;
    auto name = users.find("((\""), pid = users.find("pid=");
    if (name == std::string::npos || pid == std::string::npos || peer.back() == '*') return;
    std::string comm = users.substr(name + 3, users.find('"', name + 3) - name - 3);
    owners[{netid, port_of(local), port_of(peer)}] = {std::stoi(users.substr(pid + 4)), comm};
}

void snapshot(const fa::test::NetNs& ns, std::map<SocketKey, Owner>& owners) {
    auto ss = spawn(ns, {"/usr/bin/ss", "-tunapH"});
    for (std::string line; !(line = ss->read_line(5000)).empty();) parse_ss(line, owners);
    ss->wait();
}

// TCP segments the namespace's stack retransmitted so far (RetransSegs of /proc/net/snmp,
// which answers for the reading thread's namespace).
std::uint64_t retransmitted_segments(const fa::test::NetNs& ns) {
    std::uint64_t segments = 0;
    ns.enter([&] {
        std::ifstream snmp("/proc/thread-self/net/snmp");
        std::string names, values;
        for (std::string line; std::getline(snmp, line);) {
            if (line.rfind("Tcp: ", 0) != 0) continue;
            if (names.empty()) names = line;
            else values = line;
        }
        std::istringstream n(names), v(values);
        for (std::string name, value; n >> name && v >> value;)
            if (name == "RetransSegs") segments = std::stoull(value);
    });
    return segments;
}

// A scratch directory with the files the server offers; removed at the end.
struct WebRoot {
    std::string dir;
    WebRoot() {
        char tmpl[] = "/tmp/fa-ground-truth-XXXXXX";
        dir = mkdtemp(tmpl);
        std::ofstream(dir + "/big.bin") << std::string(2 << 20, 'b');
        std::ofstream(dir + "/small.txt") << std::string(1000, 's');
    }
    ~WebRoot() {
        unlink((dir + "/big.bin").c_str());
        unlink((dir + "/small.txt").c_str());
        rmdir(dir.c_str());
    }
};

TEST(GroundTruth, RealProgramsAttributedAsSsSees) {
    FA_REQUIRE_ROOT();
    for (const char* p : kPrograms)
        if (access(p, X_OK) != 0) GTEST_SKIP() << "needs " << p << " (installed by `make deps` on the host)";
    fa::test::VethPair topo(2, 2);
    WebRoot root;
    ASSERT_EQ(retransmitted_segments(topo.client) + retransmitted_segments(topo.server), 0u) << "fresh namespaces";
    // The server's send buffer at most 64 KiB (a namespace's own tcp_wmem; IPv6 uses it too): with
    // the default 4 MiB, http.server can hand a whole 2 MiB file to its socket at once and close it
    // while curl still reads, and a closed socket has no process for ss (one clean-clone run under
    // load compared 5 flows, under the 6 asked for below). Now it writes for as long as curl reads.
    topo.server.enter([] { std::ofstream("/proc/sys/net/ipv4/tcp_wmem") << "4096 16384 65536"; });

    // Older than the agent: found by the start-up socket walk.
    auto http4 = spawn(topo.server, {"/usr/bin/python3", "-u", "-m", "http.server", "--bind", "10.231.0.2",
                                     "--directory", root.dir, "8000"});
    auto http6 = spawn(topo.server, {"/usr/bin/python3", "-u", "-m", "http.server", "--bind", "fd00:fa::2",
                                     "--directory", root.dir, "8001"});
    ASSERT_NE(http4->read_line(20000).find("Serving HTTP"), std::string::npos);
    ASSERT_NE(http6->read_line(20000).find("Serving HTTP"), std::string::npos);

    RunOptions options;
    options.interfaces = {InterfaceSpec{topo.client_if, topo.client.path()},
                          InterfaceSpec{topo.server_if, topo.server.path()}};
    options.interval_s = 0.5;
    Agent agent(options);
    std::ostringstream out;
    std::atomic<bool> stop{false};
    std::thread reporter([&] { agent.run(out, stop); });

    // Younger than the agent: stamped when its socket is created.
    auto sink = spawn(topo.server, {"/usr/bin/socat", "-u", "TCP-LISTEN:9001,bind=10.231.0.2,reuseaddr", "OPEN:/dev/null"});
    usleep(300000);

    // Rate-limited downloads, sampled by ss from before they start until they are done
    // (curl's limit is an average: a download may be over in half a second).
    std::map<SocketKey, Owner> client_owners, server_owners;
    std::atomic<bool> downloads_done{false};
    std::thread sampler([&] {
        while (!downloads_done.load()) {
            snapshot(topo.client, client_owners);
            snapshot(topo.server, server_owners);
        }
    });
    std::vector<std::unique_ptr<Child>> downloads;
    for (const char* url : {"http://10.231.0.2:8000/big.bin", "http://10.231.0.2:8000/big.bin",
                            "http://[fd00:fa::2]:8001/big.bin"})
        downloads.push_back(spawn(topo.client, {"/usr/bin/curl", "-sg", "-o", "/dev/null", "--limit-rate", "1M", "-w",
                                                "%{local_port} %{size_download}\n", url}));
    struct Transfer {
        int port;
        long bytes;
        pid_t pid;
        int server_port;
        std::string server_comm;
        pid_t server_pid;
    };
    std::vector<Transfer> transfers;
    const pid_t http_pids[] = {http4->pid(), http4->pid(), http6->pid()};
    for (std::size_t i = 0; i < downloads.size(); i++) {
        pid_t pid = downloads[i]->pid();
        std::string line = downloads[i]->read_line(30000);
        ASSERT_FALSE(line.empty()) << "curl " << i << " said nothing";
        EXPECT_EQ(downloads[i]->wait(), 0);
        transfers.push_back({std::stoi(line), std::stol(line.substr(line.find(' ') + 1)), pid, i == 2 ? 8001 : 8000,
                             "python3", http_pids[i]});
        EXPECT_EQ(transfers.back().bytes, 2 << 20);
    }
    downloads_done.store(true);
    sampler.join();
    // Short-lived clients, one after the other.
    for (int i = 0; i < 4; i++) {
        auto curl = spawn(topo.client, {"/usr/bin/curl", "-s", "-o", "/dev/null", "-w", "%{local_port} %{size_download}\n",
                                        "http://10.231.0.2:8000/small.txt"});
        pid_t pid = curl->pid();
        std::string line = curl->read_line(20000);
        ASSERT_FALSE(line.empty());
        EXPECT_EQ(curl->wait(), 0);
        transfers.push_back({std::stoi(line), std::stol(line.substr(line.find(' ') + 1)), pid, 8000, "python3",
                             http4->pid()});
    }
    // socat to socat: the client's port is read from the flows below.
    auto source = spawn(topo.client, {"/usr/bin/socat", "-u", "OPEN:" + root.dir + "/big.bin", "TCP:10.231.0.2:9001"});
    const pid_t source_pid = source->pid();
    EXPECT_EQ(source->wait(30000), 0);
    usleep(1200000);  // the last ACKs, and two intervals that see the clients gone
    stop.store(true);
    reporter.join();
    // A rate-limited reader lets its receive queue fill, and the kernel may prune it: the
    // sender's retransmissions are real bytes on the wire, allowed for below at a full
    // segment each (this stack's MSS 1448 plus headers).
    const std::uint64_t retransmitted =
        retransmitted_segments(topo.client) + retransmitted_segments(topo.server);
    const std::uint64_t retransmitted_bytes = retransmitted * (1448 + 14 + 40 + 60);
    std::printf("[ truth    ] %llu TCP segments retransmitted in all\n", static_cast<unsigned long long>(retransmitted));

    std::vector<json> lines;
    std::istringstream in(out.str());
    for (std::string l; std::getline(in, l);) lines.push_back(json::parse(l));
    std::size_t final_start = 0;
    for (std::size_t i = 0; i < lines.size(); i++)
        if (lines[i]["type"] == "agent" && !lines[i]["final"].get<bool>()) final_start = i + 1;

    // Against ss: every flow whose socket ss saw names the same pid and comm.
    int compared = 0, wrong = 0;
    for (const auto& j : lines) {
        if (j["type"].get<std::string>().rfind("flow", 0) != 0 || j["process"].is_null()) continue;
        const auto& owners = j["iface"] == topo.client_if ? client_owners : server_owners;
        auto it = owners.find({j["proto"].get<std::string>(), j["local"]["port"].get<int>(), j["remote"]["port"].get<int>()});
        if (it == owners.end()) continue;
        compared++;
        if (j["process"]["pid"] != it->second.first || j["process"]["comm"] != it->second.second) {
            wrong++;
            ADD_FAILURE() << "ss says " << it->second.second << "[" << it->second.first << "], flowattr " << j.dump();
        }
    }
    std::printf("[ truth    ] %d flow records checked against ss, %d wrong\n", compared, wrong);
    EXPECT_GE(compared, 6) << "ss caught too few of the downloads to compare";

    // Against what the programs themselves know: each transfer once per side, whole, by its
    // owner; at exit the clients are gone and the servers alive.
    int socat_port = 0;
    for (const auto& j : lines)
        if (j["iface"] == topo.client_if && j["proto"] == "tcp" && j["remote"]["port"] == 9001) socat_port = j["local"]["port"];
    ASSERT_NE(socat_port, 0) << "no flow for the socat transfer";
    transfers.push_back({socat_port, 2 << 20, source_pid, 9001, "socat", sink->pid()});
    for (const Transfer& t : transfers) {
        SCOPED_TRACE("client port " + std::to_string(t.port) + " to " + std::to_string(t.server_port));
        for (const auto& [iface, local, remote, pid, comm] :
             {std::tuple{topo.client_if, t.port, t.server_port, t.pid, std::string(t.server_port == 9001 ? "socat" : "curl")},
              std::tuple{topo.server_if, t.server_port, t.port, t.server_pid, t.server_comm}}) {
            int starts = 0, finals = 0;
            for (std::size_t i = 0; i < lines.size(); i++) {
                const json& j = lines[i];
                if (j["type"].get<std::string>().rfind("flow", 0) != 0 || j["iface"] != iface ||
                    j["local"]["port"] != local || j["remote"]["port"] != remote)
                    continue;
                ASSERT_FALSE(j["process"].is_null()) << iface << ": no process in " << j.dump();
                EXPECT_EQ(j["process"]["pid"], pid) << j.dump();
                EXPECT_EQ(j["process"]["comm"], comm) << j.dump();
                starts += j["type"] == "flow_start";
                if (i < final_start) continue;
                finals++;
                EXPECT_EQ(j["ended"], true) << j.dump();
                // The HTTP servers serve on; curl and both socats have exited.
                EXPECT_EQ(j["process"]["alive"], comm == "python3") << j.dump();
                // The payload plus headers: Ethernet, IP, TCP with options, and the HTTP
                // response head; above that, what was retransmitted.
                const bool receiving = (iface == topo.client_if) == (t.server_port != 9001);
                const json& dir = j[receiving ? "ingress" : "egress"];
                const auto bytes = dir["bytes"].get<std::uint64_t>(), packets = dir["packets"].get<std::uint64_t>();
                EXPECT_GE(bytes, std::uint64_t(t.bytes) + packets * (14 + 20 + 20)) << j.dump();
                EXPECT_LE(bytes, std::uint64_t(t.bytes) + packets * (14 + 40 + 60) + 1024 + retransmitted_bytes)
                    << j.dump();
            }
            EXPECT_EQ(starts, 1) << iface << ": the connection is not exactly one flow";
            EXPECT_EQ(finals, 1) << iface << ": not in the final report once";
        }
    }
}

}  // namespace
