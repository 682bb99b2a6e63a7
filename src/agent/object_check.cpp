#include "agent/object_check.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <net/if.h>
#include <linux/perf_event.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <regex>
#include <unordered_set>

#include "agent/flow.h"
#include "agent/identity.h"
#include "agent/libbpf_support.h"
#include "agent/probe.h"
#include "common/error.h"
#include "common/unique_fd.h"

namespace flowattr::agent {

using diagnose::Stage;

// Where tracefs may be mounted: its own mount point, and under debugfs on older setups.
constexpr const char* kTracefsRoots[] = {"/sys/kernel/tracing", "/sys/kernel/debug/tracing"};

// Lazily made targets and probe answers, shared by every program of a run.
class CheckTargets {
public:
    ~CheckTargets() {
        cgroup_fd_.reset();
        if (!cgroup_path_.empty()) ::rmdir(cgroup_path_.c_str());
    }

    // A network namespace of the check's own, made at first use, as a path for with_netns();
    // "" with WHY when it cannot be made. tc, TCX and XDP programs are attached to its loopback
    // device, not the host's: a program that drops or redirects would do that to the host's
    // loopback traffic while attached. The namespace, and whatever is attached in it, goes
    // when the check ends, however it ends.
    std::string scratch_netns(std::string& why) {
        if (!netns_ && netns_why_.empty()) {
            try {
                netns_.emplace();
            } catch (const Error& e) {
                netns_why_ = e.what();
            }
        }
        why = netns_why_;
        return netns_ ? netns_->path() : "";
    }

    // A scratch cgroup under the cgroup v2 mount, or -1 with WHY set.
    int cgroup(std::string& why) {
        if (cgroup_fd_) return cgroup_fd_.get();
        std::string root = find_cgroup2_mount();
        if (root.empty()) {
            why = "no cgroup v2 mount";
            return -1;
        }
        cgroup_path_ = root + "/flowattr-check." + std::to_string(::getpid());
        if (::mkdir(cgroup_path_.c_str(), 0755) != 0 && errno != EEXIST) {
            why = describe_errno("cannot create " + cgroup_path_, errno);
            cgroup_path_.clear();
            return -1;
        }
        cgroup_fd_ = UniqueFd(::open(cgroup_path_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        if (!cgroup_fd_) why = describe_errno("cannot open " + cgroup_path_, errno);
        return cgroup_fd_ ? cgroup_fd_.get() : -1;
    }

    bool tcx_known() {
        if (!tcx_) tcx_ = probe_tcx().available;
        return *tcx_;
    }

    // Whether an LSM hook of our own fires once attached; nullopt when the canary itself
    // cannot load or attach (then nothing is claimed about the user's LSM program).
    std::optional<bool> lsm_canary() {
        if (!canary_probed_) {
            canary_ = lsm_canary_fires();
            canary_probed_ = true;
        }
        return canary_;
    }

    // Whether FUNCTION has an ftrace site: it is listed in tracefs's available_filter_functions
    // ("name" or "name [module]" a line), read once; nullopt without tracefs.
    std::optional<bool> ftrace_location(const std::string& function) {
        if (!ftrace_functions_) {
            for (const char* root : kTracefsRoots) {
                std::ifstream in(std::string(root) + "/available_filter_functions");
                if (!in) continue;
                ftrace_functions_.emplace();
                for (std::string line; std::getline(in, line);)
                    ftrace_functions_->insert(line.substr(0, line.find(' ')));
                break;
            }
            if (!ftrace_functions_) return std::nullopt;
        }
        return ftrace_functions_->count(function) > 0;
    }

private:
    std::optional<OwnNetns> netns_;
    std::string netns_why_;
    std::string cgroup_path_;
    UniqueFd cgroup_fd_;
    std::optional<bool> tcx_;
    bool canary_probed_ = false;
    std::optional<bool> canary_;
    std::optional<std::unordered_set<std::string>> ftrace_functions_;
};

namespace {

constexpr const char* kWholeObject = "(object)";

// A map the object leaves unsized for its loader: max_entries or value_size 0, where the
// type does not itself want 0 (local storage) or get it filled in by libbpf (perf event
// arrays: one slot per CPU).
bool map_sized_by_loader(const bpf_map* map) {
    constexpr int kBpfMapTypeCgrpStorage = 32;  // 6.2, newer than the build host's UAPI headers
    switch (int(bpf_map__type(map))) {
    case BPF_MAP_TYPE_PERF_EVENT_ARRAY:
    case BPF_MAP_TYPE_SK_STORAGE:
    case BPF_MAP_TYPE_INODE_STORAGE:
    case BPF_MAP_TYPE_TASK_STORAGE:
    case kBpfMapTypeCgrpStorage:
    case BPF_MAP_TYPE_STRUCT_OPS:
        return false;
    default:
        return bpf_map__max_entries(map) == 0 || bpf_map__value_size(map) == 0;
    }
}

// A map of maps whose object gives no inner map (no __array(values, ...) in its definition):
// its loader sets one (bpf_map__set_inner_map_fd), which the check cannot know, and without it
// the kernel refuses the map (systemd's restrict-fs object).
bool inner_map_left_to_loader(const bpf_map* map) {
    const auto type = bpf_map__type(map);
    return (type == BPF_MAP_TYPE_ARRAY_OF_MAPS || type == BPF_MAP_TYPE_HASH_OF_MAPS) &&
           !bpf_map__inner_map(const_cast<bpf_map*>(map));
}

// What the check changed in an object's maps before loading it, said in each program's note.
struct MapChanges {
    std::vector<std::string> unpinned;  // map names
    std::vector<std::string> sized;     // "start (max_entries 1)"
};

// The size --size-maps gives a map its loader sizes. max_entries 1, as the kernel's veristat
// gives it (the verifier does not look at it), but a ring buffer's: a power-of-2 number of
// pages, so one page. A stack-trace map's value_size 127 frames of 8 bytes: the kernel's default
// perf_event_max_stack and libbpf-tools' default depth. Any other value_size 0 stays (the check
// cannot know the loader's value type) and the map still fails as loader-sized-map.
std::string give_size(bpf_map* map) {
    std::string said;
    auto say = [&](const char* what, std::uint32_t n) {
        said += std::string(said.empty() ? "" : ", ") + what + " " + std::to_string(n);
    };
    if (bpf_map__max_entries(map) == 0) {
        const auto type = bpf_map__type(map);
        const bool ring = type == BPF_MAP_TYPE_RINGBUF || type == BPF_MAP_TYPE_USER_RINGBUF;
        const std::uint32_t n = ring ? std::uint32_t(::sysconf(_SC_PAGESIZE)) : 1;
        if (bpf_map__set_max_entries(map, n) == 0) say("max_entries", n);
    }
    if (bpf_map__value_size(map) == 0 && bpf_map__type(map) == BPF_MAP_TYPE_STACK_TRACE) {
        constexpr std::uint32_t kStackBytes = 127 * sizeof(std::uint64_t);
        if (bpf_map__set_value_size(map, kStackBytes) == 0) say("value_size", kStackBytes);
    }
    return said;
}

const SectionType* section_type_of(const std::vector<SectionType>& types, const std::string& section) {
    for (const auto& t : types)
        if (t.section == section) return &t;
    return nullptr;
}

// The section a program is checked as, attached as and diagnosed as: its --section-type's AS,
// else its own.
std::string checked_section(const CheckOptions& o, const std::string& section) {
    const SectionType* t = section_type_of(o.section_types, section);
    return t ? t->as : section;
}

// The programs of each --section-type's SECTION get the program type and expected attach type
// libbpf gives a program of AS (parse_section_type made sure it has them).
void retype_programs(bpf_object* obj, const std::vector<SectionType>& types) {
    bpf_program* prog;
    bpf_object__for_each_program(prog, obj) {
        const SectionType* t = section_type_of(types, bpf_program__section_name(prog));
        bpf_prog_type type;
        bpf_attach_type attach;
        if (!t || libbpf_prog_type_by_name(t->as.c_str(), &type, &attach) != 0) continue;
        bpf_program__set_type(prog, type);
        bpf_program__set_expected_attach_type(prog, attach);
    }
}

// Before an object opened for checking is loaded: its programs retyped (retype_programs). Maps
// the object pins by name (LIBBPF_PIN_BY_NAME) are created unpinned: libbpf would pin them under
// /sys/fs/bpf and leave them there, or reuse a map a running loader pinned there and load against
// that. What a kernel makes of the object does not depend on where its maps are pinned. With
// size_maps, the maps its loader sizes get give_size()'s.
MapChanges prepare_object(bpf_object* obj, const CheckOptions& options) {
    retype_programs(obj, options.section_types);
    MapChanges changes;
    bpf_map* map;
    bpf_object__for_each_map(map, obj) {
        if (bpf_map__pin_path(map)) {
            changes.unpinned.push_back(bpf_map__name(map));
            bpf_map__set_pin_path(map, nullptr);
        }
        if (!options.size_maps || !map_sized_by_loader(map) || inner_map_left_to_loader(map)) continue;
        const std::string said = give_size(map);
        if (!said.empty()) changes.sized.push_back(std::string(bpf_map__name(map)) + " (" + said + ")");
    }
    return changes;
}

std::string joined(const std::vector<std::string>& items) {
    std::string s;
    for (const auto& item : items) s += (s.empty() ? "" : ", ") + item;
    return s;
}

// Said of every program checked in an object whose maps prepare_maps() changed.
void note_map_changes(std::vector<ProgramCheck>& checks, const MapChanges& changes) {
    std::string note;
    auto maps = [](const std::vector<std::string>& names) { return std::string(names.size() > 1 ? "maps " : "map "); };
    if (!changes.unpinned.empty())
        note = maps(changes.unpinned) + joined(changes.unpinned) +
               " created unpinned (pinned by name by its loader; the check pins nothing)";
    if (!changes.sized.empty())
        note += (note.empty() ? "" : "; ") + maps(changes.sized) + joined(changes.sized) +
                " sized by the check (--size-maps; 0 in the object, for its loader to set)";
    if (note.empty()) return;
    for (auto& c : checks)
        if (c.status != CheckStatus::skip) c.note += (c.note.empty() ? "" : "; ") + note;
}

// One program loaded alone: its object's maps are created, every other program is off.
struct LoadAttempt {
    BpfObject obj;
    bpf_program* prog = nullptr;
    int ret = 0;
    std::string verifier_log;
    std::string libbpf_log;
};

LoadAttempt load_alone(const ObjectBytes& o, const std::string& program, const CheckOptions& options,
                       std::uint32_t log_level, std::size_t log_size) {
    LoadAttempt a;
    LibbpfLogCapture capture;
    a.obj = open_bpf_object(o.name, o.bytes);
    if (!a.obj) {
        a.ret = -errno;
        a.libbpf_log = capture.text();
        return a;
    }
    prepare_object(a.obj.get(), options);
    std::vector<char> buf(log_size, '\0');
    bpf_program* prog;
    bpf_object__for_each_program(prog, a.obj.get()) {
        bool mine = program == bpf_program__name(prog);
        bpf_program__set_autoload(prog, mine);
        if (mine) {
            a.prog = prog;
            bpf_program__set_log_level(prog, log_level);
            bpf_program__set_log_buf(prog, buf.data(), buf.size());
        }
    }
    a.ret = bpf_object__load(a.obj.get());
    a.verifier_log = buf.data();
    if (a.prog) bpf_program__set_log_buf(a.prog, nullptr, 0);  // buf dies here
    a.libbpf_log = capture.text();
    return a;
}

// Sections whose libbpf definition leaves expected_attach_type 0 (the kernel then takes the
// program for BPF_CGROUP_INET_INGRESS / no attach type at all).
bool leaves_attach_type_unset(const std::string& section) {
    return section == "tc" || section == "classifier" || section == "action" || section == "cgroup/skb";
}

bool starts_with(const std::string& s, const char* prefix) { return s.rfind(prefix, 0) == 0; }

std::optional<bool> probe_answer(int ret) {
    if (ret == 1) return true;
    if (ret == 0) return false;
    return std::nullopt;
}

diagnose::KernelFacts facts_for(bpf_object* obj, bpf_program* prog, CheckTargets& targets) {
    diagnose::KernelFacts f;
    f.privileged = !missing_privileges().has_value();
    // An unprivileged loader's type probes fail like missing types would: ask nothing.
    if (!prog || !*f.privileged) return f;
    LibbpfLogCapture quiet;
    f.program_type_supported = probe_answer(libbpf_probe_bpf_prog_type(bpf_program__type(prog), nullptr));
    auto eat = int(bpf_program__expected_attach_type(prog));
    if (eat == kBpfTcxIngress || eat == kBpfTcxEgress) f.attach_type_known = targets.tcx_known();
    bpf_map* map;
    bpf_object__for_each_map(map, obj) {
        if (inner_map_left_to_loader(map)) f.inner_less_maps.push_back(bpf_map__name(map));
        else if (map_sized_by_loader(map)) f.unsized_maps.push_back(bpf_map__name(map));
        if (probe_answer(libbpf_probe_bpf_map_type(bpf_map__type(map), nullptr)) == false) {
            const char* type = libbpf_bpf_map_type_str(bpf_map__type(map));
            f.unsupported_maps.push_back(std::string(bpf_map__name(map)) + " (" + (type ? type : "type " + std::to_string(bpf_map__type(map))) + ")");
        }
    }
    if (bpf_program__type(prog) == BPF_PROG_TYPE_LSM) f.bpf_lsm_active = bpf_lsm_active();
    f.tracefs_mounted = std::any_of(std::begin(kTracefsRoots), std::end(kTracefsRoots), [](const char* root) {
        return ::access((std::string(root) + "/events").c_str(), F_OK) == 0;
    });
    return f;
}

// SECTION: the one the program was checked as (checked_section).
void fail(ProgramCheck& c, const std::string& section, Stage stage, int err, const std::string& verifier_log,
          const std::string& libbpf_log, const diagnose::KernelFacts& facts) {
    c.status = CheckStatus::fail;
    c.stage = stage;
    c.err = err;
    diagnose::Failure f;
    f.stage = stage;
    f.err = err;
    f.verifier_log = verifier_log;
    f.libbpf_log = libbpf_log;
    f.section = section;
    f.legacy_section = leaves_attach_type_unset(section);
    f.facts = facts;
    c.diagnosis = diagnose::diagnose(f);
    // The log shown: the verifier's when it ran, else what libbpf said.
    c.log = !verifier_log.empty() ? verifier_log : libbpf_log;
}

// A held attachment; detaching is the destructor's job.
struct Attachment {
    BpfLink link;
    std::optional<bpf_tc_hook> tc_hook;  // clsact filter to remove, through netlink in netns
    std::optional<bpf_tc_opts> tc_opts;
    bool destroy_hook = false;
    std::string netns;
    UniqueFd socket;  // a socket filter's or reuseport program's: closing it detaches the program

    ~Attachment() {
        if (!tc_hook || !tc_opts) return;
        try {
            with_netns(netns, [this] {
                LibbpfLogCapture quiet;
                LIBBPF_OPTS(bpf_tc_opts, del, .handle = tc_opts->handle, .priority = tc_opts->priority);
                bpf_tc_detach(&*tc_hook, &del);
                if (destroy_hook) {
                    tc_hook->attach_point = static_cast<bpf_tc_attach_point>(BPF_TC_INGRESS | BPF_TC_EGRESS);
                    bpf_tc_hook_destroy(&*tc_hook);
                }
            });
        } catch (const Error&) {
            // A destructor must not throw; a filter left in the scratch namespace goes with it
            // when the check ends.
        }
    }
};

struct AttachOutcome {
    bool attempted = false;
    int err = 0;
    std::string how;         // what was attached where
    std::string not_why;     // loaded only: why no attach was tried
    std::string libbpf_log;
};

AttachOutcome attach_clsact(bpf_program* prog, const std::string& section, int lo, Attachment& held) {
    AttachOutcome r;
    r.attempted = true;
    bool egress = section.find("egress") != std::string::npos;
    LibbpfLogCapture log;
    LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = lo,
                .attach_point = egress ? BPF_TC_EGRESS : BPF_TC_INGRESS);
    int ret = bpf_tc_hook_create(&hook);
    if (ret < 0 && ret != -EEXIST) {
        r.err = -ret;
        r.libbpf_log = log.text();
        return r;
    }
    held.destroy_hook = ret == 0;
    held.tc_hook = hook;
    LIBBPF_OPTS(bpf_tc_opts, opts, .prog_fd = bpf_program__fd(prog));
    ret = bpf_tc_attach(&hook, &opts);
    if (ret < 0) {
        r.err = -ret;
        r.libbpf_log = log.text();
        held.tc_opts.reset();
        if (held.destroy_hook) {
            hook.attach_point = static_cast<bpf_tc_attach_point>(BPF_TC_INGRESS | BPF_TC_EGRESS);
            bpf_tc_hook_destroy(&hook);
        }
        held.tc_hook.reset();
        return r;
    }
    held.tc_opts = opts;
    r.how = std::string("clsact ") + (egress ? "egress" : "ingress") + " on a scratch netns's lo";
    return r;
}

AttachOutcome attach_link(bpf_link* link, std::string how, const LibbpfLogCapture& log, Attachment& held) {
    AttachOutcome r;
    r.attempted = true;
    if (!link) {
        r.err = errno;
        r.libbpf_log = log.text();
        return r;
    }
    held.link.reset(link);
    r.how = std::move(how);
    return r;
}

// PROG set on a socket of TYPE of the check's own with OPTION (SO_ATTACH_BPF,
// SO_ATTACH_REUSEPORT_EBPF), where the kernel checks the program's type; closing the socket
// detaches it.
AttachOutcome attach_to_socket(bpf_program* prog, int type, int option, const char* how, Attachment& held) {
    AttachOutcome r;
    r.attempted = true;
    held.socket = UniqueFd(::socket(AF_INET, type | SOCK_CLOEXEC, 0));
    const int one = 1, fd = bpf_program__fd(prog);
    if (!held.socket || (option == SO_ATTACH_REUSEPORT_EBPF &&
                         ::setsockopt(held.socket.get(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0) ||
        ::setsockopt(held.socket.get(), SOL_SOCKET, option, &fd, sizeof(fd)) != 0) {
        r.err = errno;
        return r;
    }
    r.how = how;
    return r;
}

// Attaches PROG the way its program type and SECTION (the one it is checked as) say, where this
// host has the target.
AttachOutcome attach_program(bpf_program* prog, const std::string& section, CheckTargets& t, Attachment& held) {
    const bpf_prog_type type = bpf_program__type(prog);
    const auto eat = int(bpf_program__expected_attach_type(prog));
    const char* type_name = libbpf_bpf_prog_type_str(type);
    AttachOutcome none;
    LibbpfLogCapture log;
    // The check's scratch network namespace into held.netns; false, with NONE saying why,
    // where it cannot be made.
    auto in_scratch_netns = [&] {
        std::string why;
        held.netns = t.scratch_netns(why);
        if (held.netns.empty()) none.not_why = "loaded only: " + why;
        return !held.netns.empty();
    };
    switch (type) {
    case BPF_PROG_TYPE_SOCKET_FILTER:
        // An unbound UDP socket receives nothing: the filter runs on nobody's traffic.
        return attach_to_socket(prog, SOCK_DGRAM, SO_ATTACH_BPF, "SO_ATTACH_BPF on an unbound UDP socket", held);
    case BPF_PROG_TYPE_SK_REUSEPORT:
        // A TCP socket (sk_reuseport/migrate's programs take only TCP) of SO_REUSEPORT, unbound:
        // the kernel makes it a reuseport group of one, which selects for no connection.
        return attach_to_socket(prog, SOCK_STREAM, SO_ATTACH_REUSEPORT_EBPF,
                                "SO_ATTACH_REUSEPORT_EBPF on an unbound TCP socket", held);
    case BPF_PROG_TYPE_PERF_EVENT: {
        // A software clock event on CPU 0 sampling once a second: the kernel checks the program
        // against a sampling event there (perf_event_set_bpf_prog), and for the moment it is
        // attached it all but never runs. A hardware event (llcstat's cache misses) may not
        // exist on the machine (a VM); what its program may do is the same.
        perf_event_attr attr{};
        attr.type = PERF_TYPE_SOFTWARE;
        attr.size = sizeof(attr);
        attr.config = PERF_COUNT_SW_CPU_CLOCK;
        attr.freq = 1;
        attr.sample_freq = 1;
        const int event = int(::syscall(__NR_perf_event_open, &attr, -1, 0, -1, PERF_FLAG_FD_CLOEXEC));
        if (event < 0) {
            none.not_why = "loaded only: " + describe_errno("no software clock event to attach to", errno);
            return none;
        }
        // libbpf's perf link owns the event from here: destroying the link closes it.
        bpf_link* link = bpf_program__attach_perf_event(prog, event);
        if (!link) {
            const int err = errno;
            ::close(event);
            errno = err;
        }
        return attach_link(link, "a software clock event on CPU 0", log, held);
    }
    case BPF_PROG_TYPE_FLOW_DISSECTOR:
    case BPF_PROG_TYPE_SK_LOOKUP: {
        if (!in_scratch_netns()) return none;
        UniqueFd netns(::open(held.netns.c_str(), O_RDONLY | O_CLOEXEC));
        if (!netns) {
            none.not_why = "loaded only: " + describe_errno("cannot open " + held.netns, errno);
            return none;
        }
        return attach_link(bpf_program__attach_netns(prog, netns.get()), "netns link on a scratch netns", log, held);
    }
    case BPF_PROG_TYPE_SCHED_CLS:
    case BPF_PROG_TYPE_XDP: {
        if (!in_scratch_netns()) return none;
        AttachOutcome r;
        with_netns(held.netns, [&] {
            const int lo = int(if_nametoindex("lo"));
            if (type == BPF_PROG_TYPE_XDP)
                r = attach_link(bpf_program__attach_xdp(prog, lo), "xdp on a scratch netns's lo", log, held);
            else if (eat == kBpfTcxIngress || eat == kBpfTcxEgress)
                r = attach_link(bpf_program__attach_tcx(prog, lo, nullptr),
                                std::string("tcx ") + (eat == kBpfTcxIngress ? "ingress" : "egress") +
                                    " on a scratch netns's lo",
                                log, held);
            else
                r = attach_clsact(prog, section, lo, held);
        });
        return r;
    }
    case BPF_PROG_TYPE_CGROUP_SKB:
    case BPF_PROG_TYPE_CGROUP_SOCK:
    case BPF_PROG_TYPE_CGROUP_SOCK_ADDR:
    case BPF_PROG_TYPE_CGROUP_SOCKOPT:
    case BPF_PROG_TYPE_CGROUP_SYSCTL:
    case BPF_PROG_TYPE_CGROUP_DEVICE:
    case BPF_PROG_TYPE_SOCK_OPS: {
        std::string why;
        int fd = t.cgroup(why);
        if (fd < 0) {
            none.not_why = "loaded only: " + why;
            return none;
        }
        return attach_link(bpf_program__attach_cgroup(prog, fd), "cgroup link on a scratch cgroup", log, held);
    }
    case BPF_PROG_TYPE_KPROBE:
        if (starts_with(section, "uprobe") || starts_with(section, "uretprobe") || starts_with(section, "usdt")) {
            none.not_why = "loaded only: a uprobe needs the binary it probes";
            return none;
        }
        [[fallthrough]];
    case BPF_PROG_TYPE_TRACEPOINT:
    case BPF_PROG_TYPE_RAW_TRACEPOINT:
    case BPF_PROG_TYPE_RAW_TRACEPOINT_WRITABLE:
    case BPF_PROG_TYPE_TRACING:
    case BPF_PROG_TYPE_LSM: {
        AttachOutcome r = attach_link(bpf_program__attach(prog), "libbpf auto-attach", log, held);
        // libbpf answers EOPNOTSUPP itself, before any syscall, when the section names no
        // target (SEC("kprobe") without a function): nothing to attach, not a kernel failure.
        if (r.err == EOPNOTSUPP) {
            none.not_why = "loaded only: section \"" + section + "\" names no target libbpf can attach automatically";
            return none;
        }
        return r;
    }
    default:
        none.not_why = std::string("loaded only: flowattr check does not attach ") + (type_name ? type_name : "this") +
                       " programs";
        return none;
    }
}

// The attached LSM program runs only where bpf is an active LSM: a canary hook of our own
// (identity.bpf.c's socket_post_create) shows whether LSM hooks fire at all here.
void check_runs(ProgramCheck& c, const std::string& section, bpf_object* obj, bpf_program* prog, CheckTargets& t) {
    if (bpf_program__type(prog) != BPF_PROG_TYPE_LSM) return;
    std::optional<bool> fires = t.lsm_canary();
    if (!fires) {
        c.note += (c.note.empty() ? "" : "; ") + std::string("the LSM canary could not load here: whether hooks fire is unproven");
        return;
    }
    if (*fires) return;
    fail(c, section, Stage::run, 0, "", "", facts_for(obj, prog, t));
}

}  // namespace

std::uint64_t parse_insns_processed(const std::string& log) {
    static const std::regex pattern(R"(processed (\d+) insns)");
    std::smatch m;
    if (std::regex_search(log, m, pattern)) return std::stoull(m[1]);
    return 0;
}

SectionType parse_section_type(const std::string& spec) {
    const auto eq = spec.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == spec.size())
        throw BadInputError("--section-type " + spec + ": want SECTION=AS, AS a section libbpf has a program type for "
                            "(socket, xdp, tc, ...)");
    SectionType t{spec.substr(0, eq), spec.substr(eq + 1)};
    LibbpfLogCapture quiet;
    bpf_prog_type type;
    bpf_attach_type attach;
    if (libbpf_prog_type_by_name(t.as.c_str(), &type, &attach) != 0)
        throw BadInputError("--section-type " + spec + ": libbpf has no program type for section '" + t.as +
                            "' (docs.kernel.org/bpf/libbpf/program_types.html)");
    return t;
}

std::vector<std::string> unmatched_section_types(const std::vector<SectionType>& types,
                                                 const std::vector<ObjectBytes>& objects) {
    std::set<std::string> sections;
    for (const auto& o : objects) {
        LibbpfLogCapture quiet;
        BpfObject obj = open_bpf_object(o.name, o.bytes);
        if (!obj) continue;
        bpf_program* prog;
        bpf_object__for_each_program(prog, obj.get()) sections.insert(bpf_program__section_name(prog));
    }
    std::vector<std::string> unmatched;
    for (const auto& t : types)
        if (!sections.count(t.section))
            unmatched.push_back("--section-type " + t.section + "=" + t.as + ": no program of the objects is in section '" +
                                t.section + "'");
    return unmatched;
}

ObjectChecker::ObjectChecker(CheckOptions options) : options_(std::move(options)), targets_(new CheckTargets) {}
ObjectChecker::~ObjectChecker() { delete targets_; }

// The rest of a program that loaded: its statistics, a BTF the kernel refused, then attach,
// detach and (LSM) the canary.
void ObjectChecker::finish_pass(ProgramCheck& c, bpf_object* obj, bpf_program* prog, const std::string& stats_log,
                                const std::string& libbpf_log) {
    c.status = CheckStatus::pass;
    c.log = stats_log;
    c.insns_processed = parse_insns_processed(stats_log);
    const std::string btf_ignored = diagnose::btf_ignored_warning(libbpf_log);
    if (!btf_ignored.empty()) c.note += (c.note.empty() ? "" : "; ") + std::string("loaded without its BTF: ") + btf_ignored;
    if (!options_.attach) return;
    const std::string section = checked_section(options_, c.section);
    Attachment held;
    AttachOutcome at = attach_program(prog, section, *targets_, held);
    if (!at.attempted) {
        c.note += (c.note.empty() ? "" : "; ") + at.not_why;
    } else if (at.err) {
        diagnose::KernelFacts facts = facts_for(obj, prog, *targets_);
        // Asked only where it decides the cause (diagnose's trampoline rules): the list is read
        // whole, about 40,000 lines.
        auto target = diagnose::trampoline_target(section);
        if (target && (at.err == EBUSY || at.err == kEnotsupp)) facts.ftrace_location = targets_->ftrace_location(*target);
        fail(c, section, Stage::attach, at.err, "", at.libbpf_log, facts);
    } else {
        c.attach = at.how;
        check_runs(c, section, obj, prog, *targets_);
    }
}

std::vector<ProgramCheck> ObjectChecker::check(const ObjectBytes& object) {
    std::vector<std::pair<std::string, std::string>> programs;  // name, section
    MapChanges changes;
    {
        LibbpfLogCapture capture;
        BpfObject listing = open_bpf_object(object.name, object.bytes);
        if (!listing) {
            ProgramCheck c;
            c.object = object.name;
            c.program = kWholeObject;
            fail(c, c.section, Stage::load, errno, "", capture.text(), facts_for(nullptr, nullptr, *targets_));
            return {c};
        }
        bpf_program* prog;
        bpf_object__for_each_program(prog, listing.get())
            programs.emplace_back(bpf_program__name(prog), bpf_program__section_name(prog));
        changes = prepare_object(listing.get(), options_);
    }
    std::vector<ProgramCheck> checks;
    std::set<std::string> to_load;
    for (const auto& [name, section] : programs) {
        ProgramCheck c;
        c.object = object.name;
        c.program = name;
        c.section = section;
        if (const SectionType* t = section_type_of(options_.section_types, section))
            c.note = "loaded as SEC(\"" + t->as + "\") (--section-type " + t->section + "=" + t->as + ")";
        if (options_.skip) {
            if (auto why = options_.skip(section)) {
                c.status = CheckStatus::skip;
                c.note = *why;
            }
        }
        if (c.status != CheckStatus::skip) to_load.insert(name);
        checks.push_back(c);
    }

    // Every program at once first. The kernel verifies each program on its own, so a joint
    // load that passes gives each program its own result and statistics, for one
    // bpf_object__load instead of one per program (each re-reading the kernel's BTF: seconds
    // an object under TCG). Only when it fails is each program loaded alone to find which.
    if (to_load.size() > 1) {
        LibbpfLogCapture capture;
        BpfObject obj = open_bpf_object(object.name, object.bytes);
        std::map<std::string, std::vector<char>> logs;
        bpf_program* prog;
        if (obj) {
            prepare_object(obj.get(), options_);
            bpf_object__for_each_program(prog, obj.get()) {
                bool load = to_load.count(bpf_program__name(prog)) > 0;
                bpf_program__set_autoload(prog, load);
                if (!load) continue;
                std::vector<char>& buf = logs[bpf_program__name(prog)];
                buf.assign(1 << 16, '\0');
                bpf_program__set_log_level(prog, 4);
                bpf_program__set_log_buf(prog, buf.data(), buf.size());
            }
        }
        if (obj && bpf_object__load(obj.get()) == 0) {
            std::string libbpf_log = capture.text();
            for (auto& c : checks) {
                if (c.status == CheckStatus::skip) continue;
                prog = bpf_object__find_program_by_name(obj.get(), c.program.c_str());
                finish_pass(c, obj.get(), prog, logs[c.program].data(), libbpf_log);
            }
            note_map_changes(checks, changes);
            return checks;
        }
    }

    for (auto& c : checks) {
        if (c.status == CheckStatus::skip) continue;
        // Statistics only (log level 4): a full log of a passing program is huge.
        LoadAttempt a = load_alone(object, c.program, options_, 4, 1 << 16);
        if (a.ret == 0) {
            finish_pass(c, a.obj.get(), a.prog, a.verifier_log, a.libbpf_log);
            continue;
        }
        int err = -a.ret;
        // The full log of a program that ran the verifier out of its instruction budget
        // is a million lines and as long again to produce; the statistics say enough. And
        // an empty statistics log means the verifier never ran (the kernel prints them on
        // every path out of bpf_check that verified anything): libbpf refused the program
        // first (no BTF id for its attach target, a map it could not create) or the kernel
        // refused the load itself, and a full log would be as empty. In a check of Debian's
        // libbpf-tools that is 85 of each kernel's 391 programs, each reload an object open
        // with its BTF parse.
        const bool verified = !a.verifier_log.empty();
        LoadAttempt full = err == E2BIG || !verified ? LoadAttempt{} : load_alone(object, c.program, options_, 1, 16 << 20);
        fail(c, checked_section(options_, c.section), Stage::load, err, full.verifier_log.empty() ? a.verifier_log : full.verifier_log, a.libbpf_log,
             facts_for(a.obj.get(), a.prog, *targets_));
    }
    note_map_changes(checks, changes);
    return checks;
}

}  // namespace flowattr::agent
