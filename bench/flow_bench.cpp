// Datapath benchmark: ns per packet of the flow program against two baselines measured in
// the same run (a program that only returns TC_ACT_OK and a plain per-5-tuple counter), and
// the agent's peak RSS while it tracks a full flow table.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "agent/flow.h"
#include "agent/libbpf_support.h"
#include "counter.skel.h"
#include "flow.skel.h"
#include "noop.skel.h"
#include "packet_builder.h"

namespace {

using fa::test::PacketBuilder;

constexpr int kRepeat = 1000000;
constexpr int kNewFlows = 20000;

std::vector<std::uint8_t> tcp4(std::uint16_t sport) {
    return PacketBuilder()
        .ethernet(fa::test::kEthIpv4)
        .ipv4(fa::test::ipv4_addr("10.0.0.1"), fa::test::ipv4_addr("10.0.0.2"), fa::test::kProtoTcp)
        .tcp(sport, 80, fa::test::kTcpAck)
        .payload(64 - 54)
        .build();
}

std::vector<std::uint8_t> udp6() {
    return PacketBuilder()
        .ethernet(fa::test::kEthIpv6)
        .ipv6(fa::test::ipv6_addr("fd00::1"), fa::test::ipv6_addr("fd00::2"), fa::test::kProtoUdp)
        .udp(5353, 53)
        .payload(64 - 62)
        .build();
}

// Average in-kernel ns per run of PROG on PACKET, repeated REPEAT times.
double run_ns(int prog_fd, const std::vector<std::uint8_t>& packet, int repeat) {
    LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = packet.data(), .data_size_in = std::uint32_t(packet.size()),
                .repeat = repeat);
    if (bpf_prog_test_run_opts(prog_fd, &opts) != 0) {
        std::perror("bpf_prog_test_run_opts");
        std::exit(1);
    }
    return double(opts.duration);
}

long peak_rss_kib() {
    std::ifstream in("/proc/self/status");
    std::string line;
    while (std::getline(in, line))
        if (line.rfind("VmHWM:", 0) == 0) return std::stol(line.substr(6));
    return -1;
}

}  // namespace

int main(int argc, char** argv) {
    std::string out_dir = argc > 1 ? argv[1] : "out/bench";
    if (geteuid() != 0) {
        std::fprintf(stderr, "flowattr_bench: needs root (BPF_PROG_TEST_RUN)\n");
        return 1;
    }
    flowattr::agent::LibbpfLogCapture quiet;
    flowattr::agent::Skeleton<noop_bpf> noop(noop_bpf__open_and_load());
    flowattr::agent::Skeleton<counter_bpf> counter(counter_bpf__open_and_load());
    flowattr::agent::Skeleton<flow_bpf> flow(flow_bpf__open());
    if (!noop || !counter || !flow) {
        std::fprintf(stderr, "flowattr_bench: cannot load the programs:\n%s", quiet.text().c_str());
        return 1;
    }
    bpf_program__set_autoload(flow->progs.fa_tcx_ingress, false);
    bpf_program__set_autoload(flow->progs.fa_tcx_egress, false);
    bpf_program__set_autoload(flow->progs.fa_tc_ingress, false);
    if (flow_bpf__load(flow.get()) != 0) {
        std::fprintf(stderr, "flowattr_bench: cannot load the flow program:\n%s", quiet.text().c_str());
        return 1;
    }
    int flow_fd = bpf_program__fd(flow->progs.fa_tc_egress);

    auto existing_tcp = tcp4(40000);
    double noop_ns = run_ns(bpf_program__fd(noop->progs.fa_noop), existing_tcp, kRepeat);
    double counter_ns = run_ns(bpf_program__fd(counter->progs.fa_plain_counter), existing_tcp, kRepeat);
    run_ns(flow_fd, existing_tcp, 1);  // create the flow: the timed runs hit an existing entry
    double tcp_existing_ns = run_ns(flow_fd, existing_tcp, kRepeat);
    auto v6 = udp6();
    run_ns(flow_fd, v6, 1);
    double udp6_ns = run_ns(flow_fd, v6, kRepeat);
    // New flows: a different source port each time, one run each (in-kernel duration only).
    double new_total = 0;
    for (int i = 0; i < kNewFlows; i++) new_total += run_ns(flow_fd, tcp4(std::uint16_t(1024 + i)), 1);
    double new_flow_ns = new_total / kNewFlows;

    // Peak RSS of the agent's reading path with a full table of 65,536 flows.
    int flows_fd = bpf_map__fd(flow->maps.fa_flows);
    fa_flow_key key{};
    fa_flow_stats stats{};
    std::uint32_t capacity = bpf_map__max_entries(flow->maps.fa_flows);
    for (std::uint32_t i = 0; i < capacity; i++) {
        key.ifindex = 1;
        key.family = FA_AF_INET;
        key.proto = FA_PROTO_TCP;
        key.local_port = std::uint16_t(i);
        key.remote_port = std::uint16_t(i >> 16);
        bpf_map_update_elem(flows_fd, &key, &stats, BPF_ANY);
    }
    std::size_t read_back = 0;
    for (int pass = 0; pass < 3; pass++) read_back = flowattr::agent::read_flow_table(flows_fd).size();
    long rss_kib = peak_rss_kib();

    std::printf("flowattr datapath benchmark (BPF_PROG_TEST_RUN, repeat=%d, 64-byte frames)\n", kRepeat);
    std::printf("  %-34s %8.1f ns/packet\n", "baseline: return TC_ACT_OK", noop_ns);
    std::printf("  %-34s %8.1f ns/packet\n", "baseline: plain 5-tuple counter", counter_ns);
    std::printf("  %-34s %8.1f ns/packet  %.2fx counter  (target <= 100 ns, <= 1.5x)\n", "flow: existing IPv4/TCP",
                tcp_existing_ns, tcp_existing_ns / counter_ns);
    std::printf("  %-34s %8.1f ns/packet  %.2fx counter\n", "flow: existing IPv6/UDP", udp6_ns, udp6_ns / counter_ns);
    std::printf("  %-34s %8.1f ns/packet  %.2fx counter  (%d flows, one run each)\n", "flow: new IPv4/TCP flow",
                new_flow_ns, new_flow_ns / counter_ns, kNewFlows);
    std::printf("  %-34s %8ld KiB (%zu flows read back; target <= 65536 KiB)\n", "agent peak RSS", rss_kib, read_back);

    nlohmann::json j = {
        {"repeat", kRepeat},
        {"ns_per_packet",
         {{"noop", noop_ns},
          {"plain_counter", counter_ns},
          {"flow_existing_ipv4_tcp", tcp_existing_ns},
          {"flow_existing_ipv6_udp", udp6_ns},
          {"flow_new_ipv4_tcp", new_flow_ns}}},
        {"ratio_to_counter", {{"flow_existing_ipv4_tcp", tcp_existing_ns / counter_ns}, {"flow_existing_ipv6_udp", udp6_ns / counter_ns}}},
        {"agent_peak_rss_kib", rss_kib},
        {"flows_tracked", read_back},
    };
    mkdir("out", 0755);
    mkdir(out_dir.c_str(), 0755);
    std::ofstream(out_dir + "/results.json") << j.dump(2) << "\n";
    std::printf("written to %s/results.json\n", out_dir.c_str());
    return 0;
}
