#pragma once
// Owner of bpf/flow.bpf.c: attaches the flow programs to each watched interface (TCX links
// where the kernel has them, clsact filters otherwise), drains flow start/end events from
// the ring buffer and reads the flow table.
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "agent/libbpf_support.h"
#include "agent/options.h"
#include "common/unique_fd.h"
#include "flowattr.h"

struct flow_bpf;
struct ring_buffer;

namespace flowattr::agent {

enum class TcAttachMode { tcx, clsact };
std::string tc_attach_mode_name(TcAttachMode mode);

// Our clsact filters carry this handle and priority, so a run that was killed before it
// could detach is recognised and cleaned at the next start.
constexpr std::uint32_t kTcHandle = 0xfa;
constexpr std::uint32_t kTcPriority = 0xfa;

struct FlowEntry {
    fa_flow_key key;
    fa_flow_stats stats;
};

// The flow table's clock. A flow's first_seen_ns is CLOCK_MONOTONIC; after that the datapath
// reads only jiffies (a fraction of a clock read per packet), which the kernel steps from the
// monotonic clock a tick apart: last seen is first_seen_ns plus the ticks between, to a tick.
struct FlowClock {
    std::uint64_t tick_ns = 0;  // 1/HZ

    // This kernel's tick: clock_getres(CLOCK_MONOTONIC_COARSE), which is one tick by
    // definition. Throws flowattr::Error with the errno.
    static FlowClock of_this_kernel();
    // CLOCK_MONOTONIC ns of the flow's latest packet.
    std::uint64_t last_seen_ns(const fa_flow_stats& stats) const;
};

// Every entry of a fa_flows map, handed to VISIT a batch (thousands of entries) at a time as
// BPF_MAP_LOOKUP_BATCH reads them, so a million-flow table is never held whole; throws
// flowattr::Error with the errno.
void visit_flow_table(int flows_fd, const std::function<void(const std::vector<FlowEntry>& batch)>& visit);
// Every entry of a fa_flows map, in one vector.
std::vector<FlowEntry> read_flow_table(int flows_fd);

struct FlowMonitorOptions {
    std::vector<InterfaceSpec> interfaces;
    std::uint32_t max_flows = 65536;
    int sk_storage_fd = -1;  // the identity object's map
    bool use_tcx = true;     // from probe_tcx()
};

// What a killed run left on one interface and the start-up removed.
struct LeftoverCleanup {
    int filters = 0;      // our clsact filters (kTcHandle/kTcPriority)
    bool qdisc = false;   // the clsact qdisc, once our filters were all it held
};

// A watched interface that went away, came back, or could not be attached again.
struct InterfaceChange {
    enum class State { gone, attached, attach_failed };
    InterfaceSpec iface;
    std::uint64_t netns_inode = 0;
    State state = State::gone;
    std::string error;  // attach_failed: why
};
const char* interface_state_name(InterfaceChange::State state);

class FlowMonitor {
public:
    using EventHandler = std::function<void(const fa_flow_event&)>;

    // One copy of the flow programs per network namespace among the interfaces, all
    // sharing one flow table, ring buffer and counters.
    FlowMonitor(const FlowMonitorOptions& options, EventHandler on_event);
    ~FlowMonitor();
    FlowMonitor(const FlowMonitor&) = delete;
    FlowMonitor& operator=(const FlowMonitor&) = delete;

    TcAttachMode mode() const { return mode_; }
    // Drains the ring buffer, waiting up to timeout_ms for the first event.
    int poll(int timeout_ms);
    std::vector<FlowEntry> snapshot() const;
    void visit(const std::function<void(const std::vector<FlowEntry>& batch)>& batch_visitor) const;
    void erase(const fa_flow_key& key);
    std::uint64_t counter(fa_counter index) const;
    // The interface given for the key's (netns, ifindex), for reports; an empty name for unknown.
    InterfaceSpec interface_of(const fa_flow_key& key) const;
    // The inode of the key's network namespace (what `lsns` and `ip netns identify` show).
    std::uint64_t netns_inode(const fa_flow_key& key) const;
    int flows_fd() const;

    // Looks at each watched interface: one deleted is dropped (the others go on), one that
    // is back (under the same name, any ifindex) is attached again. Returns the changes.
    std::vector<InterfaceChange> refresh_interfaces();

    // Removes clsact filters left at kTcHandle/kTcPriority by a killed run on IFACE, and
    // the clsact qdisc when nothing else is attached to it.
    static LeftoverCleanup remove_leftovers(const InterfaceSpec& iface);
    // IFACE's index in its namespace; BadInputError naming it (and the namespace) if there is none.
    static std::uint32_t require_interface(const InterfaceSpec& iface);

private:
    struct Programs;
    struct Attachment;
    void attach(Attachment& a);
    // The slot of the programs serving the namespace at NETNS_PATH, loaded on first use.
    std::uint16_t programs_for(const std::string& netns_path);

    FlowMonitorOptions options_;
    EventHandler on_event_;
    TcAttachMode mode_;
    std::vector<std::unique_ptr<Programs>> programs_;  // index: the key's netns slot
    RingBuffer ring_;  // members end in reverse order: the attachments, the ring, the programs
    std::vector<std::unique_ptr<Attachment>> attachments_;
    std::map<std::pair<std::uint16_t, std::uint32_t>, InterfaceSpec> names_;  // (slot, ifindex) ever attached
};

// The inode of the network namespace at PATH (empty: this thread's).
std::uint64_t netns_inode_of(const std::string& path);

// Runs FN inside the network namespace at PATH (empty: the current one) on this thread.
void with_netns(const std::string& path, const std::function<void()>& fn);

// A fresh network namespace of this process's own, held by an open fd: it goes, with every
// device and attachment in it, when the fd closes (however the process ends). The calling
// thread stays where it was; path() ("/proc/PID/fd/N", valid for this process's children too)
// names it for with_netns(). Throws Error when it cannot be made (no CAP_SYS_ADMIN).
class OwnNetns {
public:
    OwnNetns();
    const std::string& path() const { return path_; }
    int fd() const { return fd_.get(); }

private:
    UniqueFd fd_;
    std::string path_;
};

}  // namespace flowattr::agent
