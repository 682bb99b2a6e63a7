#include "agent/agent.h"

#include <bpf/bpf.h>
#include <linux/bpf.h>
#include <malloc.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>
#include <sstream>

#include "agent/probe.h"
#include "agent/proc_sockets.h"
#include "common/clock.h"
#include "common/error.h"
#include "common/json_text.h"

namespace flowattr::agent {

namespace {

// A flow's line and its newline in one write rather than two stream insertions, each with
// its sentry: printed events went from about 2.95 to 3.15 M/s (bench/events_bench.cpp).
void write_line(std::ostream& out, std::string line) {
    line += '\n';
    out.write(line.data(), std::streamsize(line.size()));
}

}  // namespace

std::int64_t monotonic_to_unix_offset_ns() {
    return std::int64_t(clock_ns(CLOCK_REALTIME)) - std::int64_t(clock_ns(CLOCK_MONOTONIC));
}

Agent::Agent(const RunOptions& options) : options_(options) {
    status_.cgroup_root = options.cgroup_root.empty() ? find_cgroup2_mount() : options.cgroup_root;
    if (status_.cgroup_root.empty()) {
        private_cgroup_ = std::make_unique<PrivateMount>(kPrivateCgroupDir, "cgroup2");
        status_.cgroup_root = private_cgroup_->path();
        status_.cgroup_mounted_privately = true;
    }
    if (access(status_.cgroup_root.c_str(), R_OK) != 0) throw BadInputError("unknown cgroup " + status_.cgroup_root, errno);
    // A mistyped interface or namespace is bad input before anything is loaded or attached:
    // it costs nothing and leaves nothing behind.
    for (const auto& iface : options.interfaces) FlowMonitor::require_interface(iface);

    identity_ = std::make_unique<IdentityTracker>(options.identity, status_.cgroup_root);
    status_.identity = identity_->status();

    // Probed, not assumed from the version: where the iterator cannot load (no
    // bpf_sock_from_file before 5.11, or a verifier that refuses it), /proc + pidfd_getfd reach
    // the same sockets from userspace.
    try {
        if (identity_->walk().available) {
            status_.preexisting_walk = "iter/task_file";
            status_.preexisting_stamped = identity_->stamp_preexisting();
        } else {
            status_.preexisting_walk = "/proc + pidfd_getfd (" + identity_->walk().detail + ")";
            ProcWalkResult walk = stamp_sockets_from_proc(identity_->sk_storage_fd(), status_.cgroup_root);
            status_.preexisting_stamped = walk.stamped;
            if (walk.unreachable)
                status_.preexisting_error = std::to_string(walk.unreachable) +
                                            " process(es) not reachable, first: " + walk.first_error;
        }
    } catch (const Error& e) {
        status_.preexisting_error = e.what();
    }

    bool use_tcx = false;
    if (options.attach == AttachMode::clsact) {
        status_.tc_reason = "requested with --attach clsact";
    } else {
        FeatureCheck tcx = probe_tcx();
        if (options.attach == AttachMode::tcx && !tcx.available)
            throw Error("--attach tcx: this kernel has no TCX (" + tcx.detail + "); use --attach auto or clsact");
        use_tcx = tcx.available;
        status_.tc_reason = tcx.detail;
    }
    for (const auto& iface : options.interfaces) {
        LeftoverCleanup removed = FlowMonitor::remove_leftovers(iface);
        status_.leftover_filters_removed += removed.filters;
        status_.leftover_qdiscs_removed += removed.qdisc;
    }

    FlowMonitorOptions flow_options;
    flow_options.interfaces = options.interfaces;
    flow_options.max_flows = options.max_flows;
    flow_options.sk_storage_fd = identity_->sk_storage_fd();
    flow_options.use_tcx = use_tcx;
    flows_ = std::make_unique<FlowMonitor>(flow_options, [this](const fa_flow_event& e) { on_event(e); });
    status_.tc_mode = flows_->mode();
    // Room for a full table from the start (a slot's pages are touched only when a flow lands
    // there): growing copies every entry into a table twice the size with both held at once,
    // which at a million flows would be 84 + 168 MB. Made once the kernel has created its own
    // table of that size, so a size the machine cannot hold is refused with the kernel's error.
    known_.reserve(options.max_flows);

    if (options.cgroup_accounting) cgroups_ = std::make_unique<CgroupAccounting>(status_.cgroup_root, options.limits);
    // Loading freed what libbpf parsed (the kernel's BTF, megabytes); glibc keeps freed heap
    // resident unless asked. Given back here, so the flow table's pages (fresh mmap ones, see
    // the reserve above) add to what a running agent holds instead of to the loader's peak:
    // 32.3 -> 23.4 MiB at 65,536 flows (PERFORMANCE.md, a full flow table).
    malloc_trim(0);
}

std::string Agent::status_text() const {
    std::ostringstream out;
    out << "identity: " << identity_path_name(status_.identity.path) << " (" << status_.identity.reason
        << "); hook fired: " << (status_.identity.hook_fired ? "yes" : "NO") << "\n";
    out << "pre-existing sockets stamped: " << status_.preexisting_stamped << " via " << status_.preexisting_walk << "\n";
    if (!status_.preexisting_error.empty())
        out << "pre-existing sockets NOT all attributed: " << status_.preexisting_error << "\n";
    out << "flows: " << tc_attach_mode_name(status_.tc_mode) << " (" << status_.tc_reason << ") on";
    for (const auto& i : options_.interfaces) out << " " << interface_label(i);
    out << "\n";
    if (status_.leftover_filters_removed)
        out << "removed " << status_.leftover_filters_removed << " tc filter(s) and " << status_.leftover_qdiscs_removed
            << " clsact qdisc(s) left by a killed run\n";
    out << "cgroup accounting: " << (cgroups_ ? "" : "off (--no-cgroup-accounting); sockets attributed under ")
        << status_.cgroup_root
        << (status_.cgroup_mounted_privately ? " (no cgroup v2 was visible: mounted privately, removed at exit)" : "")
        << "\n";
    return out.str();
}

// A process is read from /proc once, when first met; afterwards only whether it still lives
// is checked, once per collect(), so an exited one keeps the comm and exe it had.
const ProcessInfo& Agent::process_for(const fa_identity& id) {
    auto key = std::make_pair(id.tgid, id.start_time_ns);
    auto it = processes_.find(key);
    if (it == processes_.end()) {
        it = processes_.emplace(key, KnownProcess{read_process_info(id.tgid, id.start_time_ns), collections_, collections_})
                 .first;
    } else if (it->second.info.alive && it->second.checked_in != collections_) {
        it->second.info.alive = process_alive(id.tgid, id.start_time_ns);
        it->second.checked_in = collections_;
    }
    return it->second.info;
}

FlowRecord Agent::record_for(const fa_flow_key& key, const fa_flow_stats& stats, std::int64_t mono_to_unix_ns) {
    FlowRecord r;
    r.key = key;
    r.stats = stats;
    r.iface = flows_->interface_of(key);
    r.netns_inode = flows_->netns_inode(key);
    r.first_seen_unix_ns = std::uint64_t(std::int64_t(stats.first_seen_ns) + mono_to_unix_ns);
    r.last_seen_unix_ns = std::uint64_t(std::int64_t(clock_.last_seen_ns(stats)) + mono_to_unix_ns);
    if (stats.identity.tgid) r.process = process_for(stats.identity);
    return r;
}

std::vector<FlowEntry> Agent::read_table() {
    collections_++;
    return flows_->snapshot();
}

void Agent::visit_table(const std::function<void(const std::vector<FlowEntry>& batch)>& batch_visitor) {
    collections_++;
    flows_->visit(batch_visitor);
}

// One lookup per flow: marked as found by this read, then judged for the report.
Agent::FlowVerdict Agent::judge(const FlowEntry& f, bool final_report, std::uint64_t mono_now, std::uint64_t grace_ns) {
    KnownFlow& known = note_flow(f.key, f.stats.first_seen_ns);
    known.read = collections_;
    if (f.stats.identity.tgid) {
        const auto process = processes_.find({f.stats.identity.tgid, f.stats.identity.start_time_ns});
        if (process != processes_.end()) process->second.flow_found_in = collections_;
    }
    const bool changed = !known.reported || known.reported_last_seen_jiffies != f.stats.last_seen_jiffies;
    if (changed || final_report) {
        known.reported = true;
        known.reported_last_seen_jiffies = f.stats.last_seen_jiffies;
        return FlowVerdict::report;
    }
    if (f.stats.ended && mono_now > clock_.last_seen_ns(f.stats) + grace_ns) {
        // Over, reported in its final state, and quiet past TIME_WAIT: no packet of this
        // connection can come any more, so the room is given back.
        flows_->erase(f.key);
        known_.erase(f.key);
        return FlowVerdict::erased;
    }
    return FlowVerdict::unchanged;
}

std::vector<FlowRecord> Agent::collect() {
    const std::vector<FlowEntry> entries = read_table();
    const std::int64_t offset = monotonic_to_unix_offset_ns();
    std::vector<FlowRecord> out;
    out.reserve(entries.size());
    for (const auto& e : entries) out.push_back(record_for(e.key, e.stats, offset));
    return out;
}

// The table is LRU: when it is full, the kernel drops the least recently used flow without a
// word. A flow we knew to be in the table and no longer find there, or find (or see start)
// again with another first_seen, was evicted.
Agent::KnownFlow& Agent::note_flow(const fa_flow_key& key, std::uint64_t first_seen_ns) {
    auto [it, inserted] = known_.try_emplace(key, KnownFlow{first_seen_ns});
    if (!inserted && it->second.first_seen_ns != first_seen_ns) {
        evicted_++;
        it->second.first_seen_ns = first_seen_ns;
    }
    return it->second;
}

// The table read just made (collections_ counts it) marked what it holds; what the agent knew
// of but the read did not find was evicted.
void Agent::sweep_evicted() {
    for (auto it = known_.begin(); it != known_.end();) {
        if (it->second.read == collections_) {
            ++it;
            continue;
        }
        evicted_++;
        known_.erase(it++);  // flat_hash_map's erase returns nothing; the next slot's iterator stays valid
    }
}

void Agent::sweep_processes() {
    for (auto it = processes_.begin(); it != processes_.end();) {
        if (it->second.flow_found_in == collections_) ++it;
        else it = processes_.erase(it);
    }
}

// A flow start or end from the ring buffer, printed as it arrives (JSON output) with the
// flow's counters as of the packet that caused it, which the event carries.
void Agent::on_event(const fa_flow_event& event) {
    events_seen_++;
    // Marked as found by the latest table read: a flow that starts while a report reads the
    // table may be in a bucket the read has passed, and is not to be swept as evicted.
    if (event.type == FA_EVENT_FLOW_START) note_flow(event.key, event.stats.first_seen_ns).read = collections_;
    EventOutput& output = event_output_;
    if (!output.out) return;
    if (!output.clocks_read) {
        output.mono_to_unix_ns = monotonic_to_unix_offset_ns();
        output.now_unix_ns = clock_ns(CLOCK_REALTIME);
        output.clocks_read = true;
    }
    const char* type = event.type == FA_EVENT_FLOW_END ? "flow_end" : "flow_start";
    write_line(*output.out, flow_to_json(record_for(event.key, event.stats, output.mono_to_unix_ns), output.now_unix_ns, type));
}

DatapathCounters Agent::counters() const { return counters_with(flows_->snapshot().size()); }

DatapathCounters Agent::counters_with(std::size_t flows_in_table) const {
    DatapathCounters c;
    c.flows = flows_in_table;
    c.events = events_seen_;
    c.events_lost = flows_->counter(FA_CNT_RINGBUF_DROPS);
    c.parse_errors = flows_->counter(FA_CNT_PARSE_ERRORS);
    c.not_ip = flows_->counter(FA_CNT_NOT_IP);
    c.flows_evicted = evicted_;
    return c;
}

void Agent::report_interval(std::ostream& out, bool final_report) {
    std::uint64_t now = clock_ns(CLOCK_REALTIME);
    for (const auto& change : flows_->refresh_interfaces()) {
        if (options_.output == OutputFormat::json) out << interface_change_to_json(change, now) << "\n";
        else std::fprintf(stderr, "flowattr: %s\n", interface_change_to_text(change).c_str());
    }
    // Records (with their process) are made only for the flows printed. JSON: each batch of the
    // table is judged and its changed flows printed as it is read, so a million-flow table is
    // never held whole (PERFORMANCE.md, a full flow table); the table view keeps every flow to
    // sort them.
    const std::int64_t offset = monotonic_to_unix_offset_ns();
    const std::uint64_t mono_now = clock_ns(CLOCK_MONOTONIC);
    const auto grace_ns = std::uint64_t(options_.ended_grace_s * 1e9);
    const bool table_view = options_.output == OutputFormat::table;
    std::vector<FlowEntry> flows;  // the table view's
    std::size_t in_table = 0;
    visit_table([&](const std::vector<FlowEntry>& batch) {
        for (const auto& f : batch) {
            const FlowVerdict verdict = judge(f, final_report, mono_now, grace_ns);
            if (verdict != FlowVerdict::erased) in_table++;
            if (table_view) flows.push_back(f);
            else if (verdict == FlowVerdict::report) write_line(out, flow_to_json(record_for(f.key, f.stats, offset), now));
        }
        // The ring buffer is drained between batches too: a million-flow report takes a second
        // or more, longer than connection churn takes to fill the ring (PERFORMANCE.md).
        poll_events(0, table_view ? nullptr : &out);
    });
    sweep_evicted();
    sweep_processes();
    // The table was just read: count it from that read rather than walk it again.
    DatapathCounters c = counters_with(in_table);
    if (table_view) {
        // Like top: every flow, most recently active first, redrawn in place on a terminal
        // and cut to its height (the counters line says how many flows there are).
        std::sort(flows.begin(), flows.end(), [](const FlowEntry& a, const FlowEntry& b) {
            return a.stats.last_seen_jiffies > b.stats.last_seen_jiffies;
        });
        winsize ws{};
        bool tty = isatty(STDOUT_FILENO);
        if (tty && !final_report && ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 3 &&
            flows.size() > std::size_t(ws.ws_row - 3))
            flows.resize(std::size_t(ws.ws_row - 3));
        std::vector<FlowRecord> rows;
        rows.reserve(flows.size());
        for (const auto& f : flows) rows.push_back(record_for(f.key, f.stats, offset));
        if (tty) out << "\x1b[H\x1b[2J";
        out << flows_to_table(rows) << counters_to_text(c) << "\n" << std::flush;
        return;
    }
    out << counters_to_json(c, now, final_report) << "\n";
    for (const auto& c : cgroup_usage()) {
        nlohmann::json j;
        j["type"] = "cgroup";
        j["cgroup_id"] = c.cgroup_id;
        j["ingress"] = {{"packets", c.stats.packets[FA_DIR_INGRESS]}, {"bytes", c.stats.bytes[FA_DIR_INGRESS]}};
        j["egress"] = {{"packets", c.stats.packets[FA_DIR_EGRESS]}, {"bytes", c.stats.bytes[FA_DIR_EGRESS]}};
        j["dropped"] = {{"packets", c.stats.dropped_packets}, {"bytes", c.stats.dropped_bytes}};
        out << json_text(j) << "\n";
    }
    out << std::flush;
}

void Agent::run(std::ostream& out, const std::atomic<bool>& stop) {
    using clock = std::chrono::steady_clock;
    auto start = clock::now();
    auto next_report = start + std::chrono::duration<double>(options_.interval_s);
    auto deadline = start + std::chrono::duration<double>(options_.duration_s);
    std::ostream* json_events = options_.output == OutputFormat::json ? &out : nullptr;
    // A reader that went away (`flowattr run | head`) fails the stream: stop and detach
    // like on SIGTERM rather than run on unseen.
    while (!stop.load() && out) {
        poll_events(100, json_events);
        auto now = clock::now();
        if (options_.duration_s > 0 && now >= deadline) break;
        if (now >= next_report) {
            report_interval(out, false);
            next_report += std::chrono::duration_cast<clock::duration>(std::chrono::duration<double>(options_.interval_s));
        }
    }
    if (out) poll_events(0, json_events);  // events still queued: printed before the final report
    if (out) report_interval(out, true);
}

int Agent::poll_events(int timeout_ms, std::ostream* json_out) {
    struct Restore {
        EventOutput& target;
        ~Restore() { target = EventOutput{}; }
    } restore{event_output_};
    event_output_ = EventOutput{json_out};
    return flows_->poll(timeout_ms);
}

}  // namespace flowattr::agent
