#include "agent/flow.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <cstdio>
#include <unistd.h>

#include "common/error.h"
#include "flow.skel.h"

namespace flowattr::agent {

std::string tc_attach_mode_name(TcAttachMode mode) { return mode == TcAttachMode::tcx ? "tcx" : "clsact"; }

void with_netns(const std::string& path, const std::function<void()>& fn) {
    if (path.empty()) {
        fn();
        return;
    }
    UniqueFd original(open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
    if (!original) throw Error("cannot open this thread's network namespace", errno);
    UniqueFd target(open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!target) throw Error("unknown network namespace " + path, errno);
    if (setns(target.get(), CLONE_NEWNET) != 0) throw Error("cannot enter network namespace " + path, errno);
    try {
        fn();
    } catch (...) {
        setns(original.get(), CLONE_NEWNET);
        throw;
    }
    if (setns(original.get(), CLONE_NEWNET) != 0)
        throw Error("cannot return from network namespace " + path, errno);
}

// One interface's programs: two TCX links, or two clsact filters (and the clsact qdisc
// when this run created it).
struct FlowMonitor::Attachment {
    InterfaceSpec iface;
    std::uint32_t ifindex = 0;
    BpfLink ingress_link;
    BpfLink egress_link;
    bool filters_attached = false;
    bool created_qdisc = false;

    ~Attachment() {
        ingress_link.reset();
        egress_link.reset();
        if (!filters_attached && !created_qdisc) return;
        try {
            with_netns(iface.netns_path, [&] {
                LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = int(ifindex));
                if (created_qdisc) {
                    // Deleting the clsact qdisc we made removes our filters with it.
                    hook.attach_point = static_cast<bpf_tc_attach_point>(BPF_TC_INGRESS | BPF_TC_EGRESS);
                    bpf_tc_hook_destroy(&hook);
                    return;
                }
                for (auto point : {BPF_TC_INGRESS, BPF_TC_EGRESS}) {
                    hook.attach_point = point;
                    LIBBPF_OPTS(bpf_tc_opts, opts, .handle = kTcHandle, .priority = kTcPriority);
                    bpf_tc_detach(&hook, &opts);
                }
            });
        } catch (const Error& e) {
            std::fprintf(stderr, "flowattr: cleaning %s: %s\n", iface.name.c_str(), e.what());
        }
    }
};

FlowMonitor::FlowMonitor(const FlowMonitorOptions& options, EventHandler on_event)
    : options_(options), on_event_(std::move(on_event)),
      mode_(options.use_tcx ? TcAttachMode::tcx : TcAttachMode::clsact) {
    LibbpfLogCapture log;
    skel_ = flow_bpf__open();
    if (!skel_) throw Error("cannot open the flow BPF object", errno, log.text());
    try {
        bool tcx = mode_ == TcAttachMode::tcx;
        bpf_program__set_autoload(skel_->progs.fa_tcx_ingress, tcx);
        bpf_program__set_autoload(skel_->progs.fa_tcx_egress, tcx);
        bpf_program__set_autoload(skel_->progs.fa_tc_ingress, !tcx);
        bpf_program__set_autoload(skel_->progs.fa_tc_egress, !tcx);
        check_libbpf(bpf_map__set_max_entries(skel_->maps.fa_flows, options.max_flows), "cannot size the flow table",
                     log);
        if (options.sk_storage_fd >= 0)
            check_libbpf(bpf_map__reuse_fd(skel_->maps.fa_sk_identity, options.sk_storage_fd),
                         "cannot share the identity map with the flow object", log);
        check_libbpf(flow_bpf__load(skel_), "cannot load the flow programs (" + tc_attach_mode_name(mode_) + ")", log);
        ring_ = ring_buffer__new(
            bpf_map__fd(skel_->maps.fa_events),
            [](void* ctx, void* data, size_t size) -> int {
                auto self = static_cast<FlowMonitor*>(ctx);
                if (size >= sizeof(fa_flow_event) && self->on_event_)
                    self->on_event_(*static_cast<const fa_flow_event*>(data));
                return 0;
            },
            this, nullptr);
        if (!ring_) throw Error("cannot open the flow event ring buffer", errno, log.text());
        for (const auto& iface : options.interfaces) attach(iface);
    } catch (...) {
        attachments_.clear();
        ring_buffer__free(ring_);
        flow_bpf__destroy(skel_);
        throw;
    }
}

FlowMonitor::~FlowMonitor() {
    attachments_.clear();
    ring_buffer__free(ring_);
    flow_bpf__destroy(skel_);
}

int FlowMonitor::remove_leftover_filters(const InterfaceSpec& iface) {
    int removed = 0;
    with_netns(iface.netns_path, [&] {
        unsigned ifindex = if_nametoindex(iface.name.c_str());
        if (!ifindex) return;
        LibbpfLogCapture quiet;
        for (auto point : {BPF_TC_INGRESS, BPF_TC_EGRESS}) {
            LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = int(ifindex), .attach_point = point);
            LIBBPF_OPTS(bpf_tc_opts, opts, .handle = kTcHandle, .priority = kTcPriority);
            if (bpf_tc_query(&hook, &opts) != 0) continue;
            LIBBPF_OPTS(bpf_tc_opts, detach, .handle = kTcHandle, .priority = kTcPriority);
            if (bpf_tc_detach(&hook, &detach) == 0) removed++;
        }
    });
    return removed;
}

void FlowMonitor::attach(const InterfaceSpec& iface) {
    auto a = std::make_unique<Attachment>();
    a->iface = iface;
    with_netns(iface.netns_path, [&] {
        a->ifindex = if_nametoindex(iface.name.c_str());
        if (!a->ifindex)
            throw Error("unknown interface " + iface.name +
                        (iface.netns_path.empty() ? "" : " in network namespace " + iface.netns_path));
        LibbpfLogCapture log;
        if (mode_ == TcAttachMode::tcx) {
            a->ingress_link.reset(bpf_program__attach_tcx(skel_->progs.fa_tcx_ingress, int(a->ifindex), nullptr));
            if (!a->ingress_link) throw Error("cannot attach tcx/ingress to " + iface.name, errno, log.text());
            a->egress_link.reset(bpf_program__attach_tcx(skel_->progs.fa_tcx_egress, int(a->ifindex), nullptr));
            if (!a->egress_link) throw Error("cannot attach tcx/egress to " + iface.name, errno, log.text());
            return;
        }
        LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = int(a->ifindex),
                    .attach_point = static_cast<bpf_tc_attach_point>(BPF_TC_INGRESS | BPF_TC_EGRESS));
        int ret = bpf_tc_hook_create(&hook);
        if (ret == 0) a->created_qdisc = true;
        else if (ret != -EEXIST) check_libbpf(ret, "cannot create the clsact qdisc on " + iface.name, log);
        a->filters_attached = true;
        for (auto [point, prog] : {std::pair{BPF_TC_INGRESS, skel_->progs.fa_tc_ingress},
                                   std::pair{BPF_TC_EGRESS, skel_->progs.fa_tc_egress}}) {
            hook.attach_point = point;
            LIBBPF_OPTS(bpf_tc_opts, opts, .prog_fd = bpf_program__fd(prog), .handle = kTcHandle,
                        .priority = kTcPriority);
            check_libbpf(bpf_tc_attach(&hook, &opts), "cannot attach the tc filter to " + iface.name, log);
        }
    });
    // The flow key carries the ifindex only: two watched interfaces in different network
    // namespaces with the same index could not be told apart, so refuse rather than mix them.
    for (const auto& other : attachments_)
        if (other->ifindex == a->ifindex)
            throw Error("cannot watch " + iface.name + " and " + other->iface.name +
                        " together: both have ifindex " + std::to_string(a->ifindex) +
                        " (in different network namespaces)");
    attachments_.push_back(std::move(a));
}

int FlowMonitor::poll(int timeout_ms) {
    int n = ring_buffer__poll(ring_, timeout_ms);
    if (n < 0 && n != -EINTR) throw Error("cannot read the flow event ring buffer", -n);
    return n < 0 ? 0 : n;
}

std::vector<FlowEntry> read_flow_table(int fd) {
    std::vector<FlowEntry> out;
    fa_flow_key key{}, next{};
    const void* prev = nullptr;
    while (bpf_map_get_next_key(fd, prev, &next) == 0) {
        FlowEntry e{};
        e.key = next;
        // An LRU entry can be evicted between the two calls; skip it then.
        if (bpf_map_lookup_elem(fd, &next, &e.stats) == 0) out.push_back(e);
        key = next;
        prev = &key;
    }
    return out;
}

std::vector<FlowEntry> FlowMonitor::snapshot() const { return read_flow_table(flows_fd()); }

void FlowMonitor::erase(const fa_flow_key& key) { bpf_map_delete_elem(flows_fd(), &key); }

int FlowMonitor::flows_fd() const { return bpf_map__fd(skel_->maps.fa_flows); }

std::uint64_t FlowMonitor::counter(fa_counter index) const {
    return sum_percpu_counter(bpf_map__fd(skel_->maps.fa_flow_counters), index);
}

std::string FlowMonitor::interface_name(std::uint32_t ifindex) const {
    for (const auto& a : attachments_)
        if (a->ifindex == ifindex) return a->iface.name;
    return {};
}

}  // namespace flowattr::agent
