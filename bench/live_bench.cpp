// Live-traffic benchmark: what the agent costs a host carrying real traffic. Two network
// namespaces joined by a veth pair, iperf3 between them (TCP bulk, and UDP with 64-byte
// datagrams), in five modes that alternate round by round: no BPF at all, a noop program at
// the agent's hooks (TCX or clsact on both directions of both veth ends, and cgroup_skb on the
// cgroup root: the floor any agent at those hooks pays), `flowattr run` itself on both ends,
// and the same two without the cgroup_skb hooks (the noop on the veth ends only, `flowattr run
// --no-cgroup-accounting`): what a user who needs no per-cgroup records saves. Each figure is a median over rounds,
// and each ratio the median of the ratios within a round, since only figures from the same
// run compare on this shared machine. kernel.bpf_stats gives each program's average run time
// under that traffic, the noops' as well as the agent's: per hook, what the hook's floor costs
// and what the agent's program adds to it; /proc gives the agent's CPU use.
// Usage: flowattr_live_bench FLOWATTR OUT_DIR
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <net/if.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "agent/libbpf_support.h"
#include "agent/probe.h"
#include "common/error.h"
#include "common/subprocess.h"
#include "common/unique_fd.h"
#include "matrix/qemu_runner.h"
#include "noop.skel.h"
#include "bench_support.h"
#include "test_netns.h"

namespace {

constexpr int kRounds = 5;
constexpr int kSecondsPerRun = 4;

enum class Mode { bare, noop_hooks, agent, noop_veth, agent_flows_only };
constexpr Mode kModes[] = {Mode::bare, Mode::noop_hooks, Mode::agent, Mode::noop_veth, Mode::agent_flows_only};
constexpr int kModeCount = sizeof(kModes) / sizeof(kModes[0]);
const char* mode_name(Mode m) {
    switch (m) {
    case Mode::bare: return "no BPF";
    case Mode::noop_hooks: return "noop at the hooks";
    case Mode::agent: return "flowattr run";
    case Mode::noop_veth: return "noop, veth only";
    case Mode::agent_flows_only: return "flowattr, no cgroup";
    }
    return "";
}
bool is_agent(Mode m) { return m == Mode::agent || m == Mode::agent_flows_only; }
bool is_noop(Mode m) { return m == Mode::noop_hooks || m == Mode::noop_veth; }

enum class Traffic { tcp_bulk, udp_64 };
constexpr Traffic kTraffic[] = {Traffic::tcp_bulk, Traffic::udp_64};
const char* traffic_name(Traffic t) { return t == Traffic::tcp_bulk ? "TCP bulk (bits/s)" : "UDP 64 B (packets/s)"; }
const char* traffic_key(Traffic t) { return t == Traffic::tcp_bulk ? "tcp_bulk_bits_per_s" : "udp_64_packets_per_s"; }

// `nsenter --net=NS ARGV...`: the namespaces are held by this process's fds, named by path.
std::vector<std::string> in_netns(const fa::test::NetNs& ns, std::vector<std::string> argv) {
    argv.insert(argv.begin(), {"nsenter", "--net=" + ns.path()});
    return argv;
}

// One iperf3 run from the client namespace; the received rate (bits/s for TCP, datagrams/s
// for UDP) from its JSON report.
double run_iperf(const fa::test::VethPair& topo, Traffic traffic) {
    std::vector<std::string> argv = {"iperf3", "-c", "10.231.0.2", "-t", std::to_string(kSecondsPerRun), "-J"};
    if (traffic == Traffic::udp_64) argv.insert(argv.end(), {"-u", "-l", "64", "-b", "0"});
    const flowattr::RunResult r = flowattr::check_command(in_netns(topo.client, argv), "iperf3 client");
    const nlohmann::json report = nlohmann::json::parse(r.out);
    const nlohmann::json& end = report.at("end");
    if (traffic == Traffic::tcp_bulk) return end.at("sum_received").at("bits_per_second").get<double>();
    const nlohmann::json& sum = end.at("sum");
    const double received = sum.at("packets").get<double>() - sum.at("lost_packets").get<double>();
    return received / sum.at("seconds").get<double>();
}

// Where a program runs. The noop sits on both directions of a veth end as one program (its run
// time is both directions' average); each of the agent's flow programs on one.
enum class Hook { veth, veth_ingress, veth_egress, cgroup_ingress, cgroup_egress, other };
const char* hook_name(Hook h) {
    switch (h) {
    case Hook::veth: return "veth, both directions";
    case Hook::veth_ingress: return "veth ingress";
    case Hook::veth_egress: return "veth egress";
    case Hook::cgroup_ingress: return "cgroup_skb ingress";
    case Hook::cgroup_egress: return "cgroup_skb egress";
    case Hook::other: return "other";
    }
    return "";
}

// The hook an agent program runs at, by its name (as the kernel keeps it, cut to 15 characters).
Hook agent_hook(const std::string& name) {
    const bool flow = name.rfind("fa_tc_", 0) == 0 || name.rfind("fa_tcx_", 0) == 0;
    const bool cgroup = name.rfind("fa_cgroup_", 0) == 0;
    const bool ingress = name.find("_ingr") != std::string::npos, egress = name.find("_egr") != std::string::npos;
    if (flow && ingress) return Hook::veth_ingress;
    if (flow && egress) return Hook::veth_egress;
    if (cgroup && ingress) return Hook::cgroup_ingress;
    if (cgroup && egress) return Hook::cgroup_egress;
    return Hook::other;
}

// The noop programs at the hooks the agent uses: on both directions of one interface inside
// NS, a TCX link where the kernel has TCX (as the agent picks it), else a clsact filter; and
// when CGROUP_ROOT is given, cgroup_skb ingress and egress there. Everything goes again with
// the object.
class NoopHooks {
public:
    NoopHooks(const fa::test::NetNs& ns, const std::string& ifname, bool tcx, const std::string& cgroup_root)
        : ns_(ns), tcx_(tcx) {
        if (!skel_) throw flowattr::Error("cannot load noop.bpf.o", errno, log_.text());
        ns_.enter([&] {
            ifindex_ = int(if_nametoindex(ifname.c_str()));
            if (tcx_) {
                // bpf_program__attach_tcx takes the direction from the program's section, which
                // for SEC("tc") has none: the links are made with the direction named.
                for (int direction : {flowattr::agent::kBpfTcxIngress, flowattr::agent::kBpfTcxEgress}) {
                    flowattr::UniqueFd link(bpf_link_create(bpf_program__fd(skel_->progs.fa_noop), ifindex_,
                                                            static_cast<bpf_attach_type>(direction), nullptr));
                    if (!link) throw flowattr::Error("cannot attach a TCX noop to " + ifname, errno);
                    tcx_links_.push_back(std::move(link));
                }
                return;
            }
            LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex_, .attach_point = BPF_TC_INGRESS);
            flowattr::agent::check_libbpf(bpf_tc_hook_create(&hook), "clsact on " + ifname, log_);
            for (bpf_tc_attach_point point : {BPF_TC_INGRESS, BPF_TC_EGRESS}) {
                hook.attach_point = point;
                LIBBPF_OPTS(bpf_tc_opts, opts, .prog_fd = bpf_program__fd(skel_->progs.fa_noop));
                flowattr::agent::check_libbpf(bpf_tc_attach(&hook, &opts), "noop filter on " + ifname, log_);
            }
        });
        if (!cgroup_root.empty()) {
            flowattr::UniqueFd cgroup(open(cgroup_root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
            if (!cgroup) throw flowattr::Error("cannot open " + cgroup_root, errno);
            cgroup_ingress_.reset(bpf_program__attach_cgroup(skel_->progs.fa_noop_cgroup_ingress, cgroup.get()));
            cgroup_egress_.reset(bpf_program__attach_cgroup(skel_->progs.fa_noop_cgroup_egress, cgroup.get()));
            if (!cgroup_ingress_ || !cgroup_egress_)
                throw flowattr::Error("cannot attach the cgroup_skb noops to " + cgroup_root, errno, log_.text());
        }
    }
    ~NoopHooks() {
        if (tcx_) return;  // the links go with their fds
        ns_.enter([&] {
            LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex_,
                        .attach_point = static_cast<bpf_tc_attach_point>(BPF_TC_INGRESS | BPF_TC_EGRESS));
            bpf_tc_hook_destroy(&hook);
        });
    }
    NoopHooks(const NoopHooks&) = delete;
    NoopHooks& operator=(const NoopHooks&) = delete;

    // The noop programs by the hook each sits on, for their run times. The cgroup_skb pair's
    // names are one name to the kernel (cut to 15 characters), so they are told apart here.
    std::vector<std::pair<Hook, int>> programs() const {
        std::vector<std::pair<Hook, int>> out = {{Hook::veth, bpf_program__fd(skel_->progs.fa_noop)}};
        if (cgroup_ingress_) out.push_back({Hook::cgroup_ingress, bpf_program__fd(skel_->progs.fa_noop_cgroup_ingress)});
        if (cgroup_egress_) out.push_back({Hook::cgroup_egress, bpf_program__fd(skel_->progs.fa_noop_cgroup_egress)});
        return out;
    }

private:
    const fa::test::NetNs& ns_;
    bool tcx_;
    flowattr::agent::LibbpfLogCapture log_;
    flowattr::agent::Skeleton<noop_bpf> skel_{noop_bpf__open_and_load()};
    std::vector<flowattr::UniqueFd> tcx_links_;  // closing a link's fd detaches it
    flowattr::agent::BpfLink cgroup_ingress_, cgroup_egress_;
    int ifindex_ = 0;
};

// A program's run time and count so far (kernel.bpf_stats), by program id.
struct ProgramStats {
    std::string name;
    Hook hook = Hook::other;
    std::uint64_t run_time_ns = 0, run_cnt = 0;
};
using ProgramStatsById = std::map<std::uint32_t, ProgramStats>;

std::optional<bpf_prog_info> program_info(int fd) {
    bpf_prog_info info{};
    std::uint32_t len = sizeof(info);
    if (bpf_prog_get_info_by_fd(fd, &info, &len) != 0) return std::nullopt;
    return info;
}

// Every loaded program whose name starts with "fa_": the agent's, while it runs.
ProgramStatsById agent_program_stats() {
    ProgramStatsById out;
    for (std::uint32_t id = 0; bpf_prog_get_next_id(id, &id) == 0;) {
        flowattr::UniqueFd fd(bpf_prog_get_fd_by_id(id));
        if (!fd) continue;
        const auto info = program_info(fd.get());
        if (!info) continue;
        const std::string name = info->name;
        if (name.rfind("fa_", 0) == 0) out[id] = {name, agent_hook(name), info->run_time_ns, info->run_cnt};
    }
    return out;
}

ProgramStatsById noop_program_stats(const std::vector<const NoopHooks*>& hooks) {
    ProgramStatsById out;
    for (const NoopHooks* h : hooks)
        for (const auto& [hook, fd] : h->programs())
            if (const auto info = program_info(fd)) out[info->id] = {info->name, hook, info->run_time_ns, info->run_cnt};
    return out;
}

// Run time and runs summed over the runs of one mode, per KEY (a program's name, a hook).
struct RunTime {
    std::uint64_t ns = 0, runs = 0;
    double per_run() const { return runs ? double(ns) / double(runs) : 0; }
};
template <typename Key, typename KeyOf>
void add_run_times(std::map<Key, RunTime>& totals, const ProgramStatsById& before, const ProgramStatsById& after,
                   KeyOf key_of) {
    for (const auto& [id, now] : after) {
        const auto was = before.find(id);
        if (was == before.end()) continue;
        RunTime& total = totals[key_of(now)];
        total.ns += now.run_time_ns - was->second.run_time_ns;
        total.runs += now.run_cnt - was->second.run_cnt;
    }
}

// `flowattr run` on both veth ends (with EXTRA_ARGS), started and stopped like a user would;
// ready once both namespaces' flow programs are loaded.
class AgentProcess {
public:
    AgentProcess(const std::string& flowattr, const fa::test::VethPair& topo, const std::vector<std::string>& extra_args)
        : process_(agent_argv(flowattr, topo, extra_args), "/dev/null", true) {
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
        for (;;) {
            int egress = 0;
            for (const auto& [id, p] : agent_program_stats()) egress += p.name.find("egress") != std::string::npos;
            if (egress >= 2) break;
            if (process_.poll() || std::chrono::steady_clock::now() > deadline)
                throw flowattr::Error("flowattr run did not attach to both veth ends within 30 s");
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(500));  // its first interval's set-up
    }
    ~AgentProcess() { process_.terminate(5.0); }
    pid_t pid() const { return process_.pid(); }

private:
    static std::vector<std::string> agent_argv(const std::string& flowattr, const fa::test::VethPair& topo,
                                               const std::vector<std::string>& extra_args) {
        std::vector<std::string> argv = {flowattr, "run", "--iface", topo.client_if + "@" + topo.client.path(),
                                         "--iface", topo.server_if + "@" + topo.server.path(), "--interval", "5"};
        argv.insert(argv.end(), extra_args.begin(), extra_args.end());
        return argv;
    }

    flowattr::matrix::ChildProcess process_;
};

struct Run {
    Mode mode;
    Traffic traffic;
    int round;
    double rate;
};

}  // namespace

int main(int argc, char** argv) {
    if (argc != 3) {
        std::fprintf(stderr, "usage: flowattr_live_bench FLOWATTR OUT_DIR\n");
        return 2;
    }
    const std::string flowattr = argv[1], out_dir = argv[2];
    if (geteuid() != 0) {
        std::fprintf(stderr, "flowattr_live_bench: needs root (namespaces, BPF)\n");
        return 1;
    }
    try {
        flowattr::check_command({"iperf3", "--version"}, "iperf3 (make deps installs it)");
        // The hooks the agent will pick: TCX where the kernel has it, and cgroup_skb on the
        // cgroup2 mount; the noop baseline sits on the same ones.
        const bool tcx = flowattr::agent::probe_tcx().available;
        const std::string cgroup_root = flowattr::agent::find_cgroup2_mount();
        fa::test::VethPair topo(0, 0);
        flowattr::matrix::ChildProcess server(in_netns(topo.server, {"iperf3", "-s", "-B", "10.231.0.2"}), "/dev/null",
                                              true);
        std::this_thread::sleep_for(std::chrono::milliseconds(500));
        // kernel.bpf_stats_enabled while this fd is open: run_time_ns and run_cnt per program.
        flowattr::UniqueFd stats(bpf_enable_stats(BPF_STATS_RUN_TIME));
        if (!stats) throw flowattr::Error("cannot enable BPF run-time statistics", errno);

        std::printf("flowattr live-traffic benchmark (veth between two namespaces, iperf3 %d s per run, %d rounds, "
                    "modes alternating; noop hooks: %s on both veth ends%s)\n",
                    kSecondsPerRun, kRounds, tcx ? "TCX" : "clsact",
                    cgroup_root.empty() ? "" : (", cgroup_skb on " + cgroup_root).c_str());
        std::vector<Run> runs;
        std::map<std::string, RunTime> agent_run_times;  // by program name, the default agent's
        std::map<Hook, RunTime> noop_run_times;
        double agent_cpu_s = 0, agent_wall_s = 0;
        for (int round = 0; round < kRounds; round++) {
            for (int i = 0; i < kModeCount; i++) {
                const Mode mode = kModes[(round + i) % kModeCount];  // each round starts with another mode
                std::optional<NoopHooks> client_hooks, server_hooks;
                std::optional<AgentProcess> agent;
                if (is_noop(mode)) {
                    client_hooks.emplace(topo.client, topo.client_if, tcx, mode == Mode::noop_hooks ? cgroup_root : "");
                    server_hooks.emplace(topo.server, topo.server_if, tcx, "");
                } else if (is_agent(mode)) {
                    agent.emplace(flowattr, topo,
                                  mode == Mode::agent_flows_only ? std::vector<std::string>{"--no-cgroup-accounting"}
                                                                 : std::vector<std::string>{});
                }
                auto program_stats = [&] {
                    if (is_agent(mode)) return agent_program_stats();
                    if (is_noop(mode)) return noop_program_stats({&*client_hooks, &*server_hooks});
                    return ProgramStatsById{};
                };
                for (Traffic traffic : kTraffic) {
                    const ProgramStatsById before = program_stats();
                    const double cpu_before = mode == Mode::agent ? fa::bench::cpu_seconds(agent->pid()) : 0;
                    const auto start = std::chrono::steady_clock::now();
                    const double rate = run_iperf(topo, traffic);
                    runs.push_back({mode, traffic, round, rate});
                    const ProgramStatsById after = program_stats();
                    if (mode == Mode::noop_hooks)
                        add_run_times(noop_run_times, before, after, [](const ProgramStats& p) { return p.hook; });
                    if (mode == Mode::agent) {
                        agent_cpu_s += fa::bench::cpu_seconds(agent->pid()) - cpu_before;
                        agent_wall_s += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
                        add_run_times(agent_run_times, before, after, [](const ProgramStats& p) { return p.name; });
                    }
                    std::printf("  round %d  %-18s %-22s %14.0f\n", round + 1, mode_name(mode), traffic_name(traffic),
                                rate);
                    std::fflush(stdout);
                }
            }
        }

        nlohmann::json results = {{"seconds_per_run", kSecondsPerRun},
                                  {"rounds", kRounds},
                                  {"noop_hooks", {{"veth", tcx ? "tcx" : "clsact"}, {"cgroup_skb", cgroup_root}}}};
        // Each ratio the median of the ratios within a round (A over B of the same round).
        std::printf("\n  %-22s %14s %14s %14s %10s %10s %10s\n", "traffic", "no BPF", "noop hooks", "flowattr",
                    "noop/none", "agent/none", "agent/noop");
        std::printf("  %-22s %14s %14s %14s %10s %10s %10s\n", "  without cgroup_skb", "", "noop, veth", "no cgroup",
                    "noop/none", "agent/none", "agent/noop");
        for (Traffic traffic : kTraffic) {
            std::map<Mode, std::vector<double>> rates;
            std::vector<std::map<Mode, double>> by_round;
            for (int round = 0; round < kRounds; round++) {
                std::map<Mode, double>& in_round = by_round.emplace_back();
                for (const Run& r : runs)
                    if (r.traffic == traffic && r.round == round) in_round[r.mode] = r.rate;
                for (const auto& [mode, rate] : in_round) rates[mode].push_back(rate);
            }
            using fa::bench::median;
            auto ratio = [&](Mode a, Mode b) {
                std::vector<double> each;
                for (auto& in_round : by_round) each.push_back(in_round[a] / in_round[b]);
                return median(each);
            };
            auto rate = [&](Mode m) { return median(rates[m]); };
            const double noop_to_none = ratio(Mode::noop_hooks, Mode::bare), agent_to_none = ratio(Mode::agent, Mode::bare),
                         agent_to_noop = ratio(Mode::agent, Mode::noop_hooks);
            const double veth_to_none = ratio(Mode::noop_veth, Mode::bare),
                         flows_only_to_none = ratio(Mode::agent_flows_only, Mode::bare),
                         flows_only_to_veth = ratio(Mode::agent_flows_only, Mode::noop_veth);
            std::printf("  %-22s %14.0f %14.0f %14.0f %9.3fx %9.3fx %9.3fx\n", traffic_name(traffic), rate(Mode::bare),
                        rate(Mode::noop_hooks), rate(Mode::agent), noop_to_none, agent_to_none, agent_to_noop);
            const double flows_only_to_agent = ratio(Mode::agent_flows_only, Mode::agent);
            std::printf("  %-22s %14s %14.0f %14.0f %9.3fx %9.3fx %9.3fx  (%.3fx the default agent)\n", "", "",
                        rate(Mode::noop_veth), rate(Mode::agent_flows_only), veth_to_none, flows_only_to_none,
                        flows_only_to_veth, flows_only_to_agent);
            results[traffic_key(traffic)] = {
                {"no_bpf", rate(Mode::bare)},
                {"noop_hooks", rate(Mode::noop_hooks)},
                {"agent", rate(Mode::agent)},
                {"ratio_noop_to_none", noop_to_none},
                {"ratio_agent_to_none", agent_to_none},
                {"ratio_agent_to_noop", agent_to_noop},
                {"noop_veth_only", rate(Mode::noop_veth)},
                {"agent_no_cgroup_accounting", rate(Mode::agent_flows_only)},
                {"ratio_noop_veth_only_to_none", veth_to_none},
                {"ratio_agent_no_cgroup_accounting_to_none", flows_only_to_none},
                {"ratio_agent_no_cgroup_accounting_to_noop_veth_only", flows_only_to_veth},
                {"ratio_agent_no_cgroup_accounting_to_agent", flows_only_to_agent},
            };
        }
        // Per program and per hook: the agent's program against the noop at the same hook, the
        // difference what the program adds (both include what bpf_stats itself costs a run).
        nlohmann::json programs = nlohmann::json::object(), hooks = nlohmann::json::array();
        std::printf("\n  run time per packet under that traffic (kernel.bpf_stats), agent against the noop at its hook:\n");
        std::printf("  %-20s %-16s %10s %10s %10s %12s\n", "hook", "program", "ns/run", "noop", "added", "runs");
        std::vector<std::pair<Hook, std::string>> rows;  // in the order of the hooks
        for (const auto& [name, total] : agent_run_times) rows.emplace_back(agent_hook(name), name);
        std::sort(rows.begin(), rows.end());
        for (const auto& [hook, name] : rows) {
            const RunTime& total = agent_run_times[name];
            const Hook noop_hook = hook == Hook::veth_ingress || hook == Hook::veth_egress ? Hook::veth : hook;
            const auto noop = noop_run_times.find(noop_hook);
            programs[name] = {{"ns_per_run", total.per_run()}, {"runs", total.runs}};
            if (noop == noop_run_times.end()) {
                std::printf("  %-20s %-16s %10.1f %10s %10s %12llu\n", hook_name(hook), name.c_str(), total.per_run(), "-",
                            "-", static_cast<unsigned long long>(total.runs));
                continue;
            }
            const double added = total.per_run() - noop->second.per_run();
            std::printf("  %-20s %-16s %10.1f %10.1f %+10.1f %12llu\n", hook_name(hook), name.c_str(), total.per_run(),
                        noop->second.per_run(), added, static_cast<unsigned long long>(total.runs));
            hooks.push_back({{"hook", hook_name(hook)},
                             {"program", name},
                             {"ns_per_run", total.per_run()},
                             {"noop_ns_per_run", noop->second.per_run()},
                             {"added_ns_per_run", added}});
        }
        const double cpu_percent = agent_wall_s > 0 ? 100.0 * agent_cpu_s / agent_wall_s : 0;
        std::printf("  flowattr run CPU: %.2f %% of one core during the runs\n", cpu_percent);
        results["programs"] = programs;
        results["hooks"] = hooks;
        results["agent_cpu_percent_of_one_core"] = cpu_percent;
        fa::bench::merge_result(out_dir + "/results.json", "live", results);
        std::printf("written to %s/results.json (\"live\")\n", out_dir.c_str());
    } catch (const std::exception& e) {
        std::fprintf(stderr, "flowattr_live_bench: %s\n", e.what());
        return 1;
    }
    return 0;
}
