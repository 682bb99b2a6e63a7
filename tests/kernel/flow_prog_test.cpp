// flow.bpf.o (and the identity objects it reads) run with BPF_PROG_TEST_RUN on crafted
// frames: the exact flow-table contents, counters and ring-buffer events are asserted.
// Only the classic tc pair is loaded: it runs the same handler as the TCX pair and
// loads on every kernel, and the entry point alone decides the direction.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "agent/flow.h"
#include "agent/libbpf_support.h"
#include "agent/probe.h"
#include "agent/identity.h"
#include "agent/task_sockets.h"
#include "agent/proc_sockets.h"
#include "agent/procfs.h"
#include "common/clock.h"
#include "common/error.h"
#include "common/unique_fd.h"
#include "counter.skel.h"
#include "flow.skel.h"
#include "flowattr.h"
#include "identity.skel.h"
#include "kernel_env.h"
#include "packet_builder.h"

namespace {

using namespace fa::test;
using flowattr::agent::Skeleton;

constexpr int kTcActUnspec = -1;

std::uint32_t lo_ifindex() { return if_nametoindex("lo"); }

// The expected key, written field by field rather than through fa_flow_key_init(),
// so that the normalisation itself is under test.
template <std::size_t N>
fa_flow_key make_key(std::uint8_t proto, const std::array<std::uint8_t, N>& local,
                     std::uint16_t local_port, const std::array<std::uint8_t, N>& remote,
                     std::uint16_t remote_port) {
    fa_flow_key key{};
    key.ifindex = lo_ifindex();
    key.family = N == 4 ? FA_AF_INET : FA_AF_INET6;
    key.proto = proto;
    key.local_port = local_port;
    key.remote_port = remote_port;
    std::memcpy(key.local_addr, local.data(), N);
    std::memcpy(key.remote_addr, remote.data(), N);
    return key;
}

bool same_key(const fa_flow_key& a, const fa_flow_key& b) { return std::memcmp(&a, &b, sizeof(a)) == 0; }

std::string describe(const fa_flow_key& k) {
    return "ifindex=" + std::to_string(k.ifindex) + " family=" + std::to_string(k.family) +
           " proto=" + std::to_string(k.proto) + " local_port=" + std::to_string(k.local_port) +
           " remote_port=" + std::to_string(k.remote_port);
}

std::string self_comm() {
    std::ifstream in("/proc/self/comm");
    std::string comm;
    std::getline(in, comm);
    return comm;
}

// Every slot of a per-CPU counter array of FA_CNT_MAX slots, each summed over the CPUs.
std::array<std::uint64_t, FA_CNT_MAX> read_counters(int map_fd) {
    std::array<std::uint64_t, FA_CNT_MAX> sums{};
    for (std::uint32_t i = 0; i < FA_CNT_MAX; i++) sums[i] = flowattr::agent::sum_percpu_counter(map_fd, i);
    return sums;
}

// flow.bpf.o is loaded once per test suite and its tests share it, each starting from an
// empty flow table, zeroed counters and an empty ring buffer: in a TCG guest the load was
// about 80 ms of a 100 ms test, and kmatrix's /init runs a suite's tests in one process
// (src/guest/test_marker.h). Run one by one (ctest), each test loads its own.
class FlowProgTest : public ::testing::Test {
protected:
    static void TearDownTestSuite() {
        shared_.reset();
        shared_suite_.clear();
    }

    void SetUp() override {
        FA_REQUIRE_ROOT();
        const std::string suite = ::testing::UnitTest::GetInstance()->current_test_suite()->name();
        if (shared_ && shared_suite_ == suite) {
            skel_ = shared_.get();
            empty_object();
            return;
        }
        TearDownTestSuite();
        Skeleton<flow_bpf> skel(flow_bpf__open());
        ASSERT_NE(skel, nullptr) << "open flow.bpf.o: " << std::strerror(errno);
        bpf_program__set_autoload(skel->progs.fa_tcx_ingress, false);
        bpf_program__set_autoload(skel->progs.fa_tcx_egress, false);
        configure(skel.get());
        const int err = flow_bpf__load(skel.get());
        // Our own programs on a kernel we support: a refusal is a failure, not a skip.
        ASSERT_EQ(err, 0) << "tc programs of flow.bpf.o do not load: " << std::strerror(-err);
        shared_ = std::move(skel);
        shared_suite_ = suite;
        skel_ = shared_.get();
    }

    // What the suite's earlier tests left: their flows, counters and unread events.
    void empty_object() {
        const int flows_fd = bpf_map__fd(skel_->maps.fa_flows);
        for (const auto& f : flows()) ASSERT_EQ(bpf_map_delete_elem(flows_fd, &f.key), 0) << std::strerror(errno);
        ASSERT_TRUE(flows().empty());
        const std::vector<std::uint64_t> zeros(std::size_t(libbpf_num_possible_cpus()), 0);
        for (std::uint32_t i = 0; i < FA_CNT_MAX; i++)
            ASSERT_EQ(bpf_map_update_elem(bpf_map__fd(skel_->maps.fa_flow_counters), &i, zeros.data(), BPF_ANY), 0)
                << std::strerror(errno);
        ring_buffer* rb = ring_buffer__new(bpf_map__fd(skel_->maps.fa_events),
                                           [](void*, void*, std::size_t) { return 0; }, nullptr, nullptr);
        ASSERT_NE(rb, nullptr) << std::strerror(errno);
        const int consumed = ring_buffer__consume(rb);
        ring_buffer__free(rb);
        ASSERT_GE(consumed, 0);
    }

    // Hook for fixtures that change the object before load.
    virtual void configure(flow_bpf*) {}

    int run(bpf_program* prog, const std::vector<std::uint8_t>& frame) {
        int retval = 0;
        EXPECT_TRUE(try_run(prog, frame, &retval)) << "kernel refused a " << frame.size() << "-byte frame";
        return retval;
    }

    // Recent kernels' PROG_TEST_RUN refuses (EINVAL) frames whose IP header is cut
    // short before any program sees them; older ones run every frame of 14+ bytes.
    // false: refused.
    bool try_run(bpf_program* prog, const std::vector<std::uint8_t>& frame, int* retval) {
        LIBBPF_OPTS(bpf_test_run_opts, opts);
        opts.data_in = frame.data();
        opts.data_size_in = static_cast<std::uint32_t>(frame.size());
        opts.repeat = 1;
        const int err = bpf_prog_test_run_opts(bpf_program__fd(prog), &opts);
        if (err == -EINVAL) return false;
        EXPECT_EQ(err, 0) << "test run of " << frame.size() << " bytes: " << std::strerror(errno);
        *retval = static_cast<int>(opts.retval);
        return true;
    }
    int ingress(const std::vector<std::uint8_t>& frame) { return run(skel_->progs.fa_tc_ingress, frame); }
    int egress(const std::vector<std::uint8_t>& frame) { return run(skel_->progs.fa_tc_egress, frame); }

    std::vector<flowattr::agent::FlowEntry> flows() { return flowattr::agent::read_flow_table(bpf_map__fd(skel_->maps.fa_flows)); }

    // The flow with this key; a failed expectation (and zeroes) if there is none.
    fa_flow_stats flow(const fa_flow_key& key) {
        fa_flow_stats stats{};
        EXPECT_EQ(bpf_map_lookup_elem(bpf_map__fd(skel_->maps.fa_flows), &key, &stats), 0)
            << "no flow " << describe(key);
        return stats;
    }

    std::array<std::uint64_t, FA_CNT_MAX> counters() {
        return read_counters(bpf_map__fd(skel_->maps.fa_flow_counters));
    }

    static void expect_counts(const fa_flow_stats& s, std::uint64_t in_pkts, std::uint64_t in_bytes,
                              std::uint64_t out_pkts, std::uint64_t out_bytes) {
        EXPECT_EQ(s.packets[FA_DIR_INGRESS], in_pkts);
        EXPECT_EQ(s.bytes[FA_DIR_INGRESS], in_bytes);
        EXPECT_EQ(s.packets[FA_DIR_EGRESS], out_pkts);
        EXPECT_EQ(s.bytes[FA_DIR_EGRESS], out_bytes);
    }

    flow_bpf* skel_ = nullptr;

private:
    inline static Skeleton<flow_bpf> shared_;
    inline static std::string shared_suite_;
};

const Ipv4Addr kLocal4 = ipv4_addr("10.0.0.1");
const Ipv4Addr kRemote4 = ipv4_addr("10.0.0.2");
const Ipv6Addr kLocal6 = ipv6_addr("fd00::1");
const Ipv6Addr kRemote6 = ipv6_addr("fd00::2");

// Router alert (4 bytes) in IPv4, MSS + SACK-permitted + NOPs in TCP.
const std::vector<std::uint8_t> kIpOptions = {0x94, 0x04, 0x00, 0x00};
const std::vector<std::uint8_t> kTcpOptions = {0x02, 0x04, 0x05, 0xb4, 0x04, 0x02, 0x01, 0x01};

TEST_F(FlowProgTest, Ipv4TcpWithOptionsBothDirectionsShareOneFlow) {
    const auto syn = PacketBuilder()
                         .ethernet(kEthIpv4)
                         .ipv4(kRemote4, kLocal4, kProtoTcp, 0, kIpOptions)
                         .tcp(40000, 80, kTcpSyn, kTcpOptions)
                         .build();
    const auto syn_ack = PacketBuilder()
                             .ethernet(kEthIpv4)
                             .ipv4(kLocal4, kRemote4, kProtoTcp)
                             .tcp(80, 40000, kTcpSyn | kTcpAck, kTcpOptions)
                             .build();
    const auto data = PacketBuilder()
                          .ethernet(kEthIpv4)
                          .ipv4(kRemote4, kLocal4, kProtoTcp, 0, kIpOptions)
                          .tcp(40000, 80, kTcpAck | kTcpPsh)
                          .payload(100)
                          .build();
    EXPECT_EQ(ingress(syn), kTcActUnspec);
    EXPECT_EQ(egress(syn_ack), kTcActUnspec);
    EXPECT_EQ(ingress(data), kTcActUnspec);

    const auto all = flows();
    ASSERT_EQ(all.size(), 1u);
    const auto key = make_key(kProtoTcp, kLocal4, 80, kRemote4, 40000);
    EXPECT_TRUE(same_key(all[0].key, key)) << describe(all[0].key);
    const auto s = flow(key);
    expect_counts(s, 2, syn.size() + data.size(), 1, syn_ack.size());
    EXPECT_EQ(s.tcp_flags, kTcpSyn | kTcpAck | kTcpPsh);
    EXPECT_EQ(s.ended, 0);
    EXPECT_EQ(s.identity.tgid, 0u) << "no socket owns 10.0.0.1:80";
    EXPECT_NE(s.first_seen_ns, 0u);
    EXPECT_LE(s.first_seen_jiffies, s.last_seen_jiffies);
    const auto c = counters();
    EXPECT_EQ(c[FA_CNT_PARSE_ERRORS], 0u);
    EXPECT_EQ(c[FA_CNT_NOT_IP], 0u);
}

// The datapath reads the clock when a flow starts and only jiffies for its later packets;
// last seen, converted as the agent converts it (FlowClock), is the kernel's coarse
// monotonic time of the latest packet to within a tick (two allowed: the tick handler
// updates jiffies and that clock a little apart). Late by more only when jiffies lagged the
// clock at the first packet: a TCG guest on a loaded host takes its tick interrupt late
// (8.5 ms past two ticks, once, on 5.10-arm64). Jiffies and the coarse clock are stepped
// together, so that lag shows as the coarse clock before the packet trailing the precise
// clock after it, and is allowed.
TEST_F(FlowProgTest, LastSeenFollowsTheMonotonicClockToATick) {
    const auto clock = flowattr::agent::FlowClock::of_this_kernel();
    ASSERT_GE(clock.tick_ns, 1000000u) << "a tick is 1 to 10 ms (HZ 100 to 1000)";
    ASSERT_LE(clock.tick_ns, 10000000u) << "a tick is 1 to 10 ms (HZ 100 to 1000)";
    const auto frame = PacketBuilder().ethernet(kEthIpv4).ipv4(kRemote4, kLocal4, kProtoUdp).udp(5000, 53).payload(10).build();

    const std::uint64_t first_from = flowattr::clock_ns(CLOCK_MONOTONIC_COARSE);
    ingress(frame);
    const std::uint64_t first_to = flowattr::clock_ns(CLOCK_MONOTONIC);
    usleep(60000);  // six ticks at least
    const std::uint64_t last_from = flowattr::clock_ns(CLOCK_MONOTONIC_COARSE);
    ingress(frame);
    const std::uint64_t last_to = flowattr::clock_ns(CLOCK_MONOTONIC_COARSE);

    const auto s = flow(make_key(kProtoUdp, kLocal4, 53, kRemote4, 5000));
    // The coarse clock from 5.11, the precise one before: either lies within these.
    EXPECT_GE(s.first_seen_ns, first_from);
    EXPECT_LE(s.first_seen_ns, first_to);
    EXPECT_GE(s.last_seen_jiffies, s.first_seen_jiffies + 5) << "jiffies moved less than 5 ticks in 60 ms";
    const std::uint64_t last = clock.last_seen_ns(s);
    EXPECT_GE(last + 2 * clock.tick_ns, last_from) << "last seen " << (last_from - last) / 1000 << " us early";
    const std::uint64_t tick_lag = first_to - first_from;
    EXPECT_LE(last, last_to + 2 * clock.tick_ns + tick_lag)
        << "last seen " << (last - last_to) / 1000 << " us late; the tick lagged " << tick_lag / 1000 << " us at the first packet";
}

TEST_F(FlowProgTest, Ipv6UdpKeyedFromTheLocalSide) {
    const auto query = PacketBuilder()
                           .ethernet(kEthIpv6)
                           .ipv6(kLocal6, kRemote6, kProtoUdp)
                           .udp(5353, 53)
                           .payload(30)
                           .build();
    const auto answer = PacketBuilder()
                            .ethernet(kEthIpv6)
                            .ipv6(kRemote6, kLocal6, kProtoUdp)
                            .udp(53, 5353)
                            .payload(90)
                            .build();
    egress(query);
    egress(query);
    ingress(answer);

    ASSERT_EQ(flows().size(), 1u);
    const auto s = flow(make_key(kProtoUdp, kLocal6, 5353, kRemote6, 53));
    expect_counts(s, 1, answer.size(), 2, 2 * query.size());
    EXPECT_EQ(s.tcp_flags, 0);
}

// The agent loads one copy of the programs per watched network namespace, each with its
// own slot: two interfaces with the same ifindex in two namespaces stay two flows.
class FlowNetnsSlotTest : public FlowProgTest {
protected:
    void configure(flow_bpf* skel) override { skel->rodata->fa_netns_slot = 7; }
};

TEST_F(FlowNetnsSlotTest, KeyCarriesTheNamespaceSlot) {
    egress(PacketBuilder().ethernet(kEthIpv4).ipv4(kLocal4, kRemote4, kProtoUdp).udp(4000, 53).payload(10).build());
    ASSERT_EQ(flows().size(), 1u);
    EXPECT_EQ(flows()[0].key.netns, 7);
    auto key = make_key(kProtoUdp, kLocal4, 4000, kRemote4, 53);
    key.netns = 7;
    EXPECT_EQ(flow(key).packets[FA_DIR_EGRESS], 1u);
}

TEST_F(FlowProgTest, Ipv6ExtensionHeadersAreWalked) {
    // Hop-by-Hop -> Destination Options -> Fragment (first, more follow) -> UDP.
    const auto first = PacketBuilder()
                           .ethernet(kEthIpv6)
                           .ipv6(kRemote6, kLocal6, kIpv6HopByHop)
                           .ipv6_ext(kIpv6DestOpts, 8)
                           .ipv6_ext(kIpv6Fragment, 16)
                           .ipv6_fragment(kProtoUdp, 0, true)
                           .udp(4000, 4001)
                           .payload(64)
                           .build();
    // Same chain, a later fragment: no UDP header, so ports 0.
    const auto later = PacketBuilder()
                           .ethernet(kEthIpv6)
                           .ipv6(kRemote6, kLocal6, kIpv6HopByHop)
                           .ipv6_ext(kIpv6DestOpts, 8)
                           .ipv6_ext(kIpv6Fragment, 16)
                           .ipv6_fragment(kProtoUdp, 9, false)
                           .payload(40)
                           .build();
    // Routing -> AH -> TCP.
    const auto routed = PacketBuilder()
                            .ethernet(kEthIpv6)
                            .ipv6(kRemote6, kLocal6, kIpv6Routing)
                            .ipv6_ext(kIpv6Auth, 24)
                            .ipv6_auth(kProtoTcp, 16)
                            .tcp(5000, 443, kTcpRst)
                            .build();
    ingress(first);
    ingress(later);
    ingress(routed);

    EXPECT_EQ(flows().size(), 3u);
    expect_counts(flow(make_key(kProtoUdp, kLocal6, 4001, kRemote6, 4000)), 1, first.size(), 0, 0);
    expect_counts(flow(make_key(kProtoUdp, kLocal6, 0, kRemote6, 0)), 1, later.size(), 0, 0);
    const auto tcp = flow(make_key(kProtoTcp, kLocal6, 443, kRemote6, 5000));
    expect_counts(tcp, 1, routed.size(), 0, 0);
    EXPECT_EQ(tcp.tcp_flags, kTcpRst);
    EXPECT_EQ(tcp.ended, 1);
    EXPECT_EQ(counters()[FA_CNT_PARSE_ERRORS], 0u);
}

TEST_F(FlowProgTest, Ipv6ChainLongerThanTheWalkIsAParseError) {
    PacketBuilder chain;
    chain.ethernet(kEthIpv6).ipv6(kRemote6, kLocal6, kIpv6DestOpts);
    for (int i = 0; i < 8; i++) chain.ipv6_ext(kIpv6DestOpts, 8);
    chain.ipv6_ext(kProtoUdp, 8).udp(1, 2);
    ingress(chain.build());
    EXPECT_TRUE(flows().empty());
    EXPECT_EQ(counters()[FA_CNT_PARSE_ERRORS], 1u);
}

TEST_F(FlowProgTest, VlanAndQinQTagsAreSkipped) {
    const auto tagged = PacketBuilder()
                            .ethernet(kEthVlan)
                            .vlan(100, kEthIpv4)
                            .ipv4(kRemote4, kLocal4, kProtoUdp)
                            .udp(7000, 7001)
                            .build();
    const auto qinq = PacketBuilder()
                          .ethernet(kEthQinQ)
                          .vlan(200, kEthVlan)
                          .vlan(300, kEthIpv6)
                          .ipv6(kLocal6, kRemote6, kProtoTcp)
                          .tcp(33000, 22, kTcpAck)
                          .build();
    // Three tags are more than the parser skips: the third TPID is not an IP type.
    const auto triple = PacketBuilder()
                            .ethernet(kEthQinQ)
                            .vlan(1, kEthVlan)
                            .vlan(2, kEthVlan)
                            .vlan(3, kEthIpv4)
                            .ipv4(kRemote4, kLocal4, kProtoUdp)
                            .udp(1, 2)
                            .build();
    ingress(tagged);
    egress(qinq);
    ingress(triple);

    EXPECT_EQ(flows().size(), 2u);
    expect_counts(flow(make_key(kProtoUdp, kLocal4, 7001, kRemote4, 7000)), 1, tagged.size(), 0, 0);
    const auto ssh = flow(make_key(kProtoTcp, kLocal6, 33000, kRemote6, 22));
    expect_counts(ssh, 0, 0, 1, qinq.size());
    EXPECT_EQ(ssh.tcp_flags, kTcpAck);
    EXPECT_EQ(counters()[FA_CNT_NOT_IP], 1u);
}

TEST_F(FlowProgTest, Ipv4FirstFragmentHasPortsLaterFragmentsDoNot) {
    const auto first = PacketBuilder()
                           .ethernet(kEthIpv4)
                           .ipv4(kRemote4, kLocal4, kProtoUdp, 0x2000 /* MF, offset 0 */)
                           .udp(1000, 2000)
                           .payload(1472)
                           .build();
    const auto later = PacketBuilder()
                           .ethernet(kEthIpv4)
                           .ipv4(kRemote4, kLocal4, kProtoUdp, 185 /* offset 1480 bytes */)
                           .payload(500)
                           .build();
    // A later fragment whose payload happens to look like a UDP header must not be read as one.
    const auto later_looking_like_udp = PacketBuilder()
                                            .ethernet(kEthIpv4)
                                            .ipv4(kRemote4, kLocal4, kProtoUdp, 0x2000 | 370)
                                            .udp(1000, 2000)
                                            .build();
    ingress(first);
    ingress(later);
    ingress(later_looking_like_udp);

    EXPECT_EQ(flows().size(), 2u);
    expect_counts(flow(make_key(kProtoUdp, kLocal4, 2000, kRemote4, 1000)), 1, first.size(), 0, 0);
    expect_counts(flow(make_key(kProtoUdp, kLocal4, 0, kRemote4, 0)), 2,
                  later.size() + later_looking_like_udp.size(), 0, 0);
}

TEST_F(FlowProgTest, IcmpEchoIsKeyedByIdentifier) {
    const auto request = PacketBuilder()
                             .ethernet(kEthIpv4)
                             .ipv4(kRemote4, kLocal4, kProtoIcmp)
                             .icmp(8, 0, 0x1234, 1)
                             .payload(56)
                             .build();
    const auto reply = PacketBuilder()
                           .ethernet(kEthIpv4)
                           .ipv4(kLocal4, kRemote4, kProtoIcmp)
                           .icmp(0, 0, 0x1234, 1)
                           .payload(56)
                           .build();
    const auto unreachable = PacketBuilder()
                                 .ethernet(kEthIpv4)
                                 .ipv4(kRemote4, kLocal4, kProtoIcmp)
                                 .icmp(3, 3, 0x5555, 0x6666)
                                 .build();
    ingress(request);
    egress(reply);
    ingress(unreachable);

    EXPECT_EQ(flows().size(), 2u);
    expect_counts(flow(make_key(kProtoIcmp, kLocal4, 0x1234, kRemote4, 0x1234)), 1, request.size(), 1,
                  reply.size());
    expect_counts(flow(make_key(kProtoIcmp, kLocal4, 0, kRemote4, 0)), 1, unreachable.size(), 0, 0);
}

TEST_F(FlowProgTest, Icmpv6EchoIsKeyedByIdentifier) {
    const auto request = PacketBuilder()
                             .ethernet(kEthIpv6)
                             .ipv6(kLocal6, kRemote6, kProtoIcmpv6)
                             .icmp(128, 0, 0x0102, 7)
                             .build();
    const auto reply = PacketBuilder()
                           .ethernet(kEthIpv6)
                           .ipv6(kRemote6, kLocal6, kProtoIcmpv6)
                           .icmp(129, 0, 0x0102, 7)
                           .build();
    const auto neighbour_solicitation = PacketBuilder()
                                            .ethernet(kEthIpv6)
                                            .ipv6(kRemote6, kLocal6, kProtoIcmpv6)
                                            .icmp(135, 0, 0x0a0b, 0x0c0d)
                                            .payload(16)
                                            .build();
    egress(request);
    ingress(reply);
    ingress(neighbour_solicitation);

    EXPECT_EQ(flows().size(), 2u);
    expect_counts(flow(make_key(kProtoIcmpv6, kLocal6, 0x0102, kRemote6, 0x0102)), 1, reply.size(), 1,
                  request.size());
    expect_counts(flow(make_key(kProtoIcmpv6, kLocal6, 0, kRemote6, 0)), 1, neighbour_solicitation.size(),
                  0, 0);
}

TEST_F(FlowProgTest, NonIpFramesAreCountedNotKeyed) {
    ingress(PacketBuilder().ethernet(kEthArp).payload(28).build());
    egress(PacketBuilder().ethernet(kEthVlan).vlan(5, kEthArp).payload(28).build());
    EXPECT_TRUE(flows().empty());
    const auto c = counters();
    EXPECT_EQ(c[FA_CNT_NOT_IP], 2u);
    EXPECT_EQ(c[FA_CNT_PARSE_ERRORS], 0u);
}

// Every prefix of a frame from 14 bytes (the least PROG_TEST_RUN accepts) up: the
// prefixes that end before the last byte the parser needs are parse errors, the
// others are accounted on the one flow with their own length. Prefixes the kernel
// refuses to run are left out of both; the VLAN-tagged cases are never refused
// (the kernel does not look behind a tag), so every kernel exercises truncation
// inside the IP and L4 headers.
struct TruncationCase {
    const char* name;
    std::vector<std::uint8_t> frame;
    std::size_t needed;  // bytes the parser reads
    fa_flow_key key;
};

TEST_F(FlowProgTest, TruncatedFramesAtEveryLength) {
    const std::vector<TruncationCase> cases = {
        {"ipv4 tcp with options",
         PacketBuilder()
             .ethernet(kEthIpv4)
             .ipv4(kRemote4, kLocal4, kProtoTcp, 0, kIpOptions)
             .tcp(40000, 80, kTcpSyn, kTcpOptions)
             .build(),
         14 + 24 + 14, make_key(kProtoTcp, kLocal4, 80, kRemote4, 40000)},
        {"ipv6 hop-by-hop udp",
         PacketBuilder()
             .ethernet(kEthIpv6)
             .ipv6(kRemote6, kLocal6, kIpv6HopByHop)
             .ipv6_ext(kProtoUdp, 16)
             .udp(9, 10)
             .payload(8)
             .build(),
         14 + 40 + 16 + 4, make_key(kProtoUdp, kLocal6, 10, kRemote6, 9)},
        {"vlan ipv4 tcp with options",
         PacketBuilder()
             .ethernet(kEthVlan)
             .vlan(10, kEthIpv4)
             .ipv4(kRemote4, kLocal4, kProtoTcp, 0, kIpOptions)
             .tcp(40000, 80, kTcpSyn, kTcpOptions)
             .build(),
         14 + 4 + 24 + 14, make_key(kProtoTcp, kLocal4, 80, kRemote4, 40000)},
        {"vlan ipv6 fragment udp",
         PacketBuilder()
             .ethernet(kEthVlan)
             .vlan(10, kEthIpv6)
             .ipv6(kRemote6, kLocal6, kIpv6Fragment)
             .ipv6_fragment(kProtoUdp, 0, true)
             .udp(9, 10)
             .build(),
         14 + 4 + 40 + 8 + 4, make_key(kProtoUdp, kLocal6, 10, kRemote6, 9)},
        {"qinq ipv4 icmp echo",
         PacketBuilder()
             .ethernet(kEthQinQ)
             .vlan(1, kEthVlan)
             .vlan(2, kEthIpv4)
             .ipv4(kRemote4, kLocal4, kProtoIcmp)
             .icmp(8, 0, 77, 1)
             .build(),
         14 + 8 + 20 + 6, make_key(kProtoIcmp, kLocal4, 77, kRemote4, 77)},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.name);
        ASSERT_TRUE(flows().empty());
        const auto errors_before = counters()[FA_CNT_PARSE_ERRORS];
        std::uint64_t packets = 0, bytes = 0, errors = 0;
        for (std::size_t len = 14; len <= c.frame.size(); len++) {
            std::vector<std::uint8_t> prefix(c.frame.begin(), c.frame.begin() + static_cast<long>(len));
            int retval = 0;
            if (!try_run(skel_->progs.fa_tc_ingress, prefix, &retval)) continue;
            EXPECT_EQ(retval, kTcActUnspec) << len << " bytes";
            if (len >= c.needed) {
                packets++;
                bytes += len;
            } else {
                errors++;
            }
        }
        EXPECT_EQ(counters()[FA_CNT_PARSE_ERRORS] - errors_before, errors);
        EXPECT_GT(packets, 0u);
        ASSERT_EQ(flows().size(), 1u);
        expect_counts(flow(c.key), packets, bytes, 0, 0);
        EXPECT_EQ(bpf_map_delete_elem(bpf_map__fd(skel_->maps.fa_flows), &c.key), 0);
    }
    EXPECT_EQ(counters()[FA_CNT_NOT_IP], 0u);
}

// How many frames the fuzz test sends: a million by default; the matrix guests, where TCG
// makes each test run some fifty times slower, ask for fewer through FLOWATTR_FUZZ_FRAMES.
std::uint64_t fuzz_frames() {
    const char* env = std::getenv("FLOWATTR_FUZZ_FRAMES");
    return env && *env ? std::strtoull(env, nullptr, 10) : 1000000;
}

// Garbage must never fail the program or drop the packet, and every frame is accounted
// exactly once: as a parse error, as non-IP, or on a flow. Random bytes, and valid frames
// of every shape the parser knows with bytes flipped, cut short or grown; checked in
// batches, each emptying the table after it (one lookup-and-delete batch call), so the
// table never fills and the sums must match exactly.
TEST_F(FlowProgTest, RandomAndMutatedFramesAreAccountedExactlyOnce) {
    const std::uint64_t kFrames = fuzz_frames();
    std::mt19937 rng(20261125);
    std::uniform_int_distribution<int> byte(0, 255);
    std::uniform_int_distribution<std::size_t> length(14, 160);
    const std::uint16_t types[] = {kEthIpv4, kEthIpv6, kEthVlan, kEthQinQ};
    const std::vector<std::vector<std::uint8_t>> shapes = {
        PacketBuilder().ethernet(kEthIpv4).ipv4(kLocal4, kRemote4, kProtoTcp).tcp(40000, 443, kTcpAck).payload(40).build(),
        PacketBuilder().ethernet(kEthIpv4).ipv4(kLocal4, kRemote4, kProtoUdp, 0, {1, 1, 1, 0}).udp(5353, 53).build(),
        PacketBuilder().ethernet(kEthIpv4).ipv4(kRemote4, kLocal4, kProtoIcmp).icmp(8, 0, 77, 1).build(),
        PacketBuilder().ethernet(kEthVlan).vlan(10, kEthQinQ).vlan(20, kEthIpv4).ipv4(kLocal4, kRemote4, kProtoUdp).udp(1, 2).build(),
        PacketBuilder().ethernet(kEthIpv6).ipv6(kLocal6, kRemote6, kIpv6HopByHop).ipv6_ext(kIpv6Fragment, 8)
            .ipv6_fragment(kProtoUdp, 0, true).udp(5000, 6000).payload(20).build(),
        PacketBuilder().ethernet(kEthIpv6).ipv6(kRemote6, kLocal6, kIpv6Auth).ipv6_auth(kProtoTcp, 16)
            .tcp(443, 40001, kTcpSyn | kTcpAck).build(),
    };
    std::uniform_int_distribution<std::size_t> shape(0, shapes.size() - 1);
    std::uniform_int_distribution<int> mutations(1, 4);
    const int flows_fd = bpf_map__fd(skel_->maps.fa_flows);
    const std::uint32_t kBatch = 4096;
    std::vector<fa_flow_key> keys(kBatch);
    std::vector<fa_flow_stats> values(kBatch);
    std::uint64_t sent = 0, ran = 0, on_flows = 0, batches = 0;
    while (sent < kFrames) {
        std::uint64_t ran_in_batch = 0;
        for (std::uint32_t i = 0; i < kBatch && sent < kFrames; i++, sent++) {
            std::vector<std::uint8_t> frame;
            if (sent % 3 == 0) {
                frame.resize(length(rng));
                for (auto& b : frame) b = static_cast<std::uint8_t>(byte(rng));
                // Steer most of them past the Ethernet type so the IP parsers see garbage too.
                const auto type = types[sent % 4];
                frame[12] = static_cast<std::uint8_t>(type >> 8);
                frame[13] = static_cast<std::uint8_t>(type);
            } else {
                frame = shapes[shape(rng)];
                for (int m = mutations(rng); m > 0; m--)
                    frame[std::uniform_int_distribution<std::size_t>(12, frame.size() - 1)(rng)] ^=
                        static_cast<std::uint8_t>(1 + byte(rng) % 255);
                if (sent % 5 == 0) frame.resize(std::uniform_int_distribution<std::size_t>(14, frame.size())(rng));
                if (sent % 7 == 0) frame.resize(frame.size() + std::size_t(byte(rng)), 0x5a);
            }
            int retval = 0;
            if (!try_run(sent % 2 ? skel_->progs.fa_tc_ingress : skel_->progs.fa_tc_egress, frame, &retval)) continue;
            ran_in_batch++;
            ASSERT_EQ(retval, kTcActUnspec) << "frame " << sent << " was not passed on";
        }
        ran += ran_in_batch;
        // Empty the table: everything counted on a flow in this batch comes back here.
        std::uint32_t batch_out = 0;
        for (bool first = true, more = true; more; first = false) {
            std::uint32_t count = kBatch;
            LIBBPF_OPTS(bpf_map_batch_opts, opts);
            int err = bpf_map_lookup_and_delete_batch(flows_fd, first ? nullptr : &batch_out, &batch_out, keys.data(),
                                                      values.data(), &count, &opts);
            ASSERT_TRUE(err == 0 || errno == ENOENT) << "lookup_and_delete_batch: " << std::strerror(errno);
            more = err == 0;
            for (std::uint32_t k = 0; k < count; k++)
                on_flows += values[k].packets[FA_DIR_INGRESS] + values[k].packets[FA_DIR_EGRESS];
        }
        batches++;
        const auto c = counters();
        ASSERT_EQ(on_flows + c[FA_CNT_PARSE_ERRORS] + c[FA_CNT_NOT_IP], ran) << "after batch " << batches;
    }
    const auto c = counters();
    std::printf("[ fuzz     ] %llu frames sent, %llu run (%llu refused by the kernel as too short), %llu on flows, "
                "%llu malformed, %llu not IP\n",
                static_cast<unsigned long long>(sent), static_cast<unsigned long long>(ran),
                static_cast<unsigned long long>(sent - ran), static_cast<unsigned long long>(on_flows),
                static_cast<unsigned long long>(c[FA_CNT_PARSE_ERRORS]), static_cast<unsigned long long>(c[FA_CNT_NOT_IP]));
    EXPECT_GT(ran, kFrames / 2);
    EXPECT_GT(c[FA_CNT_PARSE_ERRORS], 0u);
    EXPECT_GT(c[FA_CNT_NOT_IP], 0u);
    EXPECT_GT(on_flows, 0u);
}

class FlowEventsTest : public FlowProgTest {
protected:
    void TearDown() override {
        ring_buffer__free(rb_);
        FlowProgTest::TearDown();
    }

    std::vector<fa_flow_event> drain() {
        if (!rb_) {
            rb_ = ring_buffer__new(bpf_map__fd(skel_->maps.fa_events), &FlowEventsTest::on_event, &events_,
                                   nullptr);
            EXPECT_NE(rb_, nullptr);
        }
        events_.clear();
        EXPECT_GE(ring_buffer__consume(rb_), 0);
        return events_;
    }

    static int on_event(void* ctx, void* data, std::size_t size) {
        EXPECT_EQ(size, sizeof(fa_flow_event));
        fa_flow_event event{};
        std::memcpy(&event, data, std::min(size, sizeof(event)));
        static_cast<std::vector<fa_flow_event>*>(ctx)->push_back(event);
        return 0;
    }

    ring_buffer* rb_ = nullptr;
    std::vector<fa_flow_event> events_;
};

TEST_F(FlowEventsTest, StartOnFirstPacketEndOnFinBothWaysOrRst) {
    const auto key = make_key(kProtoTcp, kLocal4, 50000, kRemote4, 443);
    auto segment = [](const Ipv4Addr& s, const Ipv4Addr& d, std::uint16_t sp, std::uint16_t dp,
                      std::uint8_t flags) {
        return PacketBuilder().ethernet(kEthIpv4).ipv4(s, d, kProtoTcp).tcp(sp, dp, flags).build();
    };
    egress(segment(kLocal4, kRemote4, 50000, 443, kTcpSyn));
    auto events = drain();
    ASSERT_EQ(events.size(), 1u);
    EXPECT_EQ(events[0].type, FA_EVENT_FLOW_START);
    EXPECT_EQ(events[0].direction, FA_DIR_EGRESS);
    EXPECT_TRUE(same_key(events[0].key, key)) << describe(events[0].key);
    // Each event carries the flow's statistics as of its packet: here, the SYN alone.
    expect_counts(events[0].stats, 0, 0, 1, 54);
    EXPECT_EQ(events[0].stats.tcp_flags, kTcpSyn);
    EXPECT_NE(events[0].stats.first_seen_ns, 0u);
    EXPECT_EQ(events[0].stats.ended, 0);

    // The hot path writes no events.
    ingress(segment(kRemote4, kLocal4, 443, 50000, kTcpSyn | kTcpAck));
    egress(segment(kLocal4, kRemote4, 50000, 443, kTcpAck));
    EXPECT_TRUE(drain().empty());

    // The server's FIN half-closes the connection: the client may still send, and
    // the flow goes on (a FIN repeated the same way changes nothing).
    ingress(segment(kRemote4, kLocal4, 443, 50000, kTcpFin | kTcpAck));
    egress(segment(kLocal4, kRemote4, 50000, 443, kTcpAck | kTcpPsh));
    ingress(segment(kRemote4, kLocal4, 443, 50000, kTcpFin | kTcpAck));
    EXPECT_TRUE(drain().empty());
    EXPECT_EQ(flow(key).ended, 0);
    EXPECT_EQ(flow(key).fin_seen[FA_DIR_INGRESS], 1);
    EXPECT_EQ(flow(key).fin_seen[FA_DIR_EGRESS], 0);

    // The client's FIN closes it.
    egress(segment(kLocal4, kRemote4, 50000, 443, kTcpFin | kTcpAck));
    events = drain();
    ASSERT_EQ(events.size(), 1u);
    EXPECT_EQ(events[0].type, FA_EVENT_FLOW_END);
    EXPECT_EQ(events[0].direction, FA_DIR_EGRESS);
    EXPECT_TRUE(same_key(events[0].key, key));
    expect_counts(events[0].stats, 3, 3 * 54, 4, 4 * 54);
    EXPECT_EQ(events[0].stats.ended, 1);
    EXPECT_EQ(events[0].stats.first_seen_ns, flow(key).first_seen_ns);

    // The last ACK and a late RST belong to the same flow and end nothing again.
    ingress(segment(kRemote4, kLocal4, 443, 50000, kTcpAck));
    ingress(segment(kRemote4, kLocal4, 443, 50000, kTcpRst));
    EXPECT_TRUE(drain().empty());
    const auto s = flow(key);
    EXPECT_EQ(s.ended, 1);
    EXPECT_EQ(s.tcp_flags, kTcpSyn | kTcpAck | kTcpPsh | kTcpFin | kTcpRst);
    expect_counts(s, 5, 5 * 54, 4, 4 * 54);

    // A flow whose first packet is a RST starts and ends at once.
    ingress(segment(kRemote4, kLocal4, 1234, 9, kTcpRst));
    events = drain();
    ASSERT_EQ(events.size(), 2u);
    EXPECT_EQ(events[0].type, FA_EVENT_FLOW_START);
    EXPECT_EQ(events[1].type, FA_EVENT_FLOW_END);
    EXPECT_TRUE(same_key(events[1].key, make_key(kProtoTcp, kLocal4, 9, kRemote4, 1234)));
    for (const auto& e : events) {
        expect_counts(e.stats, 1, 54, 0, 0);
        EXPECT_EQ(e.stats.ended, 1);
    }
    EXPECT_EQ(counters()[FA_CNT_RINGBUF_DROPS], 0u);
}

// Two FINs crossing on two CPUs may each store their own direction's mark and miss the
// other's: the flow is then left with both marks and not ended. The ACK that always follows
// ends it, with its event.
TEST_F(FlowEventsTest, AFlowLeftWithBothFinsIsEndedByTheNextPacket) {
    const auto key = make_key(kProtoTcp, kLocal4, 50001, kRemote4, 443);
    auto segment = [](const Ipv4Addr& s, const Ipv4Addr& d, std::uint16_t sp, std::uint16_t dp, std::uint8_t flags) {
        return PacketBuilder().ethernet(kEthIpv4).ipv4(s, d, kProtoTcp).tcp(sp, dp, flags).build();
    };
    egress(segment(kLocal4, kRemote4, 50001, 443, kTcpAck));
    drain();
    fa_flow_stats raced = flow(key);
    raced.fin_seen[FA_DIR_INGRESS] = raced.fin_seen[FA_DIR_EGRESS] = 1;
    ASSERT_EQ(bpf_map_update_elem(bpf_map__fd(skel_->maps.fa_flows), &key, &raced, BPF_EXIST), 0);
    ingress(segment(kRemote4, kLocal4, 443, 50001, kTcpAck));
    const auto events = drain();
    ASSERT_EQ(events.size(), 1u);
    EXPECT_EQ(events[0].type, FA_EVENT_FLOW_END);
    EXPECT_EQ(flow(key).ended, 1);
}

// A ring buffer of one page: new flows beyond what it holds are counted as drops.
class FlowSmallRingTest : public FlowEventsTest {
protected:
    void configure(flow_bpf* skel) override {
        bpf_map__set_max_entries(skel->maps.fa_events, static_cast<std::uint32_t>(sysconf(_SC_PAGESIZE)));
    }
};

TEST_F(FlowSmallRingTest, FullRingBufferCountsDrops) {
    constexpr int kFlows = 100;
    for (int i = 0; i < kFlows; i++)
        ingress(PacketBuilder()
                    .ethernet(kEthIpv4)
                    .ipv4(kRemote4, kLocal4, kProtoUdp)
                    .udp(static_cast<std::uint16_t>(10000 + i), 53)
                    .build());
    const auto delivered = drain().size();
    const auto drops = counters()[FA_CNT_RINGBUF_DROPS];
    EXPECT_EQ(flows().size(), static_cast<std::size_t>(kFlows));
    EXPECT_EQ(delivered + drops, static_cast<std::uint64_t>(kFlows));
    EXPECT_GT(drops, 0u);
    EXPECT_GT(delivered, 0u);
}

// counter.bpf.o, the benchmark baseline: one counter per 5-tuple (IPv4 and IPv6, behind up to
// two VLAN tags), as on the wire; other protocols are not counted.
TEST(PlainCounterProg, CountsPerFiveTuple) {
    FA_REQUIRE_ROOT();
    Skeleton<counter_bpf> skel(counter_bpf__open_and_load());
    ASSERT_NE(skel, nullptr) << std::strerror(errno);
    auto run = [&](const std::vector<std::uint8_t>& frame) {
        LIBBPF_OPTS(bpf_test_run_opts, opts);
        opts.data_in = frame.data();
        opts.data_size_in = static_cast<std::uint32_t>(frame.size());
        EXPECT_EQ(bpf_prog_test_run_opts(bpf_program__fd(skel->progs.fa_plain_counter), &opts), 0);
        EXPECT_EQ(static_cast<int>(opts.retval), kTcActUnspec);
    };
    const auto tcp = PacketBuilder().ethernet(kEthIpv4).ipv4(kRemote4, kLocal4, kProtoTcp).tcp(1000, 80, kTcpAck).build();
    for (int i = 0; i < 3; i++) run(tcp);
    // The same 5-tuple behind a VLAN tag is the same key.
    run(PacketBuilder().ethernet(kEthVlan).vlan(7, kEthIpv4).ipv4(kRemote4, kLocal4, kProtoTcp).tcp(1000, 80, kTcpAck).build());
    run(PacketBuilder().ethernet(kEthIpv4).ipv4(kRemote4, kLocal4, kProtoIcmp).icmp(8, 0, 1, 1).build());
    run(PacketBuilder().ethernet(kEthIpv6).ipv6(kRemote6, kLocal6, kProtoUdp).udp(1, 2).build());
    run(PacketBuilder().ethernet(kEthArp).payload(28).build());

    const int map = bpf_map__fd(skel->maps.fa_plain_counts);
    auto count_of = [&](fa_plain_key key) {
        std::uint64_t count = 0;
        EXPECT_EQ(bpf_map_lookup_elem(map, &key, &count), 0);
        return count;
    };
    // A key as on the wire: source (the remote end here) first.
    auto plain_key = [](std::uint8_t family, const std::uint8_t* saddr, const std::uint8_t* daddr, std::size_t len,
                        std::uint8_t proto, std::uint16_t sport, std::uint16_t dport) {
        fa_plain_key k{};
        k.family = family;
        std::memcpy(k.saddr, saddr, len);
        std::memcpy(k.daddr, daddr, len);
        k.proto = proto;
        k.sport = htons(sport);
        k.dport = htons(dport);
        return k;
    };
    EXPECT_EQ(count_of(plain_key(FA_AF_INET, kRemote4.data(), kLocal4.data(), 4, kProtoTcp, 1000, 80)), 4u);
    EXPECT_EQ(count_of(plain_key(FA_AF_INET, kRemote4.data(), kLocal4.data(), 4, kProtoIcmp, 0, 0)), 1u);
    EXPECT_EQ(count_of(plain_key(FA_AF_INET6, kRemote6.data(), kLocal6.data(), 16, kProtoUdp, 1, 2)), 1u);
    fa_plain_key key{};
    fa_plain_key next{};
    int keys = 0;
    for (const void* prev = nullptr; bpf_map_get_next_key(map, prev, &next) == 0; prev = &key, keys++) key = next;
    EXPECT_EQ(keys, 3) << "ARP is not counted";
}

// ---- Identity: the socket-creation hooks, the start-up walk, and the flow program's
// lookups of both, against real sockets of this process.

using flowattr::UniqueFd;
using flowattr::agent::BpfLink;

std::uint16_t bound_port(int fd) {
    sockaddr_in addr{};
    socklen_t len = sizeof(addr);
    getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    return ntohs(addr.sin_port);
}

// A connected TCP pair and a bound UDP socket on 127.0.0.1.
struct LoopbackSockets {
    UniqueFd listener{socket(AF_INET, SOCK_STREAM, 0)};
    UniqueFd client{socket(AF_INET, SOCK_STREAM, 0)};
    UniqueFd server;
    UniqueFd udp{socket(AF_INET, SOCK_DGRAM, 0)};
    std::uint16_t server_port = 0, client_port = 0, udp_port = 0;

    bool open() {
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        const auto* sa = reinterpret_cast<sockaddr*>(&addr);
        if (bind(listener.get(), sa, sizeof(addr)) || listen(listener.get(), 1)) return false;
        server_port = bound_port(listener.get());
        addr.sin_port = htons(server_port);
        if (connect(client.get(), sa, sizeof(addr))) return false;
        server.reset(accept(listener.get(), nullptr, nullptr));
        client_port = bound_port(client.get());
        addr.sin_port = 0;
        if (server.get() < 0 || bind(udp.get(), sa, sizeof(addr))) return false;
        udp_port = bound_port(udp.get());
        return true;
    }
};

// The identity store: identity.bpf.o with no program loaded creates fa_sk_identity.
class IdentityTest : public ::testing::Test {
protected:
    void SetUp() override {
        FA_REQUIRE_ROOT();
        identity_ = flowattr::agent::open_identity(std::nullopt, false);
        enable(identity_.get());
        const int err = identity_bpf__load(identity_.get());
        ASSERT_EQ(err, 0) << "identity.bpf.o (maps only) does not load: " << std::strerror(-err);
    }
    virtual void enable(identity_bpf*) {}

    int store() { return bpf_map__fd(identity_->maps.fa_sk_identity); }

    bool identity_of(int sock_fd, fa_identity* out) { return bpf_map_lookup_elem(store(), &sock_fd, out) == 0; }

    // Run the start-up walk once over every task's files.
    void walk_tasks() {
        // The agent loads the walk with its hook; here identity_ is loaded already, so a second
        // copy of identity.bpf.o loads the walk alone into the same store.
        iter_ = flowattr::agent::open_identity(std::nullopt, true, store());
        const int err = identity_bpf__load(iter_.get());
        const auto walk = flowattr::agent::probe_task_walk();
        if (err && !walk.available)
            GTEST_SKIP() << "no task walk (" << walk.detail << "): the agent walks /proc instead, "
                         << "see ProcWalkStampsExistingSocketsWithoutOverwriting";
        ASSERT_EQ(err, 0) << "the walk of identity.bpf.o does not load: " << std::strerror(-err);
        BpfLink link(bpf_program__attach_iter(iter_->progs.fa_stamp_task_sockets, nullptr));
        ASSERT_NE(link, nullptr) << std::strerror(errno);
        UniqueFd it(bpf_iter_create(bpf_link__fd(link.get())));
        ASSERT_GE(it.get(), 0) << std::strerror(errno);
        char buf[256];
        while (read(it.get(), buf, sizeof(buf)) > 0) {
        }
    }

    void expect_self(const fa_identity& id, std::uint32_t source) {
        EXPECT_EQ(id.tgid, static_cast<std::uint32_t>(getpid()));
        EXPECT_EQ(id.pid, static_cast<std::uint32_t>(getpid()));
        EXPECT_EQ(id.uid, getuid());
        EXPECT_EQ(id.source, source);
        EXPECT_EQ(std::string(id.comm, strnlen(id.comm, sizeof(id.comm))), self_comm());
        EXPECT_NE(id.start_time_ns, 0u);
        EXPECT_NE(id.cgroup_id, 0u);
    }

    // An identity from the creation hook, which a start-up walk must never overwrite.
    void plant_hook_identity(int fd) {
        fa_identity earlier{};
        earlier.tgid = earlier.pid = 4242;
        earlier.source = FA_ID_LSM;
        ASSERT_EQ(bpf_map_update_elem(store(), &fd, &earlier, BPF_NOEXIST), 0) << std::strerror(errno);
    }
    void expect_hook_identity_kept(int fd) {
        fa_identity kept{};
        ASSERT_TRUE(identity_of(fd, &kept));
        EXPECT_EQ(kept.tgid, 4242u);
        EXPECT_EQ(kept.source, static_cast<std::uint32_t>(FA_ID_LSM));
    }

    Skeleton<identity_bpf> identity_;
    Skeleton<identity_bpf> iter_;  // after identity_: ends first, as it uses identity_'s map
};

TEST_F(IdentityTest, TaskWalkStampsExistingSocketsWithoutOverwriting) {
    LoopbackSockets socks;
    ASSERT_TRUE(socks.open()) << std::strerror(errno);
    plant_hook_identity(socks.udp.get());

    walk_tasks();
    if (IsSkipped()) return;

    for (int fd : {socks.listener.get(), socks.client.get(), socks.server.get()}) {
        fa_identity id{};
        ASSERT_TRUE(identity_of(fd, &id)) << "fd " << fd << " not stamped";
        expect_self(id, FA_ID_TASK_ITER);
    }
    expect_hook_identity_kept(socks.udp.get());

    const auto c = read_counters(bpf_map__fd(iter_->maps.fa_task_iter_counters));
    EXPECT_GE(c[FA_CNT_IDENTITY_HOOK], 4u);
    EXPECT_GE(c[FA_CNT_IDENTITY_STAMPED], 3u);
    EXPECT_LT(c[FA_CNT_IDENTITY_STAMPED], c[FA_CNT_IDENTITY_HOOK]);
}

// The flow program finds the identity of real sockets: by socket lookup on ingress,
// and on egress also for skbs whose own socket has none (here PROG_TEST_RUN's
// dummy socket; in real traffic SYN-ACKs from request sockets). The identities are
// written from userspace (SK_STORAGE takes a socket fd as key), so this runs on
// kernels without the start-up walk too.
TEST_F(IdentityTest, FlowProgramAttributesBothDirections) {
    LoopbackSockets socks;
    ASSERT_TRUE(socks.open()) << std::strerror(errno);
    fa_identity server_id{}, udp_id{};
    server_id.tgid = 1111;
    server_id.pid = 1112;
    server_id.uid = 33;
    server_id.source = FA_ID_SOCK_CREATE;
    server_id.cgroup_id = 99;
    server_id.start_time_ns = 123456789;
    std::strncpy(server_id.comm, "fa-server", sizeof(server_id.comm));
    udp_id = server_id;
    udp_id.tgid = 2222;
    std::strncpy(udp_id.comm, "fa-udp", sizeof(udp_id.comm));
    const int server_fd = socks.server.get(), udp_fd = socks.udp.get(), client_fd = socks.client.get();
    ASSERT_EQ(bpf_map_update_elem(store(), &server_fd, &server_id, BPF_NOEXIST), 0) << std::strerror(errno);
    ASSERT_EQ(bpf_map_update_elem(store(), &udp_fd, &udp_id, BPF_NOEXIST), 0) << std::strerror(errno);

    Skeleton<flow_bpf> flow(flow_bpf__open());
    ASSERT_NE(flow, nullptr);
    bpf_program__set_autoload(flow->progs.fa_tcx_ingress, false);
    bpf_program__set_autoload(flow->progs.fa_tcx_egress, false);
    ASSERT_EQ(bpf_map__reuse_fd(flow->maps.fa_sk_identity, store()), 0);
    ASSERT_EQ(flow_bpf__load(flow.get()), 0);

    const auto lo = ipv4_addr("127.0.0.1");
    auto run = [](bpf_program* prog, const std::vector<std::uint8_t>& frame) {
        LIBBPF_OPTS(bpf_test_run_opts, opts);
        opts.data_in = frame.data();
        opts.data_size_in = static_cast<std::uint32_t>(frame.size());
        EXPECT_EQ(bpf_prog_test_run_opts(bpf_program__fd(prog), &opts), 0);
    };
    const auto to_server = PacketBuilder()
                               .ethernet(kEthIpv4)
                               .ipv4(lo, lo, kProtoTcp)
                               .tcp(socks.client_port, socks.server_port, kTcpAck)
                               .build();
    const auto from_server = PacketBuilder()
                                 .ethernet(kEthIpv4)
                                 .ipv4(lo, lo, kProtoTcp)
                                 .tcp(socks.server_port, socks.client_port, kTcpAck)
                                 .build();
    // Client -> server arriving: the accepted server socket is the local end.
    run(flow->progs.fa_tc_ingress, to_server);
    run(flow->progs.fa_tc_egress, from_server);
    run(flow->progs.fa_tc_ingress,
        PacketBuilder().ethernet(kEthIpv4).ipv4(lo, lo, kProtoUdp).udp(9, socks.udp_port).build());
    // Nothing owns this port: the flow stays unattributed.
    run(flow->progs.fa_tc_ingress,
        PacketBuilder().ethernet(kEthIpv4).ipv4(lo, lo, kProtoUdp).udp(9, 1).build());

    const int flows = bpf_map__fd(flow->maps.fa_flows);
    fa_flow_stats tcp{}, udp{}, nobody{};
    const auto tcp_key = make_key(kProtoTcp, lo, socks.server_port, lo, socks.client_port);
    const auto udp_key = make_key(kProtoUdp, lo, socks.udp_port, lo, 9);
    const auto nobody_key = make_key(kProtoUdp, lo, 1, lo, 9);
    ASSERT_EQ(bpf_map_lookup_elem(flows, &tcp_key, &tcp), 0);
    ASSERT_EQ(bpf_map_lookup_elem(flows, &udp_key, &udp), 0);
    ASSERT_EQ(bpf_map_lookup_elem(flows, &nobody_key, &nobody), 0);
    EXPECT_EQ(std::memcmp(&tcp.identity, &server_id, sizeof(server_id)), 0) << tcp.identity.comm;
    EXPECT_EQ(tcp.packets[FA_DIR_INGRESS], 1u);
    EXPECT_EQ(tcp.packets[FA_DIR_EGRESS], 1u);
    EXPECT_EQ(std::memcmp(&udp.identity, &udp_id, sizeof(udp_id)), 0) << udp.identity.comm;
    EXPECT_EQ(nobody.identity.tgid, 0u);

    // The egress lookup alone: the flow forgotten, its first packet leaving.
    ASSERT_EQ(bpf_map_delete_elem(flows, &tcp_key), 0);
    run(flow->progs.fa_tc_egress, from_server);
    ASSERT_EQ(bpf_map_lookup_elem(flows, &tcp_key, &tcp), 0);
    EXPECT_EQ(std::memcmp(&tcp.identity, &server_id, sizeof(server_id)), 0) << tcp.identity.comm;

    // A flow first seen before its socket had an identity picks it up later.
    const auto client_key = make_key(kProtoTcp, lo, socks.client_port, lo, socks.server_port);
    run(flow->progs.fa_tc_ingress, from_server);
    ASSERT_EQ(bpf_map_lookup_elem(flows, &client_key, &tcp), 0);
    EXPECT_EQ(tcp.identity.tgid, 0u);
    ASSERT_EQ(bpf_map_update_elem(store(), &client_fd, &udp_id, BPF_NOEXIST), 0);
    run(flow->progs.fa_tc_ingress, from_server);
    ASSERT_EQ(bpf_map_lookup_elem(flows, &client_key, &tcp), 0);
    EXPECT_EQ(std::memcmp(&tcp.identity, &udp_id, sizeof(udp_id)), 0) << tcp.identity.comm;
    EXPECT_EQ(tcp.packets[FA_DIR_INGRESS], 2u);
}

// The cgroup v2 directory this process is in, under the cgroup2 mount.
std::string own_cgroup2_dir() {
    std::ifstream mounts("/proc/self/mounts");
    std::string dev, dir, type, rest, mount;
    while (mounts >> dev >> dir >> type && std::getline(mounts, rest))
        if (type == "cgroup2") {
            mount = dir;
            break;
        }
    if (mount.empty()) return {};
    std::ifstream cg("/proc/self/cgroup");
    std::string line;
    while (std::getline(cg, line))
        if (line.rfind("0::", 0) == 0) return mount + line.substr(3);
    return {};
}

// The userspace walk the agent uses where iter/task_file cannot load; it runs on every kernel.
TEST_F(IdentityTest, ProcWalkStampsExistingSocketsWithoutOverwriting) {
    const std::string cgroup_root = flowattr::agent::find_cgroup2_mount();
    if (cgroup_root.empty()) GTEST_SKIP() << "needs a cgroup2 mount";
    LoopbackSockets socks;
    ASSERT_TRUE(socks.open()) << std::strerror(errno);
    plant_hook_identity(socks.udp.get());
    UniqueFd unix_sock(socket(AF_UNIX, SOCK_STREAM, 0));

    flowattr::agent::ProcWalkResult walk;
    try {
        walk = flowattr::agent::stamp_sockets_from_proc(store(), cgroup_root);
    } catch (const flowattr::Error& e) {
        if (e.err() == ENOSYS) GTEST_SKIP() << e.what();
        FAIL() << e.what();
    }
    EXPECT_EQ(walk.unreachable, 0u) << walk.first_error;
    EXPECT_GE(walk.sockets, 4u);
    EXPECT_GE(walk.stamped, 3u);
    EXPECT_LT(walk.stamped, walk.sockets);

    struct stat cg {};
    ASSERT_EQ(stat(own_cgroup2_dir().c_str(), &cg), 0);
    for (int fd : {socks.listener.get(), socks.client.get(), socks.server.get()}) {
        fa_identity id{};
        ASSERT_TRUE(identity_of(fd, &id)) << "fd " << fd << " not stamped";
        expect_self(id, FA_ID_PROC_WALK);
        EXPECT_EQ(id.cgroup_id, std::uint64_t(cg.st_ino)) << "not bpf_get_current_cgroup_id()'s id";
        // The start time must pass the agent's pid-reuse check.
        EXPECT_TRUE(flowattr::agent::read_process_info(id.tgid, id.start_time_ns).alive);
    }
    expect_hook_identity_kept(socks.udp.get());
    fa_identity none{};
    EXPECT_FALSE(identity_of(unix_sock.get(), &none)) << "a unix socket has no flows to attribute";
}

bool write_file(const std::string& path, const std::string& text) {
    std::ofstream out(path);
    out << text;
    out.flush();
    return static_cast<bool>(out);
}

class SockCreateTest : public IdentityTest {
protected:
    void enable(identity_bpf* skel) override { bpf_program__set_autoload(skel->progs.fa_sock_create, true); }
};

// cgroup/sock_create attached to a fresh cgroup: a socket created while this process
// is inside is stamped with this process and that cgroup; nothing else runs there.
TEST_F(SockCreateTest, StampsSocketsCreatedInTheCgroup) {
    const std::string home = own_cgroup2_dir();
    if (home.empty()) GTEST_SKIP() << "needs a cgroup2 mount";
    const std::string dir = home + "/fa_sock_create_test_" + std::to_string(getpid());
    if (mkdir(dir.c_str(), 0755) != 0) GTEST_SKIP() << "cannot create " << dir << ": " << std::strerror(errno);
    struct stat st {};
    ASSERT_EQ(stat(dir.c_str(), &st), 0);
    UniqueFd cg(open(dir.c_str(), O_RDONLY | O_DIRECTORY));
    BpfLink link(bpf_program__attach_cgroup(identity_->progs.fa_sock_create, cg.get()));
    ASSERT_NE(link, nullptr) << std::strerror(errno);

    const bool moved = write_file(dir + "/cgroup.procs", std::to_string(getpid()));
    UniqueFd tcp(moved ? socket(AF_INET6, SOCK_STREAM, 0) : -1);
    if (moved) write_file(home + "/cgroup.procs", std::to_string(getpid()));
    link.reset();
    rmdir(dir.c_str());
    if (!moved) GTEST_SKIP() << "cannot move this process into " << dir;

    ASSERT_GE(tcp.get(), 0);
    fa_identity id{};
    ASSERT_TRUE(identity_of(tcp.get(), &id));
    expect_self(id, FA_ID_SOCK_CREATE);
    EXPECT_EQ(id.cgroup_id, static_cast<std::uint64_t>(st.st_ino)) << "cgroup v2 id is the directory's inode";
    const auto c = read_counters(bpf_map__fd(identity_->maps.fa_identity_counters));
    EXPECT_EQ(c[FA_CNT_IDENTITY_HOOK], 1u);
    EXPECT_EQ(c[FA_CNT_IDENTITY_STAMPED], 1u);
}

// Skips only where the LSM program cannot load for reasons outside this code: a
// kernel without BPF LSM, or a sandbox refusing LSM programs with EPERM (the 6.18
// development host). Any other load failure, e.g. the verifier, fails the test.
class LsmTest : public IdentityTest {
protected:
    void SetUp() override {
        FA_REQUIRE_ROOT();
        identity_.reset(identity_bpf__open());
        ASSERT_NE(identity_, nullptr);
        bpf_program__set_autoload(identity_->progs.fa_sock_create, false);
        bpf_program__set_autoload(identity_->progs.fa_stamp_task_sockets, false);
        const int err = identity_bpf__load(identity_.get());
        if (err == -EPERM) GTEST_SKIP() << "LSM programs refused with EPERM (sandboxed host)";
        // From the probe /init ran (or this process ran once): searching the kernel's 5 MB of
        // BTF for the hook's name here took most of this test's second under TCG.
        const flowattr::agent::KernelFeatures& features = fa::test::kernel_features();
        if (err != 0 && !features.has("prog.lsm")) {
            const auto* probed = features.find("prog.lsm");
            GTEST_SKIP() << "kernel built without BPF LSM: " << (probed ? probed->detail : "prog.lsm not probed");
        }
        ASSERT_EQ(err, 0) << "fa_socket_post_create does not load: " << std::strerror(-err);
    }
};

TEST_F(LsmTest, StampsNewSocketsWithTheCreatingProcess) {
    std::ifstream lsm("/sys/kernel/security/lsm");
    std::string active;
    std::getline(lsm, active);
    if (active.find("bpf") == std::string::npos) GTEST_SKIP() << "bpf is not an active LSM: " << active;
    const flowattr::agent::KernelFeatures& features = fa::test::kernel_features();
    if (!features.has("link.lsm")) GTEST_SKIP() << "LSM programs do not attach here: " << features.find("link.lsm")->detail;
    BpfLink link(bpf_program__attach_lsm(identity_->progs.fa_socket_post_create));
    ASSERT_NE(link, nullptr) << std::strerror(errno);
    UniqueFd udp(socket(AF_INET, SOCK_DGRAM, 0));
    UniqueFd unix_sock(socket(AF_UNIX, SOCK_STREAM, 0));
    link.reset();

    fa_identity id{};
    ASSERT_TRUE(identity_of(udp.get(), &id));
    expect_self(id, FA_ID_LSM);
    const auto c = read_counters(bpf_map__fd(identity_->maps.fa_identity_counters));
    EXPECT_GE(c[FA_CNT_IDENTITY_HOOK], 2u);
    EXPECT_GE(c[FA_CNT_IDENTITY_STAMPED], 1u);
}

}  // namespace
