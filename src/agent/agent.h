#pragma once
// The `flowattr run` pipeline: identity hook, pre-existing sockets, flow programs on each
// interface, cgroup accounting; then the reporting loop that joins the flow table with
// /proc. Tests drive the same object in-process.
#include <atomic>
#include <map>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "agent/cgroup_skb.h"
#include "agent/flow.h"
#include "agent/flow_record.h"
#include "agent/identity.h"
#include "agent/options.h"

namespace flowattr::agent {

struct AgentStatus {
    IdentityStatus identity;
    TcAttachMode tc_mode = TcAttachMode::clsact;
    std::string tc_reason;
    std::string preexisting_walk;  // how sockets older than the agent were found
    std::uint64_t preexisting_stamped = 0;
    std::string preexisting_error;  // non-empty: some pre-existing sockets are not attributed
    std::string cgroup_root;
    int leftover_filters_removed = 0;
};

class Agent {
public:
    // Probes, loads and attaches everything; throws flowattr::Error naming what failed.
    explicit Agent(const RunOptions& options);

    const AgentStatus& status() const { return status_; }
    std::string status_text() const;

    // Every flow in the table, joined with process details.
    std::vector<FlowRecord> collect();
    std::vector<CgroupUsage> cgroup_usage() const { return cgroups_->snapshot(); }
    std::uint64_t counter(fa_counter index) const { return flows_->counter(index); }
    int poll_events(int timeout_ms) { return flows_->poll(timeout_ms); }
    DatapathCounters counters() const;

    // The reporting loop: until `stop` is set or the duration passes.
    void run(std::ostream& out, const std::atomic<bool>& stop);

private:
    void report_interval(std::ostream& out, bool final_report);
    void on_event(const fa_flow_event& event);
    DatapathCounters counters_with(std::size_t flows_in_table) const;
    FlowRecord record_for(const fa_flow_key& key, const fa_flow_stats& stats);
    const ProcessInfo& process_for(const fa_identity& id);

    RunOptions options_;
    AgentStatus status_;
    std::unique_ptr<IdentityTracker> identity_;
    std::unique_ptr<FlowMonitor> flows_;
    std::unique_ptr<CgroupAccounting> cgroups_;
    std::map<std::pair<std::uint32_t, std::uint64_t>, ProcessInfo> processes_;
    std::map<std::string, std::uint64_t> reported_last_seen_;  // key bytes -> last_seen_ns
    std::uint64_t events_seen_ = 0;
    std::ostream* event_out_ = nullptr;  // JSON output while run() is running: events go here
};

// Converts a bpf_ktime_get_ns() (CLOCK_MONOTONIC) stamp to wall-clock ns.
std::uint64_t monotonic_to_unix_ns(std::uint64_t monotonic_ns);

}  // namespace flowattr::agent
