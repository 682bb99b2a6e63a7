#pragma once
// The `flowattr run` pipeline: identity hook, pre-existing sockets, flow programs on each
// interface, cgroup accounting; then the reporting loop that joins the flow table with
// /proc. Tests drive the same object in-process.
#include <atomic>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include <absl/container/flat_hash_map.h>

#include "agent/cgroup_skb.h"
#include "agent/flow.h"
#include "agent/flow_record.h"
#include "agent/identity.h"
#include "agent/options.h"
#include "agent/private_mount.h"

namespace flowattr::agent {

struct AgentStatus {
    IdentityStatus identity;
    TcAttachMode tc_mode = TcAttachMode::clsact;
    std::string tc_reason;
    std::string preexisting_walk;  // how sockets older than the agent were found
    std::uint64_t preexisting_stamped = 0;
    std::string preexisting_error;  // non-empty: some pre-existing sockets are not attributed
    std::string cgroup_root;
    bool cgroup_mounted_privately = false;  // no cgroup2 was visible: the agent mounted its own
    int leftover_filters_removed = 0;
    int leftover_qdiscs_removed = 0;
};

// Per-flow bookkeeping keyed by the flow key itself: its 44 bytes (no padding) hashed and
// compared whole, with no string per entry, as a million-flow table needs.
struct FlowKeyHash {
    std::size_t operator()(const fa_flow_key& key) const {
        return std::hash<std::string_view>{}(std::string_view(reinterpret_cast<const char*>(&key), sizeof(key)));
    }
};
struct FlowKeyEqual {
    bool operator()(const fa_flow_key& a, const fa_flow_key& b) const { return std::memcmp(&a, &b, sizeof(a)) == 0; }
};
static_assert(sizeof(fa_flow_key) == 44, "fa_flow_key has padding: hashing its bytes would hash garbage");

// Open addressing (abseil's flat_hash_map, one probe of 16 control bytes and then the slot):
// every ring-buffer event looks its flow up here, and the node-based std::unordered_map it
// replaced missed the cache up to three times a lookup (bucket, the node before, the node):
// 2.7-3.0 -> 4.1-4.2 M events/s joined (PERFORMANCE.md, the ring-buffer consumer).
template <typename Value>
using FlowKeyMap = absl::flat_hash_map<fa_flow_key, Value, FlowKeyHash, FlowKeyEqual>;

class Agent {
public:
    // Probes, loads and attaches everything; throws flowattr::Error naming what failed.
    explicit Agent(const RunOptions& options);

    const AgentStatus& status() const { return status_; }
    std::string status_text() const;

    // Every flow in the table, joined with process details (each process's liveness
    // checked once per call).
    std::vector<FlowRecord> collect();
    // Empty with --no-cgroup-accounting.
    std::vector<CgroupUsage> cgroup_usage() const { return cgroups_ ? cgroups_->snapshot() : std::vector<CgroupUsage>{}; }
    std::uint64_t counter(fa_counter index) const { return flows_->counter(index); }
    // The processes whose details the agent keeps: those of the flows its last table read found,
    // and of events since.
    std::size_t processes_known() const { return processes_.size(); }
    // Drains the flow-event ring buffer, waiting up to TIMEOUT_MS for the first event. Every
    // event is noted; with JSON_OUT each is also printed there with the counters it carries,
    // as `flowattr run -o json` prints it. Returns the events handled.
    int poll_events(int timeout_ms, std::ostream* json_out = nullptr);
    DatapathCounters counters() const;
    std::vector<InterfaceChange> refresh_interfaces() { return flows_->refresh_interfaces(); }

    // The reporting loop: until `stop` is set or the duration passes; then every flow still
    // in the table once more.
    void run(std::ostream& out, const std::atomic<bool>& stop);
    // One interval's report; FINAL_REPORT: every flow, not only those that changed.
    void report_interval(std::ostream& out, bool final_report);

private:
    struct KnownProcess {
        ProcessInfo info;
        std::uint64_t checked_in = 0;     // the collect() that last checked it was alive
        std::uint64_t flow_found_in = 0;  // the table read that last found a flow of it
    };

    void on_event(const fa_flow_event& event);
    // The flows the table holds as far as the agent knows, one entry each (a million flows
    // cost a million entries, not one per question asked of them).
    struct KnownFlow {
        std::uint64_t first_seen_ns = 0;  // tells one instance of a 5-tuple from the next
        std::uint64_t read = 0;           // the collections_ whose table read last found it
        std::uint64_t reported_last_seen_jiffies = 0;
        bool reported = false;
    };
    KnownFlow& note_flow(const fa_flow_key& key, std::uint64_t first_seen_ns);
    // After a table read marked every flow it found (KnownFlow::read): the ones it did not find
    // were evicted, and are forgotten.
    void sweep_evicted();
    // After the same read: the processes no flow in the table belongs to any more are
    // forgotten, so a host that runs many short-lived processes does not grow the agent.
    void sweep_processes();
    // One read of the whole table; each read checks the processes it meets once.
    std::vector<FlowEntry> read_table();
    // The same read, a batch at a time.
    void visit_table(const std::function<void(const std::vector<FlowEntry>& batch)>& batch_visitor);
    // What an interval's read makes of one flow it found.
    enum class FlowVerdict { unchanged, report, erased };
    FlowVerdict judge(const FlowEntry& flow, bool final_report, std::uint64_t mono_now, std::uint64_t grace_ns);
    DatapathCounters counters_with(std::size_t flows_in_table) const;
    FlowRecord record_for(const fa_flow_key& key, const fa_flow_stats& stats, std::int64_t mono_to_unix_ns);
    const ProcessInfo& process_for(const fa_identity& id);

    RunOptions options_;
    AgentStatus status_;
    std::unique_ptr<PrivateMount> private_cgroup_;  // first: outlives the programs attached in it
    std::unique_ptr<IdentityTracker> identity_;
    std::unique_ptr<FlowMonitor> flows_;
    FlowClock clock_ = FlowClock::of_this_kernel();
    std::unique_ptr<CgroupAccounting> cgroups_;  // null with --no-cgroup-accounting
    std::map<std::pair<std::uint32_t, std::uint64_t>, KnownProcess> processes_;
    std::uint64_t collections_ = 0;
    FlowKeyMap<KnownFlow> known_;
    std::uint64_t evicted_ = 0;
    std::uint64_t events_seen_ = 0;
    // The JSON output of the poll_events() under way, and the clocks its events are printed
    // with: read at its first event rather than per event (a drain takes milliseconds).
    struct EventOutput {
        std::ostream* out = nullptr;
        bool clocks_read = false;
        std::int64_t mono_to_unix_ns = 0;
        std::uint64_t now_unix_ns = 0;
    };
    EventOutput event_output_;
};

// CLOCK_REALTIME minus CLOCK_MONOTONIC now: added to a bpf_ktime_get_ns() stamp it gives
// wall-clock ns. Taken once per report, so that first_seen <= last_seen always holds.
std::int64_t monotonic_to_unix_offset_ns();

}  // namespace flowattr::agent
