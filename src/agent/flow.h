#pragma once
// Owner of bpf/flow.bpf.c: attaches the flow programs to each watched interface (TCX links
// where the kernel has them, clsact filters otherwise), drains flow start/end events from
// the ring buffer and reads the flow table.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "agent/libbpf_support.h"
#include "agent/options.h"
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

// Every entry of a fa_flows map; an LRU entry evicted mid-walk is skipped.
std::vector<FlowEntry> read_flow_table(int flows_fd);

struct FlowMonitorOptions {
    std::vector<InterfaceSpec> interfaces;
    std::uint32_t max_flows = 65536;
    int sk_storage_fd = -1;  // the identity object's map
    bool use_tcx = true;     // from probe_tcx()
};

class FlowMonitor {
public:
    using EventHandler = std::function<void(const fa_flow_event&)>;

    FlowMonitor(const FlowMonitorOptions& options, EventHandler on_event);
    ~FlowMonitor();
    FlowMonitor(const FlowMonitor&) = delete;
    FlowMonitor& operator=(const FlowMonitor&) = delete;

    TcAttachMode mode() const { return mode_; }
    // Drains the ring buffer, waiting up to timeout_ms for the first event.
    int poll(int timeout_ms);
    std::vector<FlowEntry> snapshot() const;
    void erase(const fa_flow_key& key);
    std::uint64_t counter(fa_counter index) const;
    // ifindex -> name as given, for reports; "" for unknown.
    std::string interface_name(std::uint32_t ifindex) const;
    int flows_fd() const;

    // Removes clsact filters left at kTcHandle/kTcPriority by a killed run on IFACE;
    // returns how many were removed.
    static int remove_leftover_filters(const InterfaceSpec& iface);

private:
    struct Attachment;
    void attach(const InterfaceSpec& iface);

    FlowMonitorOptions options_;
    EventHandler on_event_;
    TcAttachMode mode_;
    flow_bpf* skel_ = nullptr;
    ring_buffer* ring_ = nullptr;
    std::vector<std::unique_ptr<Attachment>> attachments_;
};

// Runs FN inside the network namespace at PATH (empty: the current one) on this thread.
void with_netns(const std::string& path, const std::function<void()>& fn);

}  // namespace flowattr::agent
