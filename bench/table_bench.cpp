// Flow-table benchmark: the memory of a real `flowattr run` (its VmHWM, not this process's)
// and the time to read its whole table, at the default 65,536 flows and at --max-flows
// 1000000. The agent runs on lo as a user would start it; its table is filled to the brim
// with synthetic flows through a batched update, and the agent reads, joins and prints them
// for a few intervals before its peak memory is taken. Then the agent's own CPU at its default
// interval while 10,000 flows change every second.
// Usage: flowattr_table_bench FLOWATTR OUT_DIR
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <net/if.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "agent/flow.h"
#include "common/clock.h"
#include "common/error.h"
#include "common/unique_fd.h"
#include "matrix/qemu_runner.h"
#include "bench_support.h"

namespace {

constexpr int kReadRounds = 3;
constexpr int kIntervalsBeforePeak = 4;

struct TableSize {
    std::uint32_t flows;
    double target_rss_mib;
    double target_read_ms;  // 0: none
};
constexpr TableSize kSizes[] = {{65536, 32, 0}, {1000000, 256, 1000}};

// The fa_flows map of the agent just started: the newest one with MAX_ENTRIES entries (an agent
// stopped just before may not have been freed yet).
flowattr::UniqueFd find_flow_table(std::uint32_t max_entries) {
    flowattr::UniqueFd found;
    for (std::uint32_t id = 0; bpf_map_get_next_id(id, &id) == 0;) {
        flowattr::UniqueFd fd(bpf_map_get_fd_by_id(id));
        if (!fd) continue;
        bpf_map_info info{};
        std::uint32_t len = sizeof(info);
        if (bpf_map_get_info_by_fd(fd.get(), &info, &len) == 0 && std::string(info.name) == "fa_flows" &&
            info.max_entries == max_entries)
            found = std::move(fd);
    }
    return found;
}

// The flow table of AGENT (COMMAND, for the error) once it has made it: MAX_ENTRIES entries.
flowattr::UniqueFd wait_for_flow_table(flowattr::matrix::ChildProcess& agent, std::uint32_t max_entries,
                                       const std::string& command) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    for (;;) {
        if (flowattr::UniqueFd table = find_flow_table(max_entries)) return table;
        if (agent.poll() || std::chrono::steady_clock::now() > deadline)
            throw flowattr::Error(command + " did not create its flow table within 30 s");
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
}

// N distinct TCP flows on lo, each with one packet each way just now; TICK is their last
// seen (in jiffies after their first): written again with a later TICK, every flow has changed
// for the agent, as if each had carried packets since.
void fill(int fd, std::uint32_t n, std::uint64_t tick = 0) {
    const std::uint32_t lo = if_nametoindex("lo");
    const std::uint64_t now = flowattr::clock_ns(CLOCK_MONOTONIC);
    constexpr std::uint32_t kChunk = 65536;
    std::vector<fa_flow_key> keys;
    std::vector<fa_flow_stats> values;
    for (std::uint32_t done = 0; done < n;) {
        keys.clear();
        values.clear();
        for (std::uint32_t i = done; i < n && keys.size() < kChunk; i++) {
            fa_flow_key k{};
            k.ifindex = lo;
            k.family = FA_AF_INET;
            k.proto = FA_PROTO_TCP;
            k.local_port = std::uint16_t(i);
            k.remote_port = std::uint16_t(40000 + (i >> 16));
            k.local_addr[0] = 127;
            k.local_addr[3] = 1;
            k.remote_addr[0] = 127;
            k.remote_addr[3] = 2;
            fa_flow_stats v{};
            v.packets[FA_DIR_INGRESS] = v.packets[FA_DIR_EGRESS] = 1;
            v.bytes[FA_DIR_INGRESS] = v.bytes[FA_DIR_EGRESS] = 64;
            v.first_seen_ns = now;
            v.last_seen_jiffies = tick;
            keys.push_back(k);
            values.push_back(v);
        }
        std::uint32_t count = std::uint32_t(keys.size());
        LIBBPF_OPTS(bpf_map_batch_opts, opts);
        if (bpf_map_update_batch(fd, keys.data(), values.data(), &count, &opts) != 0)
            throw flowattr::Error("cannot fill the flow table", errno);
        done += count;
    }
}

// `flowattr run` as a user starts it (default interval and table) while ACTIVE flows all change
// every second: its own CPU over kActiveIntervals intervals, after the first has printed them.
struct ActiveFlows {
    std::uint32_t flows = 10000;
    int intervals = 3;
    double interval_s = 5;  // flowattr run's default
    double target_cpu_percent = 2;
};

nlohmann::json measure_active_flows(const std::string& flowattr, const ActiveFlows& a) {
    constexpr std::uint32_t kDefaultMaxFlows = 65536;
    flowattr::matrix::ChildProcess agent({flowattr, "run", "--iface", "lo"}, "/dev/null", true);
    const flowattr::UniqueFd table = wait_for_flow_table(agent, kDefaultMaxFlows, "flowattr run");
    std::uint64_t tick = 1;
    fill(table.get(), a.flows, tick);
    std::this_thread::sleep_for(std::chrono::duration<double>(a.interval_s));
    const double cpu_before = fa::bench::cpu_seconds(agent.pid());
    const auto start = std::chrono::steady_clock::now();
    const auto end = start + std::chrono::duration<double>(a.intervals * a.interval_s);
    while (std::chrono::steady_clock::now() < end) {
        fill(table.get(), a.flows, ++tick);
        std::this_thread::sleep_for(std::chrono::seconds(1));
    }
    const double cpu_s = fa::bench::cpu_seconds(agent.pid()) - cpu_before;
    const double wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (agent.poll()) throw flowattr::Error("flowattr run exited while its flows were active");
    agent.terminate(10.0);
    const double percent = 100.0 * cpu_s / wall_s;
    std::printf("  %8u flows changing every second, default %.0f s interval: flowattr run %.2f %% of one core "
                "over %.0f s (target <= %.0f %%)\n",
                a.flows, a.interval_s, percent, wall_s, a.target_cpu_percent);
    return {{"flows", a.flows},         {"interval_s", a.interval_s}, {"seconds", wall_s},
            {"cpu_percent_of_one_core", percent}, {"target_cpu_percent", a.target_cpu_percent}};
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 3) {
        std::fprintf(stderr, "usage: flowattr_table_bench FLOWATTR OUT_DIR\n");
        return 2;
    }
    const std::string flowattr = argv[1], out_dir = argv[2];
    if (geteuid() != 0) {
        std::fprintf(stderr, "flowattr_table_bench: needs root (BPF)\n");
        return 1;
    }
    std::printf("flowattr flow-table benchmark (flowattr run on lo, table filled, %d intervals of 1 s, then its peak "
                "memory; reads timed in this process, median of %d)\n", kIntervalsBeforePeak, kReadRounds);
    nlohmann::json results = nlohmann::json::array();
    try {
        for (const TableSize& size : kSizes) {
            flowattr::matrix::ChildProcess agent({flowattr, "run", "--iface", "lo", "--max-flows",
                                                  std::to_string(size.flows), "--interval", "1"},
                                                 "/dev/null", true);
            const flowattr::UniqueFd table =
                wait_for_flow_table(agent, size.flows, "flowattr run --max-flows " + std::to_string(size.flows));
            fill(table.get(), size.flows);
            std::this_thread::sleep_for(std::chrono::seconds(kIntervalsBeforePeak));
            std::vector<double> reads;
            std::size_t read_back = 0;
            for (int i = 0; i < kReadRounds; i++) {
                const auto start = std::chrono::steady_clock::now();
                read_back = flowattr::agent::read_flow_table(table.get()).size();
                reads.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
            }
            const double rss_mib = double(fa::bench::vm_hwm_kib(agent.pid())) / 1024.0;
            if (agent.poll()) throw flowattr::Error("flowattr run exited while its table was full");
            agent.terminate(10.0);
            const double read_ms = fa::bench::median(reads);
            std::printf("  %8u flows: flowattr run peak RSS %7.1f MiB (target <= %.0f), whole-table read %7.1f ms%s, "
                        "%zu read back\n", size.flows, rss_mib, size.target_rss_mib, read_ms,
                        size.target_read_ms > 0 ? (" (target <= " + std::to_string(int(size.target_read_ms)) + ")").c_str()
                                                : "",
                        read_back);
            std::fflush(stdout);
            results.push_back({{"flows", size.flows},
                               {"agent_peak_rss_mib", rss_mib},
                               {"target_rss_mib", size.target_rss_mib},
                               {"table_read_ms", read_ms},
                               {"target_read_ms", size.target_read_ms},
                               {"read_back", read_back}});
        }
    } catch (const std::exception& e) {
        std::fprintf(stderr, "flowattr_table_bench: %s\n", e.what());
        return 1;
    }
    nlohmann::json active;
    try {
        active = measure_active_flows(flowattr, ActiveFlows{});
    } catch (const std::exception& e) {
        std::fprintf(stderr, "flowattr_table_bench: %s\n", e.what());
        return 1;
    }
    try {
        fa::bench::merge_result(out_dir + "/results.json", "table", results);
        fa::bench::merge_result(out_dir + "/results.json", "active_flows", active);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "flowattr_table_bench: %s\n", e.what());
        return 1;
    }
    std::printf("written to %s/results.json (\"table\")\n", out_dir.c_str());
    return 0;
}
