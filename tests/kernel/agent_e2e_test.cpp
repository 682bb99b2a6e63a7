// End to end on this kernel: two network namespaces joined by a veth pair, the agent watching
// both ends, real processes talking TCP and UDP over IPv4 and IPv6. Every flow must carry the
// pid and comm of the process that owns its socket, and byte counts equal to what was sent
// plus headers.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

#include "agent/agent.h"
#include "agent/probe.h"
#include "kernel_env.h"
#include "test_netns.h"
#include "test_process.h"

namespace {

using namespace flowattr::agent;
using fa::test::Child;
using fa::test::report;

struct Family {
    int af;
    std::uint8_t fa_family;
    const char* client_addr;
    const char* server_addr;
    unsigned l3_header;  // fixed IP header length of our packets
};

void PrintTo(const Family& f, std::ostream* os) { *os << (f.af == AF_INET ? "IPv4" : "IPv6"); }

const Family kIpv4{AF_INET, FA_AF_INET, "10.231.0.1", "10.231.0.2", 20};
const Family kIpv6{AF_INET6, FA_AF_INET6, "fd00:fa::1", "fd00:fa::2", 40};

sockaddr_storage make_addr(const Family& f, const char* addr, std::uint16_t port, socklen_t* len) {
    sockaddr_storage ss{};
    if (f.af == AF_INET) {
        auto* a = reinterpret_cast<sockaddr_in*>(&ss);
        a->sin_family = AF_INET;
        a->sin_port = htons(port);
        inet_pton(AF_INET, addr, &a->sin_addr);
        *len = sizeof(sockaddr_in);
    } else {
        auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
        a->sin6_family = AF_INET6;
        a->sin6_port = htons(port);
        inet_pton(AF_INET6, addr, &a->sin6_addr);
        *len = sizeof(sockaddr_in6);
    }
    return ss;
}

// Listens before returning "ready", accepts one connection, reads to EOF, answers "OK",
// reports the byte count.
int tcp_server(const Family& f, std::uint16_t port, int out) {
    int s = socket(f.af, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    socklen_t len;
    sockaddr_storage a = make_addr(f, f.server_addr, port, &len);
    if (bind(s, reinterpret_cast<sockaddr*>(&a), len) || listen(s, 4)) return 2;
    report(out, "ready");
    int c = accept(s, nullptr, nullptr);
    if (c < 0) return 3;
    char buf[65536];
    long total = 0;
    ssize_t n;
    while ((n = read(c, buf, sizeof(buf))) > 0) total += n;
    if (write(c, "OK", 2) != 2) return 4;
    close(c);
    report(out, "count " + std::to_string(total));
    return 0;
}

int tcp_client(const Family& f, std::uint16_t port, long bytes, int out) {
    int s = socket(f.af, SOCK_STREAM, 0);
    socklen_t len;
    sockaddr_storage a = make_addr(f, f.server_addr, port, &len);
    if (connect(s, reinterpret_cast<sockaddr*>(&a), len)) return 2;
    sockaddr_storage local{};
    socklen_t local_len = sizeof(local);
    getsockname(s, reinterpret_cast<sockaddr*>(&local), &local_len);
    std::uint16_t local_port = ntohs(f.af == AF_INET ? reinterpret_cast<sockaddr_in*>(&local)->sin_port
                                                     : reinterpret_cast<sockaddr_in6*>(&local)->sin6_port);
    std::string payload(std::size_t(bytes), 'x');
    if (write(s, payload.data(), payload.size()) != bytes) return 3;
    shutdown(s, SHUT_WR);
    char reply[2];
    if (read(s, reply, 2) != 2) return 4;
    close(s);
    report(out, "port " + std::to_string(local_port));
    return 0;
}

int udp_receiver(const Family& f, std::uint16_t port, int out) {
    int s = socket(f.af, SOCK_DGRAM, 0);
    socklen_t len;
    sockaddr_storage a = make_addr(f, f.server_addr, port, &len);
    if (bind(s, reinterpret_cast<sockaddr*>(&a), len)) return 2;
    report(out, "ready");
    char buf[65536];
    ssize_t n = recv(s, buf, sizeof(buf), 0);
    report(out, "count " + std::to_string(n));
    return 0;
}

const FlowRecord* find_flow(const std::vector<FlowRecord>& flows, const std::string& iface, std::uint8_t proto,
                            std::uint16_t local_port, std::uint16_t remote_port) {
    for (const auto& f : flows)
        if (f.iface.name == iface && f.key.proto == proto && f.key.local_port == local_port && f.key.remote_port == remote_port)
            return &f;
    return nullptr;
}

std::string comm_of(const FlowRecord& f) {
    return std::string(f.stats.identity.comm, strnlen(f.stats.identity.comm, sizeof(f.stats.identity.comm)));
}

long count_of(const std::string& line) { return line.rfind("count ", 0) == 0 ? std::stol(line.substr(6)) : -1; }

bool write_sysctl(const std::string& name, const std::string& value) {
    std::ofstream f("/proc/sys/" + name);
    f << value;
    f.flush();
    return bool(f);
}

class AgentEndToEnd : public ::testing::TestWithParam<Family> {
protected:
    void SetUp() override {
        FA_REQUIRE_ROOT();
        if (find_cgroup2_mount().empty()) GTEST_SKIP() << "needs a cgroup v2 mount";
        // Both ends ifindex 2, as a veth pair between two fresh namespaces (or a container's)
        // has them: the agent tells the interfaces apart by namespace.
        topo_ = std::make_unique<fa::test::VethPair>(2, 2);
        // The client offers no TCP timestamps, SACK or window scaling, so every segment in
        // both directions has a bare 20-byte TCP header and the handshake only an MSS
        // option: byte counts can then be checked exactly.
        topo_->client.enter([&] {
            for (const char* knob : {"net/ipv4/tcp_timestamps", "net/ipv4/tcp_sack", "net/ipv4/tcp_window_scaling"})
                ASSERT_TRUE(write_sysctl(knob, "0")) << knob;
        });
    }

    std::unique_ptr<Agent> start_agent() {
        RunOptions o;
        o.interfaces = {InterfaceSpec{topo_->client_if, topo_->client.path()},
                        InterfaceSpec{topo_->server_if, topo_->server.path()}};
        o.max_flows = fa::test::kTestMaxFlows;
        return std::make_unique<Agent>(o);
    }

    std::unique_ptr<fa::test::VethPair> topo_;
};

TEST_P(AgentEndToEnd, TcpAndUdpAttributedOnBothEnds) {
    const Family f = GetParam();
    // Opened before the agent exists: attributed only through the start-up socket walk.
    Child old_server("fa-old-srv", topo_->server.fd(), [&](int out) { return tcp_server(f, 7001, out); });
    ASSERT_EQ(old_server.read_line(), "ready");

    std::unique_ptr<Agent> agent = start_agent();
    const AgentStatus& status = agent->status();
    EXPECT_TRUE(status.identity.hook_fired) << agent->status_text();
    std::printf("[ agent    ] %s", agent->status_text().c_str());

    Child new_server("fa-new-srv", topo_->server.fd(), [&](int out) { return tcp_server(f, 7002, out); });
    ASSERT_EQ(new_server.read_line(), "ready");
    Child udp_server("fa-udp-srv", topo_->server.fd(), [&](int out) { return udp_receiver(f, 7003, out); });
    ASSERT_EQ(udp_server.read_line(), "ready");

    const long kOldBytes = 3000, kNewBytes = 20000, kUdpBytes = 1000;
    Child client_old("fa-client-old", topo_->client.fd(), [&](int out) { return tcp_client(f, 7001, kOldBytes, out); });
    Child client_new("fa-client-new", topo_->client.fd(), [&](int out) { return tcp_client(f, 7002, kNewBytes, out); });
    const pid_t old_client_pid = client_old.pid(), new_client_pid = client_new.pid();  // wait() forgets them
    std::string old_port = client_old.read_line(), new_port = client_new.read_line();
    ASSERT_EQ(old_port.rfind("port ", 0), 0u);
    ASSERT_EQ(new_port.rfind("port ", 0), 0u);
    EXPECT_EQ(count_of(old_server.read_line()), kOldBytes);
    EXPECT_EQ(count_of(new_server.read_line()), kNewBytes);

    // The parent creates the UDP socket; its forked child sends on the inherited socket.
    // A socket belongs to the process that created it, so the parent is the owner.
    Child parent("fa-parent", topo_->client.fd(), [&](int out) {
        int s = socket(f.af, SOCK_DGRAM, 0);
        socklen_t len;
        sockaddr_storage a = make_addr(f, f.server_addr, 7003, &len);
        if (connect(s, reinterpret_cast<sockaddr*>(&a), len)) return 2;
        sockaddr_storage local{};
        socklen_t local_len = sizeof(local);
        getsockname(s, reinterpret_cast<sockaddr*>(&local), &local_len);
        std::uint16_t port = ntohs(f.af == AF_INET ? reinterpret_cast<sockaddr_in*>(&local)->sin_port
                                                   : reinterpret_cast<sockaddr_in6*>(&local)->sin6_port);
        report(out, "port " + std::to_string(port) + " pid " + std::to_string(getpid()));
        pid_t child = fork();
        if (child == 0) {
            prctl(PR_SET_NAME, "fa-child");
            std::string payload(kUdpBytes, 'u');
            _exit(send(s, payload.data(), payload.size(), 0) == kUdpBytes ? 0 : 1);
        }
        int st = 0;
        waitpid(child, &st, 0);
        return WIFEXITED(st) ? WEXITSTATUS(st) : 9;
    });
    std::string parent_line = parent.read_line();
    EXPECT_EQ(count_of(udp_server.read_line()), kUdpBytes);
    EXPECT_EQ(parent.wait(), 0);
    EXPECT_EQ(client_old.wait(), 0);
    EXPECT_EQ(client_new.wait(), 0);

    // The last FIN and ACK may still be on their way through the peer's backlog: read the
    // table until both connections are closed and each end has counted what the other sent
    // (or 5 s), then check everything.
    auto port_of = [](const std::string& line) { return std::uint16_t(std::stoi(line.substr(5))); };
    std::vector<FlowRecord> flows;
    fa::test::wait_until([&] {
        flows = agent->collect();
        for (const std::string* port_line : {&old_port, &new_port}) {
            const std::uint16_t client_port = port_of(*port_line), server_port = port_line == &old_port ? 7001 : 7002;
            const FlowRecord* c = find_flow(flows, topo_->client_if, FA_PROTO_TCP, client_port, server_port);
            const FlowRecord* s = find_flow(flows, topo_->server_if, FA_PROTO_TCP, server_port, client_port);
            if (!c || !s || !c->stats.ended || c->stats.packets[FA_DIR_EGRESS] != s->stats.packets[FA_DIR_INGRESS] ||
                c->stats.packets[FA_DIR_INGRESS] != s->stats.packets[FA_DIR_EGRESS])
                return false;
        }
        return true;
    });
    const unsigned l2l3 = 14 + f.l3_header;

    struct Expect {
        const char* name;
        std::uint16_t client_port, server_port;
        long bytes;
        pid_t client_pid, server_pid;
        const char* client_comm;
        const char* server_comm;
        std::vector<std::uint32_t> server_sources;  // where the server's identity may come from
    };
    for (const Expect& e : {Expect{"pre-existing server", port_of(old_port), 7001, kOldBytes, old_client_pid,
                                   old_server.pid(), "fa-client-old", "fa-old-srv", {FA_ID_TASK_ITER, FA_ID_PROC_WALK}},
                            Expect{"new server", port_of(new_port), 7002, kNewBytes, new_client_pid, new_server.pid(),
                                   "fa-client-new", "fa-new-srv", {FA_ID_LSM, FA_ID_SOCK_CREATE}}}) {
        SCOPED_TRACE(e.name);
        const FlowRecord* c = find_flow(flows, topo_->client_if, FA_PROTO_TCP, e.client_port, e.server_port);
        const FlowRecord* s = find_flow(flows, topo_->server_if, FA_PROTO_TCP, e.server_port, e.client_port);
        ASSERT_TRUE(c) << "no client-side flow";
        ASSERT_TRUE(s) << "no server-side flow";
        EXPECT_EQ(c->key.ifindex, 2u);
        EXPECT_EQ(s->key.ifindex, 2u);
        EXPECT_EQ(c->netns_inode, netns_inode_of(topo_->client.path()));
        EXPECT_EQ(s->netns_inode, netns_inode_of(topo_->server.path()));
        EXPECT_EQ(c->key.family, f.fa_family);
        EXPECT_EQ(comm_of(*c), e.client_comm);
        EXPECT_EQ(c->stats.identity.tgid, std::uint32_t(e.client_pid));
        EXPECT_EQ(comm_of(*s), e.server_comm);
        EXPECT_EQ(s->stats.identity.tgid, std::uint32_t(e.server_pid));
        EXPECT_NE(std::find(e.server_sources.begin(), e.server_sources.end(), s->stats.identity.source),
                  e.server_sources.end())
            << "identity source " << s->stats.identity.source;
        // What left the client is what reached the server, packet for packet.
        EXPECT_EQ(c->stats.packets[FA_DIR_EGRESS], s->stats.packets[FA_DIR_INGRESS]);
        EXPECT_EQ(c->stats.bytes[FA_DIR_EGRESS], s->stats.bytes[FA_DIR_INGRESS]);
        EXPECT_EQ(c->stats.bytes[FA_DIR_INGRESS], s->stats.bytes[FA_DIR_EGRESS]);
        // Exactly the payload plus one set of headers per packet (per skb: a GSO skb carries
        // one), L2 + L3 + 20 bytes of TCP, and the 4-byte MSS option of the handshake
        // packet each way. The server answers "OK".
        const std::uint64_t kMssOption = 4, kTcp = 20;
        EXPECT_EQ(c->stats.bytes[FA_DIR_EGRESS],
                  std::uint64_t(e.bytes) + c->stats.packets[FA_DIR_EGRESS] * (l2l3 + kTcp) + kMssOption);
        EXPECT_EQ(c->stats.bytes[FA_DIR_INGRESS], 2 + c->stats.packets[FA_DIR_INGRESS] * (l2l3 + kTcp) + kMssOption);
        EXPECT_TRUE(c->stats.tcp_flags & 0x02) << "SYN not seen";
        EXPECT_TRUE(c->stats.ended) << "the connection closed both ways";
        EXPECT_TRUE(c->stats.fin_seen[FA_DIR_INGRESS] && c->stats.fin_seen[FA_DIR_EGRESS]) << "a FIN each way";
    }

    const FlowRecord* udp = find_flow(flows, topo_->client_if, FA_PROTO_UDP, port_of(parent_line), 7003);
    ASSERT_TRUE(udp) << "no UDP flow for the inherited socket";
    EXPECT_EQ(comm_of(*udp), "fa-parent");
    EXPECT_EQ(udp->stats.identity.tgid, std::uint32_t(std::stoi(parent_line.substr(parent_line.find("pid ") + 4))));
    EXPECT_EQ(udp->stats.packets[FA_DIR_EGRESS], 1u);
    EXPECT_EQ(udp->stats.bytes[FA_DIR_EGRESS], std::uint64_t(kUdpBytes + 8 + l2l3));
    const FlowRecord* udp_server_side = find_flow(flows, topo_->server_if, FA_PROTO_UDP, 7003, port_of(parent_line));
    ASSERT_TRUE(udp_server_side);
    EXPECT_EQ(comm_of(*udp_server_side), "fa-udp-srv");
    EXPECT_EQ(udp_server_side->stats.identity.tgid, std::uint32_t(udp_server.pid()));
    EXPECT_EQ(udp_server_side->stats.bytes[FA_DIR_INGRESS], std::uint64_t(kUdpBytes + 8 + l2l3));
}

INSTANTIATE_TEST_SUITE_P(Families, AgentEndToEnd, ::testing::Values(kIpv4, kIpv6),
                         [](const auto& info) { return info.param.af == AF_INET ? "IPv4" : "IPv6"; });

}  // namespace
