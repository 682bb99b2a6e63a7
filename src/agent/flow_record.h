#pragma once
// One flow as the agent reports it: the BPF key and stats joined with what /proc says about
// the process, and the renderers for `--output json|table`. The JSON schema is documented in
// docs/OUTPUT.md; keep the two in step.
#include <cstdint>
#include <string>
#include <vector>

#include "agent/flow.h"
#include "agent/procfs.h"
#include "flowattr.h"

namespace flowattr::agent {

struct FlowRecord {
    fa_flow_key key{};
    fa_flow_stats stats{};
    InterfaceSpec iface;            // as given to --iface
    std::uint64_t netns_inode = 0;  // the interface's network namespace (as `lsns` shows it)
    std::uint64_t first_seen_unix_ns = 0;
    std::uint64_t last_seen_unix_ns = 0;
    ProcessInfo process;            // valid when stats.identity.tgid != 0
};

std::string address_to_string(std::uint8_t family, const std::uint8_t* addr);
std::string protocol_name(std::uint8_t proto);
// The name of the TCP flag at BIT (0: FIN ... 7: CWR) of the header's flags byte.
const char* tcp_flag_name(unsigned bit);
std::string identity_source_name(std::uint32_t source);

// One line of JSON, no trailing newline. TYPE is "flow" for the interval report and
// "flow_start" / "flow_end" for a ring-buffer event joined with the flow's counters.
std::string flow_to_json(const FlowRecord& flow, std::uint64_t report_unix_ns, const char* type = "flow");

// What the datapath counted besides flows: read each interval, shown with the flows.
struct DatapathCounters {
    std::uint64_t flows = 0;          // entries in the flow table
    std::uint64_t events = 0;         // flow start/end events received from the ring buffer
    std::uint64_t events_lost = 0;    // events the BPF side could not reserve: ring buffer full
    std::uint64_t parse_errors = 0;   // packets too short or malformed to key
    std::uint64_t not_ip = 0;         // neither IPv4 nor IPv6
    std::uint64_t flows_evicted = 0;  // flows the full table dropped (LRU) before they ended
};
// FINAL: the report at exit, which lists every flow still in the table.
std::string counters_to_json(const DatapathCounters& counters, std::uint64_t report_unix_ns, bool final_report);
// One line for under the table and for stderr at exit.
std::string counters_to_text(const DatapathCounters& counters);
// A watched interface that went away, came back or could not be attached again.
std::string interface_change_to_json(const InterfaceChange& change, std::uint64_t report_unix_ns);
std::string interface_change_to_text(const InterfaceChange& change);

// A table with a header row, for the refreshing terminal view.
std::string flows_to_table(const std::vector<FlowRecord>& flows);

}  // namespace flowattr::agent
