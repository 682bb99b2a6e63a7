// out/bench/results.svg drawn from a results.json: every figure on its bar, each panel a run
// did not fill says so, and the SVG is one well-nested document.
#include <gtest/gtest.h>

#include <regex>
#include <string>
#include <vector>

#include "bench_chart.h"

namespace {

const char* const kResults = R"({
  "commit": "0123456789abcdef0123",
  "machine": {"cpu": "Test CPU", "cpus": 2, "kernel": "6.18.0"},
  "noop_ns": 33,
  "cases": [
    {"case": "existing IPv4/TCP", "counter_ns": 72, "flow_ns": 94, "ratio": 1.3055},
    {"case": "new IPv4/TCP flow", "counter_ns": 357.8, "flow_ns": 572.0, "ratio": 1.5986}
  ],
  "live": {
    "tcp_bulk_bits_per_s": {"ratio_noop_to_none": 0.91, "ratio_agent_to_none": 0.86, "ratio_agent_to_noop": 0.946},
    "udp_64_packets_per_s": {"ratio_noop_to_none": 0.83, "ratio_agent_to_none": 0.73, "ratio_agent_to_noop": 0.88,
                             "ratio_noop_veth_only_to_none": 0.9, "ratio_agent_no_cgroup_accounting_to_none": 0.81,
                             "ratio_agent_no_cgroup_accounting_to_noop_veth_only": 0.9}
  },
  "events": {"noted_events_per_s": 4100000, "json_events_per_s": 420000, "target_events_per_s": 3000000, "lost": 0},
  "churn": {"seconds_per_rate": 1, "rates": [
    {"asked_per_s": 1000, "made_per_s": 999, "connections": 1000, "right_pid": 1000, "events_lost": 0},
    {"asked_per_s": 20000, "made_per_s": 11222, "connections": 11232, "right_pid": 11230, "events_lost": 0}]},
  "table": [{"flows": 65536, "agent_peak_rss_mib": 21.8, "target_rss_mib": 32, "table_read_ms": 20.5}],
  "matrix": {"wall_s_j1": 179.4, "wall_s_j2": 103.8, "wall_s_default": 88.2, "kernels": {
    "6.1": {"qemu_to_init_s": 2.35, "init_to_first_test_s": 1.05, "vm_s": 38.6, "outcome": "pass"},
    "5.10": {"qemu_to_init_s": 5.06, "init_to_first_test_s": 0.80, "vm_s": 33.6, "outcome": "pass"}
  }}
})";

int count(const std::string& text, const std::string& what) {
    int n = 0;
    for (std::size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) n++;
    return n;
}

// Every element opened is closed in order (the chart writes no comments, CDATA or entities
// beyond the five XML ones).
bool well_nested(const std::string& svg) {
    std::vector<std::string> open;
    const std::regex tag("<(/?)([a-z]+)[^>]*?(/?)>");
    for (std::sregex_iterator it(svg.begin(), svg.end(), tag), end; it != end; ++it) {
        const std::string name = (*it)[2];
        if ((*it)[3] == "/") continue;
        if ((*it)[1] == "/") {
            if (open.empty() || open.back() != name) return false;
            open.pop_back();
        } else {
            open.push_back(name);
        }
    }
    return open.empty();
}

TEST(BenchChart, EveryFigureIsDrawnWithItsNumber) {
    const std::string svg = fa::bench::results_svg(nlohmann::json::parse(kResults));
    EXPECT_EQ(svg.rfind("<svg xmlns=\"http://www.w3.org/2000/svg\"", 0), 0u);
    EXPECT_TRUE(well_nested(svg)) << svg;
    EXPECT_NE(svg.find("commit 0123456789ab"), std::string::npos);
    EXPECT_NE(svg.find("Test CPU, 2 CPUs, kernel 6.18.0"), std::string::npos);
    // Datapath: both programs for each case, the ratio, the noop line.
    EXPECT_NE(svg.find(">72 ns<"), std::string::npos);
    EXPECT_NE(svg.find(">94 ns, 1.31x the counter<"), std::string::npos);
    EXPECT_NE(svg.find(">572 ns, 1.60x the counter<"), std::string::npos);
    EXPECT_NE(svg.find("noop: 33 ns"), std::string::npos);
    // Live traffic as percentages of no BPF.
    EXPECT_NE(svg.find(">86 %, 95 % of the noop hooks<"), std::string::npos);
    EXPECT_NE(svg.find(">83 %<"), std::string::npos);
    // Without the cgroup_skb hooks, where the run measured it (UDP here, not TCP).
    EXPECT_NE(svg.find(">81 %, 90 % of the veth noop<"), std::string::npos);
    EXPECT_EQ(count(svg, "(no cgroup acct.)</text>"), 1);
    // The consumer against its target.
    EXPECT_NE(svg.find(">0.42 M/s, 0 lost<"), std::string::npos);
    EXPECT_NE(svg.find("target 3 M/s"), std::string::npos);
    // Churn: each rate made, and how many got the right pid; a rate with a miss in red.
    EXPECT_NE(svg.find(">999/s made, 1000 of 1000 right pid, 0 lost<"), std::string::npos);
    EXPECT_NE(svg.find(">11222/s made, 11230 of 11232 right pid, 0 lost<"), std::string::npos);
    EXPECT_EQ(count(svg, "fill=\"#c62828\""), 1);
    // Memory against its target.
    EXPECT_NE(svg.find("21.8 MiB (target 32), table read 20 ms"), std::string::npos);
    // The matrix: one bar per VM in three segments, and the wall times.
    EXPECT_NE(svg.find("-j1 179 s, -j2 104 s, default -j 88 s"), std::string::npos);
    EXPECT_NE(svg.find("6.1 boot (QEMU start to /init): 2.35 s"), std::string::npos);
    EXPECT_NE(svg.find("5.10 tests: 27.74 s"), std::string::npos);
    EXPECT_NE(svg.find(">38.6 s, pass<"), std::string::npos);
    EXPECT_EQ(count(svg, "not measured"), 0);
}

// A run that only measured the datapath (no root for the live and memory benchmarks, no
// QEMU for the matrix) draws what it has and names what it has not.
TEST(BenchChart, PanelsWithoutFiguresSaySo) {
    nlohmann::json partial = nlohmann::json::parse(kResults);
    partial.erase("live");
    partial.erase("table");
    partial.erase("matrix");
    partial.erase("events");
    partial.erase("churn");
    const std::string svg = fa::bench::results_svg(partial);
    EXPECT_TRUE(well_nested(svg)) << svg;
    EXPECT_NE(svg.find(">94 ns, 1.31x the counter<"), std::string::npos);
    EXPECT_EQ(count(svg, "not measured in this run"), 5) << svg;
    EXPECT_EQ(svg.find("NaN"), std::string::npos);
}

TEST(BenchChart, TextIsEscaped) {
    nlohmann::json odd = nlohmann::json::parse(kResults);
    odd["cases"][0]["case"] = "a<b & \"c\"";
    const std::string svg = fa::bench::results_svg(odd);
    EXPECT_NE(svg.find("a&lt;b &amp; &quot;c&quot; (counter)"), std::string::npos);
    EXPECT_TRUE(well_nested(svg));
}

}  // namespace
