// Ring-buffer consumer benchmark: how many flow events per second the agent's own consumer
// handles. An Agent (the product, in this process) watches lo; its flow program, found by
// name among the loaded programs, is fed new 5-tuples with BPF_PROG_TEST_RUN until its ring
// buffer holds a round of events, while the agent is not polling; then one poll_events()
// drains them, timed: once noting each flow only, once also printing each as `flowattr run
// -o json` does (with the counters the event carries, written to /dev/null). The fed packets
// are addressed to a listening socket this process opens after the agent started, so the
// flow program finds the socket's identity and every printed line carries this process, as a
// user's lines do (checked before the rounds: a line without it fails the benchmark). The ring buffer is
// filled before the clock starts, so the producer's speed (a syscall per new flow) never
// limits the figure. Events lost to a full ring are read from the agent's counters and must
// stay 0.
// Usage: flowattr_events_bench OUT_DIR
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "agent/agent.h"
#include "agent/libbpf_support.h"
#include "common/error.h"
#include "common/unique_fd.h"
#include "bench_support.h"
#include "packet_builder.h"

namespace {

constexpr int kRounds = 31;            // per mode, alternating; medians reported
constexpr int kEventsPerRound = 20000;  // five sixths of what the 4 MiB ring holds
constexpr double kTargetEventsPerS = 3e6;

// The newest loaded program called NAME (the agent's, loaded just before).
flowattr::UniqueFd newest_program(const std::string& name) {
    flowattr::UniqueFd found;
    for (std::uint32_t id = 0; bpf_prog_get_next_id(id, &id) == 0;) {
        flowattr::UniqueFd fd(bpf_prog_get_fd_by_id(id));
        if (!fd) continue;
        bpf_prog_info info{};
        std::uint32_t len = sizeof(info);
        if (bpf_prog_get_info_by_fd(fd.get(), &info, &len) == 0 && name == info.name) found = std::move(fd);
    }
    return found;
}

// One packet of a flow nobody has seen, to the listener's PORT: source
// 10.<round>.<i/256>.<i%256>, port 40000.
std::vector<std::uint8_t> new_flow_packet(int round, int i, std::uint16_t port) {
    const fa::test::Ipv4Addr saddr{10, std::uint8_t(round), std::uint8_t(i >> 8), std::uint8_t(i)};
    return fa::test::PacketBuilder()
        .ethernet(fa::test::kEthIpv4)
        .ipv4(saddr, fa::test::ipv4_addr("10.255.0.1"), fa::test::kProtoTcp)
        .tcp(40000, port, fa::test::kTcpAck)
        .payload(10)
        .build();
}

void fill(int prog_fd, int round, std::uint16_t port, int events = kEventsPerRound) {
    for (int i = 0; i < events; i++) {
        const std::vector<std::uint8_t> packet = new_flow_packet(round, i, port);
        LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = packet.data(), .data_size_in = std::uint32_t(packet.size()),
                    .repeat = 1);
        if (bpf_prog_test_run_opts(prog_fd, &opts) != 0) throw flowattr::Error("BPF_PROG_TEST_RUN on the flow program", errno);
    }
}

// Seconds for one poll_events() to drain a full round; throws when the round did not all arrive.
double drain(flowattr::agent::Agent& agent, std::ostream* json_out) {
    const auto start = std::chrono::steady_clock::now();
    int handled = 0;
    while (handled < kEventsPerRound) {
        const int n = agent.poll_events(0, json_out);
        if (n == 0) break;
        handled += n;
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (handled != kEventsPerRound)
        throw flowattr::Error("the agent handled " + std::to_string(handled) + " of " + std::to_string(kEventsPerRound) +
                              " events");
    return seconds;
}

}  // namespace

int main(int argc, char** argv) {
    const std::string out_dir = argc > 1 ? argv[1] : "out/bench";
    if (geteuid() != 0) {
        std::fprintf(stderr, "flowattr_events_bench: needs root (an agent on lo, BPF_PROG_TEST_RUN)\n");
        return 1;
    }
    try {
        flowattr::agent::RunOptions options;
        options.interfaces = {flowattr::agent::InterfaceSpec{"lo", ""}};
        options.interval_s = 3600;  // no report in the way: only the consumer is measured
        flowattr::agent::Agent agent(options);
        flowattr::UniqueFd prog = newest_program(agent.status().tc_mode == flowattr::agent::TcAttachMode::tcx
                                                      ? "fa_tcx_ingress"
                                                      : "fa_tc_ingress");
        if (!prog) throw flowattr::Error("cannot find the agent's flow program among the loaded programs");
        // Listening on every address, opened once the agent's identity hook is in place: the
        // flow program's socket lookup finds it for a packet to its port from anywhere.
        const fa::bench::ListeningSocket listener = fa::bench::listen_tcp(htonl(INADDR_ANY), 16);
        // One event printed for real first: its line must name this process, or the rounds would
        // time lines without the process details a user's lines carry. Its source (10.255.x.x)
        // is one no round uses.
        fill(prog.get(), 255, listener.port, 1);
        std::ostringstream probe_line;
        const bool one_line = agent.poll_events(1000, &probe_line) == 1;
        const nlohmann::json line = nlohmann::json::parse(probe_line.str(), nullptr, false);
        const bool names_this_process = line.is_object() && line["process"].is_object() &&
                                        line["process"].value("pid", 0) == getpid();
        if (!one_line || !names_this_process)
            throw flowattr::Error("the fed packet's flow_start line does not name this process (pid " +
                                  std::to_string(getpid()) + "): " + probe_line.str());
        std::ofstream devnull("/dev/null");
        const std::uint64_t lost_before = agent.counter(FA_CNT_RINGBUF_DROPS);

        std::vector<double> note_only, json;
        for (int round = 0; round < 2 * kRounds; round++) {
            // Untimed: an interval's report, as the agent makes every interval, sweeps its own
            // table of the flows the kernel's LRU has evicted, so it stays the size of a
            // running agent's rather than growing by every round's flows.
            agent.report_interval(devnull, false);
            fill(prog.get(), round, listener.port);
            // Alternate which mode a round measures, so drift on this shared machine hits both.
            const bool with_json = (round % 2) == (round / 2 % 2);
            (with_json ? json : note_only).push_back(kEventsPerRound / drain(agent, with_json ? &devnull : nullptr));
        }
        const std::uint64_t lost = agent.counter(FA_CNT_RINGBUF_DROPS) - lost_before;
        const double json_rate = fa::bench::median(json), note_rate = fa::bench::median(note_only);
        std::printf("ring-buffer consumer (%d rounds of %d events each mode): %.2f M events/s noted, %.2f M events/s "
                    "printed as JSON (target %.0f M), %llu lost\n",
                    kRounds, kEventsPerRound, note_rate / 1e6, json_rate / 1e6, kTargetEventsPerS / 1e6,
                    static_cast<unsigned long long>(lost));
        fa::bench::merge_result(out_dir + "/results.json", "events",
                                {{"rounds", kRounds},
                                 {"events_per_round", kEventsPerRound},
                                 {"noted_events_per_s", note_rate},
                                 {"json_events_per_s", json_rate},
                                 {"target_events_per_s", kTargetEventsPerS},
                                 {"lost", lost}});
        return lost == 0 ? 0 : 1;
    } catch (const flowattr::Error& e) {
        std::fprintf(stderr, "flowattr_events_bench: %s\n", e.what());
        return 1;
    }
}
