#include "agent/flow.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <sys/stat.h>
#include <cerrno>
#include <cstdio>
#include <ctime>
#include <unistd.h>

#include "agent/tc_filters.h"
#include "common/clock.h"
#include "common/error.h"
#include "flow.skel.h"

namespace flowattr::agent {

FlowClock FlowClock::of_this_kernel() {
    timespec res{};
    if (clock_getres(CLOCK_MONOTONIC_COARSE, &res) != 0) throw Error("clock_getres(CLOCK_MONOTONIC_COARSE)", errno);
    FlowClock clock;
    clock.tick_ns = timespec_ns(res);
    return clock;
}

std::uint64_t FlowClock::last_seen_ns(const fa_flow_stats& stats) const {
    // A CPU that read jiffies just before the CPU that inserted the flow may store a
    // last_seen_jiffies one short of first_seen_jiffies.
    if (stats.last_seen_jiffies <= stats.first_seen_jiffies) return stats.first_seen_ns;
    return stats.first_seen_ns + (stats.last_seen_jiffies - stats.first_seen_jiffies) * tick_ns;
}

std::string tc_attach_mode_name(TcAttachMode mode) { return mode == TcAttachMode::tcx ? "tcx" : "clsact"; }

namespace {

// Our filter (kTcHandle/kTcPriority) on one hook of IFINDEX, in the calling thread's namespace.
bool has_our_filter(int ifindex, bpf_tc_attach_point point) {
    LibbpfLogCapture quiet;  // "no such filter" is an answer here, not news
    LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = point);
    LIBBPF_OPTS(bpf_tc_opts, opts, .handle = kTcHandle, .priority = kTcPriority);
    return bpf_tc_query(&hook, &opts) == 0;
}

bool detach_our_filter(int ifindex, bpf_tc_attach_point point) {
    LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = point);
    LIBBPF_OPTS(bpf_tc_opts, opts, .handle = kTcHandle, .priority = kTcPriority);
    return bpf_tc_detach(&hook, &opts) == 0;
}

// Deleting the clsact qdisc removes every filter on it with it.
bool destroy_clsact(int ifindex) {
    LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex,
                .attach_point = static_cast<bpf_tc_attach_point>(BPF_TC_INGRESS | BPF_TC_EGRESS));
    return bpf_tc_hook_destroy(&hook) == 0;
}

}  // namespace

void with_netns(const std::string& path, const std::function<void()>& fn) {
    if (path.empty()) {
        fn();
        return;
    }
    UniqueFd original(open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
    if (!original) throw Error("cannot open this thread's network namespace", errno);
    UniqueFd target(open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!target) throw BadInputError("unknown network namespace " + path, errno);
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

OwnNetns::OwnNetns() {
    UniqueFd original(open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
    if (!original) throw Error("cannot open this thread's network namespace", errno);
    if (unshare(CLONE_NEWNET) != 0) throw Error("cannot make a network namespace of its own", errno);
    fd_ = UniqueFd(open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
    const int open_errno = errno;
    if (setns(original.get(), CLONE_NEWNET) != 0)
        throw Error("cannot return to this thread's network namespace after making one", errno);
    if (!fd_) throw Error("cannot open the network namespace just made", open_errno);
    path_ = "/proc/" + std::to_string(getpid()) + "/fd/" + std::to_string(fd_.get());
}

std::uint64_t netns_inode_of(const std::string& path) {
    struct stat st {};
    const std::string p = path.empty() ? "/proc/thread-self/ns/net" : path;
    if (stat(p.c_str(), &st) != 0) throw BadInputError("unknown network namespace " + p, errno);
    return st.st_ino;
}

const char* interface_state_name(InterfaceChange::State state) {
    switch (state) {
    case InterfaceChange::State::gone: return "gone";
    case InterfaceChange::State::attached: return "attached";
    case InterfaceChange::State::attach_failed: return "attach_failed";
    }
    return "?";
}

// One copy of the flow programs: the network namespace it serves is baked into its
// read-only data as the key's netns slot.
struct FlowMonitor::Programs {
    std::uint64_t netns_inode = 0;
    Skeleton<flow_bpf> skel;
};

// One interface's programs: two TCX links, or two clsact filters (and the clsact qdisc
// when this run created it). ifindex 0: not attached now (the interface went away).
struct FlowMonitor::Attachment {
    InterfaceSpec iface;
    std::uint16_t slot = 0;
    std::uint32_t ifindex = 0;
    BpfLink ingress_link;
    BpfLink egress_link;
    bool filters_attached = false;
    bool created_qdisc = false;
    std::string last_failure;  // the last re-attach error reported, so it is said once

    ~Attachment() { detach(true); }

    // DEVICE_IS_OURS false: the interface went away, and its index may already name
    // another device, so nothing is deleted through it.
    void detach(bool device_is_ours) {
        ingress_link.reset();
        egress_link.reset();
        bool cleanup = device_is_ours && ifindex && (filters_attached || created_qdisc);
        std::uint32_t index = ifindex;
        bool qdisc = created_qdisc;
        filters_attached = created_qdisc = false;
        ifindex = 0;
        if (!cleanup) return;
        try {
            with_netns(iface.netns_path, [&] {
                if (qdisc) {
                    destroy_clsact(int(index));  // the qdisc we made, our filters with it
                    return;
                }
                for (auto point : {BPF_TC_INGRESS, BPF_TC_EGRESS}) detach_our_filter(int(index), point);
            });
        } catch (const Error& e) {
            std::fprintf(stderr, "flowattr: cleaning %s: %s\n", iface.name.c_str(), e.what());
        }
    }

    // Called inside the interface's namespace. TCX links cannot be asked cheaply whether
    // their device is the same one; a clsact filter can, which also catches a filter
    // somebody deleted.
    bool still_attached() const {
        return !filters_attached ||
               (has_our_filter(int(ifindex), BPF_TC_INGRESS) && has_our_filter(int(ifindex), BPF_TC_EGRESS));
    }
};

std::uint16_t FlowMonitor::programs_for(const std::string& netns_path) {
    std::uint64_t inode = netns_inode_of(netns_path);
    for (std::size_t slot = 0; slot < programs_.size(); slot++)
        if (programs_[slot]->netns_inode == inode) return std::uint16_t(slot);
    auto p = std::make_unique<Programs>();
    p->netns_inode = inode;
    LibbpfLogCapture log;
    p->skel.reset(flow_bpf__open());
    if (!p->skel) throw Error("cannot open the flow BPF object", errno, log.text());
    bool tcx = mode_ == TcAttachMode::tcx;
    bpf_program__set_autoload(p->skel->progs.fa_tcx_ingress, tcx);
    bpf_program__set_autoload(p->skel->progs.fa_tcx_egress, tcx);
    bpf_program__set_autoload(p->skel->progs.fa_tc_ingress, !tcx);
    bpf_program__set_autoload(p->skel->progs.fa_tc_egress, !tcx);
    p->skel->rodata->fa_netns_slot = std::uint16_t(programs_.size());
    if (programs_.empty()) {
        check_libbpf(bpf_map__set_max_entries(p->skel->maps.fa_flows, options_.max_flows),
                     "cannot size the flow table", log);
    } else {
        const auto& first = programs_.front()->skel->maps;
        for (auto [map, shared] : {std::pair{p->skel->maps.fa_flows, first.fa_flows},
                                   std::pair{p->skel->maps.fa_events, first.fa_events},
                                   std::pair{p->skel->maps.fa_flow_counters, first.fa_flow_counters}})
            check_libbpf(bpf_map__reuse_fd(map, bpf_map__fd(shared)),
                         "cannot share the flow maps between network namespaces", log);
    }
    if (options_.sk_storage_fd >= 0)
        check_libbpf(bpf_map__reuse_fd(p->skel->maps.fa_sk_identity, options_.sk_storage_fd),
                     "cannot share the identity map with the flow object", log);
    check_libbpf(flow_bpf__load(p->skel.get()), "cannot load the flow programs (" + tc_attach_mode_name(mode_) + ")", log);
    programs_.push_back(std::move(p));
    return std::uint16_t(programs_.size() - 1);
}

FlowMonitor::FlowMonitor(const FlowMonitorOptions& options, EventHandler on_event)
    : options_(options), on_event_(std::move(on_event)),
      mode_(options.use_tcx ? TcAttachMode::tcx : TcAttachMode::clsact) {
    if (options.interfaces.empty()) programs_for("");
    for (const auto& iface : options.interfaces) {
        auto a = std::make_unique<Attachment>();
        a->iface = iface;
        a->slot = programs_for(iface.netns_path);
        attachments_.push_back(std::move(a));
    }
    LibbpfLogCapture log;
    ring_.reset(ring_buffer__new(
        bpf_map__fd(programs_.front()->skel->maps.fa_events),
        [](void* ctx, void* data, size_t size) -> int {
            auto self = static_cast<FlowMonitor*>(ctx);
            if (size >= sizeof(fa_flow_event) && self->on_event_)
                self->on_event_(*static_cast<const fa_flow_event*>(data));
            return 0;
        },
        this, nullptr));
    if (!ring_) throw Error("cannot open the flow event ring buffer", errno, log.text());
    for (auto& a : attachments_) attach(*a);
}

// The members end in reverse order of declaration: attachments, ring buffer, programs.
FlowMonitor::~FlowMonitor() = default;

LeftoverCleanup FlowMonitor::remove_leftovers(const InterfaceSpec& iface) {
    LeftoverCleanup removed;
    with_netns(iface.netns_path, [&] {
        unsigned ifindex = if_nametoindex(iface.name.c_str());
        if (!ifindex) return;
        LibbpfLogCapture quiet;
        for (auto point : {BPF_TC_INGRESS, BPF_TC_EGRESS})
            if (has_our_filter(int(ifindex), point) && detach_our_filter(int(ifindex), point)) removed.filters++;
        // The qdisc is ours to remove only when our filters were on it and nothing else is:
        // a clsact qdisc somebody else uses, or one with no trace of a run of ours, stays.
        if (removed.filters && !tc_hook_has_filters(int(ifindex), BPF_TC_INGRESS) &&
            !tc_hook_has_filters(int(ifindex), BPF_TC_EGRESS))
            removed.qdisc = destroy_clsact(int(ifindex));
    });
    return removed;
}

namespace {

// IFACE's index in the network namespace this thread is in (IFACE's, entered by the caller).
std::uint32_t interface_index_here(const InterfaceSpec& iface) {
    const std::uint32_t ifindex = if_nametoindex(iface.name.c_str());
    if (!ifindex)
        throw BadInputError("unknown interface " + iface.name +
                            (iface.netns_path.empty() ? "" : " in network namespace " + iface.netns_path));
    return ifindex;
}

}  // namespace

std::uint32_t FlowMonitor::require_interface(const InterfaceSpec& iface) {
    std::uint32_t ifindex = 0;
    with_netns(iface.netns_path, [&] { ifindex = interface_index_here(iface); });
    return ifindex;
}

void FlowMonitor::attach(Attachment& a) {
    const InterfaceSpec& iface = a.iface;
    flow_bpf* skel = programs_[a.slot]->skel.get();
    with_netns(iface.netns_path, [&] {
        const std::uint32_t ifindex = interface_index_here(iface);
        LibbpfLogCapture log;
        if (mode_ == TcAttachMode::tcx) {
            a.ingress_link.reset(bpf_program__attach_tcx(skel->progs.fa_tcx_ingress, int(ifindex), nullptr));
            if (!a.ingress_link) throw Error("cannot attach tcx/ingress to " + iface.name, errno, log.text());
            a.egress_link.reset(bpf_program__attach_tcx(skel->progs.fa_tcx_egress, int(ifindex), nullptr));
            if (!a.egress_link) {
                a.ingress_link.reset();
                throw Error("cannot attach tcx/egress to " + iface.name, errno, log.text());
            }
            a.ifindex = ifindex;
            return;
        }
        a.ifindex = ifindex;
        LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = int(ifindex),
                    .attach_point = static_cast<bpf_tc_attach_point>(BPF_TC_INGRESS | BPF_TC_EGRESS));
        int ret = bpf_tc_hook_create(&hook);
        if (ret == 0) a.created_qdisc = true;
        a.filters_attached = true;
        try {
            if (ret != 0 && ret != -EEXIST) check_libbpf(ret, "cannot create the clsact qdisc on " + iface.name, log);
            for (auto [point, prog] : {std::pair{BPF_TC_INGRESS, skel->progs.fa_tc_ingress},
                                       std::pair{BPF_TC_EGRESS, skel->progs.fa_tc_egress}}) {
                hook.attach_point = point;
                LIBBPF_OPTS(bpf_tc_opts, opts, .prog_fd = bpf_program__fd(prog), .handle = kTcHandle,
                            .priority = kTcPriority);
                check_libbpf(bpf_tc_attach(&hook, &opts), "cannot attach the tc filter to " + iface.name, log);
            }
        } catch (...) {
            a.detach(true);
            throw;
        }
    });
    names_[{a.slot, a.ifindex}] = iface;
}

std::vector<InterfaceChange> FlowMonitor::refresh_interfaces() {
    std::vector<InterfaceChange> changes;
    for (auto& a : attachments_) {
        std::uint32_t now_index = 0;
        bool unchanged = false;
        try {
            with_netns(a->iface.netns_path, [&] {
                now_index = if_nametoindex(a->iface.name.c_str());
                unchanged = a->ifindex && now_index == a->ifindex && a->still_attached();
            });
        } catch (const Error&) {
            now_index = 0;  // the namespace itself is gone
        }
        if (unchanged) continue;
        const std::uint64_t inode = programs_[a->slot]->netns_inode;
        if (a->ifindex) {
            a->detach(false);
            a->last_failure.clear();
            changes.push_back({a->iface, inode, InterfaceChange::State::gone, {}});
        }
        if (!now_index) continue;
        try {
            attach(*a);
            a->last_failure.clear();
            changes.push_back({a->iface, inode, InterfaceChange::State::attached, {}});
        } catch (const Error& e) {
            if (a->last_failure != e.what()) {
                a->last_failure = e.what();
                changes.push_back({a->iface, inode, InterfaceChange::State::attach_failed, e.what()});
            }
        }
    }
    return changes;
}

int FlowMonitor::poll(int timeout_ms) {
    int n = ring_buffer__poll(ring_.get(), timeout_ms);
    if (n < 0 && n != -EINTR) throw Error("cannot read the flow event ring buffer", -n);
    return n < 0 ? 0 : n;
}

// Thousands of entries per bpf_map_lookup_batch (hash and LRU maps since 5.6, older than any
// kernel the flow program loads on) instead of two syscalls per entry: a table of a million
// flows is read within an interval. Each bucket is read whole, under its lock.
void visit_flow_table(int fd, const std::function<void(const std::vector<FlowEntry>& batch)>& visit) {
    std::uint32_t chunk = 4096;
    std::vector<fa_flow_key> keys(chunk);
    std::vector<fa_flow_stats> values(chunk);
    std::vector<FlowEntry> batch;
    std::uint64_t token = 0;  // where the next batch starts: a bucket number for hash maps
    bool started = false;
    for (;;) {
        std::uint32_t count = chunk;
        LIBBPF_OPTS(bpf_map_batch_opts, opts);
        const int ret = bpf_map_lookup_batch(fd, started ? &token : nullptr, &token, keys.data(), values.data(),
                                             &count, &opts);
        const int err = ret ? errno : 0;
        batch.clear();
        for (std::uint32_t i = 0; i < count; i++) batch.push_back(FlowEntry{keys[i], values[i]});
        if (!batch.empty()) visit(batch);
        if (err == ENOENT) return;  // the end, with the last entries
        if (err == ENOSPC && count == 0) {
            // One bucket holds more than a chunk: read it again, from its start, in a bigger one.
            started = true;
            chunk *= 2;
            keys.resize(chunk);
            values.resize(chunk);
            continue;
        }
        if (err) throw Error("cannot read the flow table (BPF_MAP_LOOKUP_BATCH)", err);
        started = true;
    }
}

std::vector<FlowEntry> read_flow_table(int fd) {
    std::vector<FlowEntry> out;
    // Room for a full table up front: no regrowth copying a million entries, and the pages a
    // smaller table leaves untouched cost no memory.
    bpf_map_info info{};
    std::uint32_t info_len = sizeof(info);
    if (bpf_map_get_info_by_fd(fd, &info, &info_len) == 0) out.reserve(info.max_entries);
    visit_flow_table(fd, [&](const std::vector<FlowEntry>& batch) { out.insert(out.end(), batch.begin(), batch.end()); });
    return out;
}

std::vector<FlowEntry> FlowMonitor::snapshot() const { return read_flow_table(flows_fd()); }

void FlowMonitor::visit(const std::function<void(const std::vector<FlowEntry>& batch)>& batch_visitor) const {
    visit_flow_table(flows_fd(), batch_visitor);
}

void FlowMonitor::erase(const fa_flow_key& key) { bpf_map_delete_elem(flows_fd(), &key); }

int FlowMonitor::flows_fd() const { return bpf_map__fd(programs_.front()->skel->maps.fa_flows); }

std::uint64_t FlowMonitor::counter(fa_counter index) const {
    return sum_percpu_counter(bpf_map__fd(programs_.front()->skel->maps.fa_flow_counters), index);
}

InterfaceSpec FlowMonitor::interface_of(const fa_flow_key& key) const {
    auto it = names_.find({key.netns, key.ifindex});
    return it == names_.end() ? InterfaceSpec{} : it->second;
}

std::uint64_t FlowMonitor::netns_inode(const fa_flow_key& key) const {
    return key.netns < programs_.size() ? programs_[key.netns]->netns_inode : 0;
}

}  // namespace flowattr::agent
