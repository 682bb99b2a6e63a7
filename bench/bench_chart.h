#pragma once
// out/bench/results.svg: the figures of out/bench/results.json as a chart a person would
// rather look at than read. Datapath ns per packet against its baselines, the ring-buffer
// consumer's events per second, connections per second attributed to the right pid,
// live-traffic throughput against no BPF and the noop hooks, the agent's memory with its full
// tables, and the kernel matrix as one bar per VM (boot, setup, tests). A panel whose figures
// the run did not produce says so instead of drawing zeros.
#include <string>

#include <nlohmann/json.hpp>

namespace fa::bench {

std::string results_svg(const nlohmann::json& results);

}  // namespace fa::bench
