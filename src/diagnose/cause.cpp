#include "diagnose/cause.h"

#include <cerrno>
#include <cstring>
#include <regex>
#include <sstream>

#include "common/error.h"

namespace flowattr::diagnose {
namespace {


const std::regex& re(const char* pattern) {
    // Compiled once per pattern; the table's patterns are string literals.
    static thread_local std::vector<std::pair<const char*, std::regex>> cache;
    for (const auto& [p, r] : cache)
        if (p == pattern) return r;
    cache.emplace_back(pattern, std::regex(pattern));
    return cache.back().second;
}

std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> out;
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
        while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
        if (!line.empty()) out.push_back(line);
    }
    return out;
}

// libbpf prefixes its lines with "libbpf: "; the kernel's words are what follows.
std::string strip_libbpf(std::string line) {
    if (line.rfind("libbpf: ", 0) == 0) line.erase(0, 8);
    return line;
}

// The first line of TEXT containing any of NEEDLES.
std::optional<std::string> line_with(const std::string& text, std::initializer_list<const char*> needles) {
    for (const auto& line : lines_of(text))
        for (const char* n : needles)
            if (line.find(n) != std::string::npos) return strip_libbpf(line);
    return std::nullopt;
}

std::optional<std::string> either_log(const Failure& f, std::initializer_list<const char*> needles) {
    if (auto l = line_with(f.verifier_log, needles)) return l;
    return line_with(f.libbpf_log, needles);
}

std::string errno_line(int err) {
    if (!err) return "no errno";
    // libc names neither the kernel-internal ENOTSUPP nor explains it; errno_message does.
    const char* name = err == kEnotsupp ? "ENOTSUPP" : strerrorname_np(err);
    return std::string(name ? name : "errno") + " (" + errno_message(err) + ", errno " + std::to_string(err) + ")";
}

bool is_stats_line(const std::string& l) {
    return l.rfind("processed ", 0) == 0 || l.rfind("verification time", 0) == 0 ||
           l.rfind("stack depth", 0) == 0 || l.find("-- END PROG LOAD LOG --") != std::string::npos ||
           l.find("-- BEGIN PROG LOAD LOG --") != std::string::npos;
}

bool is_insn_line(const std::string& l) { return std::regex_search(l, re(R"(^\d+: \([0-9a-f]{2}\))")); }

bool section_is(const std::string& section, std::initializer_list<const char*> prefixes) {
    for (const char* p : prefixes)
        if (section.rfind(p, 0) == 0) return true;
    return false;
}

bool is_perf_attached(const std::string& section) {
    return section_is(section, {"kprobe", "kretprobe", "ksyscall", "kretsyscall", "tracepoint/", "tp/"});
}

bool empty_verifier_log(const Failure& f) { return verifier_reason(f.verifier_log).empty(); }

struct Match {
    std::string message;
    std::string cause_text;  // empty: the table's generic sentence
};
using Rule = std::optional<Match> (*)(const Failure&);

std::optional<Match> match_lsm_inactive(const Failure& f) {
    if (f.stage != Stage::run || !section_is(f.section, {"lsm/", "lsm.s/"})) return std::nullopt;
    if (f.facts.bpf_lsm_active.value_or(true)) return std::nullopt;
    return Match{"hook " + f.section + " attached, canary never fired; bpf not in /sys/kernel/security/lsm",
                 "the kernel has the BPF LSM but `bpf` is not in the active LSM list, so " + f.section +
                     " attached without error and never runs"};
}

std::optional<Match> match_missing_module(const Failure& f) {
    if (auto l = either_log(f, {"Specified qdisc kind is unknown", "TC classifier not found"})) return Match{*l, {}};
    return std::nullopt;
}

std::optional<Match> match_btf_rejected(const Failure& f) {
    auto ignored = btf_ignored_warning(f.libbpf_log);
    if (ignored.empty()) {
        // Loaders that treat BTF as required stop right there.
        if (auto l = line_with(f.libbpf_log, {"Error loading BTF", "BTF is required"})) return Match{*l, {}};
        return std::nullopt;
    }
    // A verifier that ran and gave its own reason failed for that reason, not for the BTF.
    if (!empty_verifier_log(f)) return std::nullopt;
    std::string cause = "the kernel refused the object's BTF (" + ignored + ")";
    if (auto map = line_with(f.libbpf_log, {"failed to create"}))
        cause += ", libbpf went on without it, and then " + *map + " because that map needs BTF";
    else
        cause += " and libbpf went on without it; what needed it then failed with " + errno_line(f.err);
    return Match{ignored, cause};
}

std::optional<Match> match_core_relocation(const Failure& f) {
    if (auto l = either_log(f, {"failed to resolve CO-RE relocation", "<invalid CO-RE relocation>"}))
        return Match{*l, {}};
    return std::nullopt;
}

std::optional<Match> match_missing_kfunc(const Failure& f) {
    std::smatch m;
    for (const auto& line : lines_of(f.libbpf_log + "\n" + f.verifier_log))
        if (std::regex_search(line, m, re(R"(extern \(func ksym\) '(\w+)': not found in kernel)")))
            return Match{strip_libbpf(line), "the program calls kfunc " + m[1].str() + ", which this kernel does not export"};
    if (auto l = either_log(f, {"<invalid kfunc call>", "calling kernel function is not allowed",
                                "cannot call kernel function"}))
        return Match{*l, {}};
    return std::nullopt;
}

std::optional<Match> match_unresolved_extern(const Failure& f) {
    std::smatch m;
    for (const auto& line : lines_of(f.libbpf_log))
        if (std::regex_search(line, m, re(R"(extern '(\w+)' \(strong\):? not resolved)")) ||
            std::regex_search(line, m, re(R"(extern \(var ksym\) '(\w+)': not found in kernel BTF)")))
            return Match{strip_libbpf(line), "the object declares extern " + m[1].str() +
                                                 " without __weak, and this kernel does not provide it"};
    return std::nullopt;
}

std::optional<Match> match_missing_helper(const Failure& f) {
    std::smatch m;
    for (const auto& line : lines_of(f.verifier_log))
        if (std::regex_search(line, m, re(R"(invalid func unknown#(\d+))")))
            return Match{line, "the program calls BPF helper #" + m[1].str() + ", which this kernel predates"};
    return std::nullopt;
}

std::optional<Match> match_helper_not_allowed(const Failure& f) {
    std::smatch m;
    for (const auto& line : lines_of(f.verifier_log))
        if (std::regex_search(line, m, re(R"(unknown func (bpf_\w+)#\d+)")) ||
            std::regex_search(line, m, re(R"(program of this type cannot use helper (bpf_\w+))")))
            return Match{line, "the kernel knows " + m[1].str() + " but does not offer it to " + f.section +
                                   " programs"};
    return std::nullopt;
}

std::optional<Match> match_unsupported_map_type(const Failure& f) {
    if (f.facts.unsupported_maps.empty()) return std::nullopt;
    auto l = line_with(f.libbpf_log, {"failed to create"});
    std::string maps;
    for (const auto& m : f.facts.unsupported_maps) maps += (maps.empty() ? "" : ", ") + m;
    return Match{l ? *l : errno_line(f.err), "this kernel has no map type for " + maps};
}

std::optional<Match> match_loader_sized_map(const Failure& f) {
    // The line naming MAP's failure: libbpf's "failed to create", else older libbpf's only
    // "Error in bpf_create_map_xattr(MAP)", which newer ones print first, before retrying
    // without BTF.
    auto failed = [&](const std::string& map) {
        if (auto l = line_with(f.libbpf_log, {("map '" + map + "': failed to create").c_str()})) return l;
        return line_with(f.libbpf_log, {("bpf_create_map_xattr(" + map + ")").c_str()});
    };
    for (const auto& map : f.facts.unsized_maps)
        if (auto line = failed(map))
            return Match{*line, "map '" + map + "' has max_entries or value_size 0 in the object: its own loader "
                                "sets the size before loading, and without it the kernel refuses the map"};
    for (const auto& map : f.facts.inner_less_maps)
        if (auto line = failed(map))
            return Match{*line, "map '" + map + "' is a map of maps without an inner map in the object: its own "
                                "loader gives it one (bpf_map__set_inner_map_fd) before loading, and without it "
                                "the kernel refuses the map"};
    return std::nullopt;
}

std::optional<Match> match_legacy_maps_section(const Failure& f) {
    if (auto l = line_with(f.libbpf_log, {"legacy map definitions in 'maps' section are not supported"}))
        return Match{*l, ""};
    // gobpf's and bcc's ELF loaders read a map from each "maps/NAME" section; libbpf skips
    // those sections, then fails the first program relocation against one of them.
    std::smatch m;
    for (const auto& line : lines_of(f.libbpf_log))
        if (std::regex_search(line, m, re(R"(bad map relo against '\w+' in section '(maps/\w+)')")))
            return Match{strip_libbpf(line), "the object defines its maps in 'maps/NAME' sections (" + m[1].str() +
                                                 "), the form of gobpf's and bcc's ELF loaders, which libbpf does not "
                                                 "read: it fails the program's relocation against one, on every kernel"};
    return std::nullopt;
}

// libbpf gives a program of a section its table does not know no type, says so and fails the
// load with EINVAL before the kernel is asked: the program-type probe (of type 0) would call it
// a type the kernel predates.
std::optional<Match> match_unknown_section(const Failure& f) {
    auto l = line_with(f.libbpf_log, {"missing BPF prog type, check ELF section name"});
    if (!l) return std::nullopt;
    return Match{*l, "libbpf has no program type for section '" + f.section + "', so the program has none; the "
                     "object's own loader sets one (bpf_program__set_type) before loading"};
}

std::optional<Match> match_unsupported_program_type(const Failure& f) {
    // The kernel answers an unknown program type with EINVAL; anything else (EPERM from a
    // policy that also fails the type probe) is another cause.
    if (f.stage != Stage::load || f.err != EINVAL || f.facts.program_type_supported.value_or(true)) return std::nullopt;
    auto l = line_with(f.libbpf_log, {"failed to load", "load failed"});
    return Match{l ? *l : errno_line(f.err), "this kernel does not have the program type of section " + f.section};
}

std::optional<Match> match_attach_type_mismatch(const Failure& f) {
    if (f.stage != Stage::attach || !f.legacy_section || f.err != EINVAL) return std::nullopt;
    auto l = line_with(f.libbpf_log, {"failed to attach", "failed to create"});
    return Match{l ? *l : errno_line(f.err),
                 "section \"" + f.section + "\" leaves expected_attach_type unset, and the kernel refused to link "
                 "the program to the hook it was attached to"};
}

std::optional<Match> match_unsupported_attach_type(const Failure& f) {
    if (auto l = line_with(f.libbpf_log, {"failed to find kernel BTF type ID"}))
        return Match{*l, "the function or hook that section \"" + f.section + "\" names is not in this kernel"};
    // A trampoline is patched into the function's ftrace site. A function the kernel's BTF has
    // but ftrace does not list (notrace, never instrumented) has none: x86's bpf_arch_text_poke
    // finds no __fentry__ nop there (EBUSY); arm64's, which outside ftrace pokes only BPF code,
    // answers ENOTSUPP. Measured on blk_account_io_start, 6.12 x86_64 and arm64.
    const bool trampoline = f.stage == Stage::attach && attaches_by_trampoline(f.section);
    if (trampoline && (f.err == EBUSY || (f.err == kEnotsupp && f.facts.ftrace_location == false))) {
        auto l = line_with(f.libbpf_log, {"failed to attach"});
        return Match{l ? *l : errno_line(f.err),
                     "the function that section \"" + f.section + "\" names is in the kernel's BTF but has no "
                     "ftrace site (it is not in available_filter_functions: notrace or not instrumented), so no "
                     "trampoline can attach to it"};
    }
    // Where the function has a site, ENOTSUPP means the kernel cannot attach trampolines at all:
    // arm64 builds them from 6.0 and patches them in with ftrace direct calls, which Debian's
    // arm64 6.1 lacks and its 6.12 has (measured with libbpf-tools' fentry programs).
    if (trampoline && f.err == kEnotsupp) {
        auto l = line_with(f.libbpf_log, {"failed to attach"});
        return Match{l ? *l : errno_line(f.err),
                     "this kernel cannot build the BPF trampoline that section \"" + f.section +
                         "\" attaches through (ENOTSUPP: this architecture's build has no BPF trampolines, or no ftrace "
                         "direct calls to patch them in, as Debian's arm64 5.10 and 6.1); the program loads but never "
                         "attaches"};
    }
    // A raw_tp program is checked against its tracepoint's arguments only when attached: the
    // kernel answers EINVAL when it reads past them (bpf_probe_register's max_ctx_offset check;
    // an unknown tracepoint is ENOENT).
    if (f.stage == Stage::attach && f.err == EINVAL && section_is(f.section, {"raw_tp/", "raw_tracepoint/"})) {
        auto l = line_with(f.libbpf_log, {"failed to attach"});
        return Match{l ? *l : errno_line(f.err),
                     "the program reads more arguments than this kernel's tracepoint passes: the tracepoint's "
                     "signature differs on this kernel (a tp_btf program would be refused at load with \"doesn't "
                     "have N-th argument\")"};
    }
    // With tracefs there, ENOENT from a kprobe/tracepoint attach means the target is missing.
    if (f.stage == Stage::attach && f.err == ENOENT && is_perf_attached(f.section) && f.facts.tracefs_mounted == true) {
        auto l = line_with(f.libbpf_log, {"failed to determine tracepoint", "failed to create", "failed to add", "failed to"});
        return Match{l ? *l : errno_line(f.err),
                     "the function or tracepoint that section \"" + f.section + "\" names is not in this kernel"};
    }
    bool refused = f.err == EINVAL || f.err == EOPNOTSUPP;
    if (f.facts.attach_type_known.value_or(true) || !refused) return std::nullopt;
    if (f.stage == Stage::load && !empty_verifier_log(f)) return std::nullopt;
    auto l = line_with(f.libbpf_log, {"failed to attach", "failed to load", "failed to create"});
    return Match{l ? *l : errno_line(f.err),
                 "this kernel does not know the attach type section \"" + f.section + "\" implies"};
}

std::optional<Match> match_tracefs_missing(const Failure& f) {
    if (f.stage != Stage::attach || f.err != ENOENT || !is_perf_attached(f.section) ||
        f.facts.tracefs_mounted.value_or(true))
        return std::nullopt;
    auto l = line_with(f.libbpf_log, {"failed to determine tracepoint", "kprobe", "failed to"});
    return Match{l ? *l : errno_line(f.err), {}};
}

std::optional<Match> match_not_permitted(const Failure& f) {
    if (f.err != EPERM || f.facts.privileged.value_or(true)) return std::nullopt;
    return Match{errno_line(f.err), {}};
}

std::optional<Match> match_policy_denied(const Failure& f) {
    if (f.err != EPERM || !empty_verifier_log(f)) return std::nullopt;
    return Match{errno_line(f.err) + " with an empty verifier log",
                 "the verifier never ran: a policy (lockdown, an LSM or this host's sandbox) refuses " + f.section +
                     " programs"};
}

// The verifier's first pass refuses an encoding it does not know as "BPF_<class> uses reserved
// fields" (5.10's resolve_pseudo_ldimm64 for an atomic with a fetch or another operation than
// add; pre-6.6 kernels for -mcpu=v4's sign extension, sdiv/smod, bswap and gotol) or "unknown
// opcode".
std::optional<Match> match_unsupported_instruction(const Failure& f) {
    std::smatch m;
    for (const auto& line : lines_of(f.verifier_log))
        if (std::regex_search(line, m, re(R"(^(BPF_\w+) uses reserved fields|^unknown opcode)")))
            return Match{line, "the program uses an instruction encoding this kernel's verifier predates (" +
                                   std::string(m[1].matched ? m[1].str() : "an opcode") + ")"};
    return std::nullopt;
}

std::optional<Match> match_too_complex(const Failure& f) {
    if (auto l = line_with(f.verifier_log, {"BPF program is too large", "is too complex", "combined stack size",
                                            "too many states", "complexity limit"}))
        return Match{*l, {}};
    if (f.err == E2BIG) {
        auto stats = line_with(f.verifier_log, {"processed "});
        return Match{errno_line(f.err) + (stats ? ": " + *stats : ""), {}};
    }
    return std::nullopt;
}

std::optional<Match> match_verifier_rejected(const Failure& f) {
    if (f.stage != Stage::load) return std::nullopt;
    std::string reason = verifier_reason(f.verifier_log);
    if (reason.empty()) return std::nullopt;
    return Match{reason, {}};
}

std::optional<Match> match_nothing(const Failure&) { return std::nullopt; }

// The table: documentation and matcher per cause. Row order is precedence order in
// diagnose(): a loader without privileges explains every EPERM after it, a rejected BTF
// explains the bare EINVAL of the map that needed it, a missing helper explains the
// verifier's refusal, and so on.
struct Row {
    CauseInfo info;
    Rule rule;
};
const std::vector<Row> kTable = {
    {{Cause::not_permitted, "The loader lacks the capabilities",
     "EPERM while the loader is missing CAP_BPF / CAP_PERFMON / CAP_NET_ADMIN (or CAP_SYS_ADMIN)",
     "the process has neither CAP_SYS_ADMIN nor the capabilities this program type needs; libbpf's "
     "\"try raising ulimit -l\" hint is not the cause on kernels >= 5.11 (memory is memcg-accounted)",
     "run the loader as root or grant CAP_BPF, CAP_PERFMON and CAP_NET_ADMIN",
     false},
     match_not_permitted},
    {{Cause::lsm_inactive, "LSM program attached but never runs",
     "an `lsm/` program loaded and attached, but a canary hook never fired; `bpf` is missing from "
     "/sys/kernel/security/lsm",
     "the kernel was built with the BPF LSM but it is not in the active LSM list, so LSM programs "
     "attach without error and never run",
     "boot with `lsm=` including `bpf` (e.g. `lsm=lockdown,capability,landlock,yama,apparmor,bpf`) or "
     "attach a non-LSM fallback (cgroup/sock_create, fentry)",
     false},
     match_lsm_inactive},
    {{Cause::missing_module, "A kernel module the attach needs is not loaded",
     "\"Specified qdisc kind is unknown\" / \"TC classifier not found\" (ENOENT/EOPNOTSUPP) while "
     "attaching a tc program",
     "the clsact qdisc (sch_ingress.ko) or the BPF classifier (cls_bpf.ko) is built as a module "
     "that is not loaded",
     "load sch_ingress and cls_bpf (`modprobe sch_ingress cls_bpf`) or attach with TCX on kernels >= 6.6",
     false},
     match_missing_module},
    {{Cause::tracefs_missing, "kprobes and tracepoints cannot attach without tracefs",
     "ENOENT attaching a kprobe/kretprobe/tracepoint while no tracefs is mounted at /sys/kernel/tracing "
     "or /sys/kernel/debug/tracing",
     "libbpf finds tracepoint ids, and legacy kprobes (kernels without the kprobe PMU), through tracefs, "
     "which is not mounted here",
     "mount it (`mount -t tracefs nodev /sys/kernel/tracing`) before attaching",
     false},
     match_tracefs_missing},
    {{Cause::btf_rejected, "The kernel rejected the object's BTF",
     "libbpf's \"Error loading .BTF into kernel\" / \"BTF is optional, ignoring\" with the kernel's BTF "
     "log line (\"Invalid type_id\", \"Invalid kind\", ...), before the load failed",
     "the kernel refused the object's BTF, libbpf went on without it, and whatever needed BTF (an "
     "SK_STORAGE/task-storage map, a BTF-typed map value, func info) failed with a bare EINVAL",
     "fix the BTF the object carries: a type the kernel predates (ENUM64 < 6.0, FLOAT < 5.13, "
     "DECL_TAG < 5.16, TYPE_TAG < 5.17) needs an older clang or bpftool/pahole that sanitizes it, a "
     "member of type 0 needs the generator fixed; `flowattr verify --kernels kernels.txt` finds both "
     "offline",
     true},
     match_btf_rejected},
    {{Cause::core_relocation, "A CO-RE relocation found nothing in this kernel",
     "libbpf's \"failed to resolve CO-RE relocation\" or `<invalid CO-RE relocation>` in the verifier log",
     "the program reads a field, type or enum value through CO-RE that this kernel's BTF does not have",
     "guard the access with bpf_core_field_exists()/bpf_core_type_exists() and a fallback, or use the "
     "___flavor struct that matches this kernel",
     false},
     match_core_relocation},
    {{Cause::missing_kfunc, "A kfunc the program calls is not in this kernel",
     "libbpf's \"extern (func ksym) 'x': not found in kernel or module BTFs\" or `<invalid kfunc call>`",
     "the program calls a kernel function (kfunc) that this kernel does not export to BPF",
     "declare the kfunc __weak and test bpf_ksym_exists() before calling it, load the kernel module that "
     "defines it (libbpf looks in module BTFs too), or require a kernel that has it",
     false},
     match_missing_kfunc},
    {{Cause::unresolved_extern, "A kernel symbol or Kconfig value the object declares is not in this kernel",
     "libbpf's \"extern 'x' (strong): not resolved\" or \"extern (var ksym) 'x': not found in kernel BTF\"",
     "the object declares an extern without __weak, a kernel variable (__ksym) or a Kconfig value (__kconfig), "
     "and libbpf found it neither in this kernel's /proc/kallsyms and BTF nor in its Kconfig",
     "declare it __weak and check it before use (bpf_ksym_exists(), a Kconfig default), or require a kernel "
     "that has it; where /proc/kallsyms hides symbols (kptr_restrict=2, a sandboxed host), check the object in "
     "a VM (kmatrix check)",
     false},
     match_unresolved_extern},
    {{Cause::missing_helper, "A helper the program calls is unknown to this kernel",
     "the verifier's \"invalid func unknown#N\"",
     "the program calls BPF helper #N, which this kernel predates",
     "probe the helper (bpf_core_enum_value_exists(enum bpf_func_id, BPF_FUNC_x) or "
     "libbpf_probe_bpf_helper) and take another path on older kernels, or require a newer kernel",
     false},
     match_missing_helper},
    {{Cause::helper_not_allowed, "A helper the program calls is not allowed for its program type",
     "the verifier's \"unknown func bpf_x#N\" or \"program of this type cannot use helper\"",
     "the kernel knows the helper but does not offer it to this program type (or attach type)",
     "call the helper from a program type that may use it, or pass the data through a map",
     false},
     match_helper_not_allowed},
    {{Cause::unsupported_map_type, "A map type the kernel predates",
     "a map that failed to create whose type the kernel's map-type probe does not know",
     "the object creates a map of a type this kernel predates",
     "create that map only where libbpf_probe_bpf_map_type() says the kernel has it "
     "(bpf_map__set_autocreate(map, false) otherwise), or require a newer kernel",
     false},
     match_unsupported_map_type},
    {{Cause::loader_sized_map, "A map the object leaves for its own loader to size",
     "a map that failed to create whose max_entries or value_size is 0 in the object, or a map of maps "
     "without an inner map",
     "the object expects its own loader to size the map (bpf_map__set_max_entries / set_value_size), or "
     "to give a map of maps its inner map (bpf_map__set_inner_map_fd), before loading; loaded as it is, the "
     "kernel refuses the map",
     "check its programs with --size-maps (flowattr check, kmatrix check), which sizes a map left at 0 itself "
     "(not an inner map: only its loader knows that one); or load the object through its own loader (on every "
     "kernel: kmatrix exec --file YOUR_TOOL -- YOUR_TOOL ARGS, a dynamically linked tool with its libraries), or "
     "set the map's sizes and inner map before bpf_object__load()",
     false},
     match_loader_sized_map},
    {{Cause::legacy_maps_section, "Maps defined the pre-BTF way, which libbpf 1.0 dropped",
     "libbpf's \"legacy map definitions in 'maps' section are not supported\" while opening the object, or "
     "its \"bad map relo against 'x' in section 'maps/x'\" (gobpf's and bcc's per-map sections)",
     "the object defines its maps as struct bpf_map_def in SEC(\"maps\"); libbpf 1.0 and later refuse to "
     "open it, on every kernel (the kernel never sees it)",
     "define the maps the BTF way (SEC(\".maps\") with __uint(type, ...), __type(key, ...), __type(value, "
     "...)) and rebuild the object, or load it with the pre-1.0 loader it was written for",
     false},
     match_legacy_maps_section},
    {{Cause::unknown_section, "A section name libbpf has no program type for",
     "libbpf's \"missing BPF prog type, check ELF section name\" (EINVAL before the kernel is asked)",
     "libbpf derives a program's type from its section name, has none for this one and loads the program "
     "without a type, on every kernel; the object's own loader sets the type",
     "name the section as libbpf's table does (SEC(\"socket\"), SEC(\"xdp\"), SEC(\"tc\"), ...: "
     "docs.kernel.org/bpf/libbpf/program_types.html), or call bpf_program__set_type() before bpf_object__load(); "
     "to check it as its loader loads it: --section-type SECTION=AS (flowattr check, kmatrix check), AS a section "
     "of the type the loader sets (--section-type loadbalancer=socket)",
     false},
     match_unknown_section},
    {{Cause::unsupported_program_type, "A program type the kernel predates",
     "a load that failed where the kernel's program-type probe says the type is unknown",
     "the kernel does not have this program type",
     "disable the program on such kernels (bpf_program__set_autoload(prog, false)) or require a "
     "kernel that has the type",
     false},
     match_unsupported_program_type},
    {{Cause::attach_type_mismatch, "A section that leaves expected_attach_type unset, attached through a link",
     "EINVAL from the attach of a program whose section (tc, classifier, cgroup/skb, ...) leaves "
     "expected_attach_type 0",
     "the section name does not tell libbpf the attach type, so the program was loaded with "
     "expected_attach_type 0 and the kernel refused to link it to another attach type",
     "use the section that names the hook (tcx/ingress, cgroup_skb/egress, cgroup/sock_create, ...) "
     "or set bpf_program__set_expected_attach_type() before load",
     true},
     match_attach_type_mismatch},
    {{Cause::unsupported_attach_type, "The attach type or target is not in this kernel",
     "EINVAL/EOPNOTSUPP attaching where the kernel does not know the attach type (TCX before 6.6); "
     "libbpf's \"failed to find kernel BTF type ID\" or ENOENT for the target; EBUSY (x86) or ENOTSUPP "
     "(arm64) attaching fentry/fexit to a function that is not in available_filter_functions; EINVAL "
     "attaching a raw_tp that reads more arguments than the tracepoint has; ENOTSUPP (524) attaching "
     "fentry/fexit/LSM where the kernel cannot build BPF trampolines (Debian's arm64 5.10 and 6.1)",
     "the kernel does not know this attach type, or the function or hook the section names is not in "
     "this kernel (or in a module that is not loaded), or cannot be traced, or this kernel's architecture "
     "build has no BPF trampolines",
     "fall back to an attach type the kernel has (TCX -> clsact before 6.6; kprobe or a cgroup hook "
     "where fentry/LSM trampolines are missing) or pick a target that exists on every kernel you support; "
     "a placeholder target that the object's loader replaces before load (bpf_program__set_attach_target: "
     "libbpf-tools' dummy_* functions, xdpdump's fentry/func) is checked by running that loader: kmatrix exec "
     "--file YOUR_TOOL -- YOUR_TOOL ARGS",
     false},
     match_unsupported_attach_type},
    {{Cause::policy_denied, "A security policy refused the program",
     "EPERM with an empty verifier log from a privileged loader",
     "the verifier never ran: lockdown (integrity/confidentiality), an LSM or a sandbox policy refused "
     "this program type",
     "check /sys/kernel/security/lockdown and the sandbox's seccomp/LSM policy; load on a host whose "
     "policy allows this program type",
     false},
     match_policy_denied},
    {{Cause::unsupported_instruction, "An instruction the kernel's verifier predates",
     "the verifier's \"BPF_STX uses reserved fields\" (any \"BPF_x uses reserved fields\") or \"unknown opcode\", "
     "before it walks the program",
     "the compiler emitted an instruction newer than this kernel: an atomic other than a plain add (fetch_add, "
     "xchg, cmpxchg, and/or/xor: 5.12), or -mcpu=v4's sign-extending loads and moves, sdiv/smod, bswap and "
     "gotol (6.6)",
     "build for the oldest kernel you support (-mcpu=v3, not v4), and before 5.12 use an atomic add whose "
     "result is unused (__sync_fetch_and_add) or a per-CPU map instead of fetch, xchg and cmpxchg",
     false},
     match_unsupported_instruction},
    {{Cause::too_complex, "Too complex for the verifier",
     "E2BIG or the verifier's \"BPF program is too large\", \"too complex\", \"combined stack size\"",
     "the verifier ran out of its budget (1M processed instructions, 8192 jump sequences, stack "
     "frames) before it could prove the program safe",
     "bound loops with bpf_loop()/small constants, split the program with tail calls or subprograms, "
     "and prune state (fewer live branches, __always_inline less)",
     false},
     match_too_complex},
    {{Cause::verifier_rejected, "The verifier rejected the program",
     "a verifier log that ends in a reason (\"R0 invalid mem access 'map_value_or_null'\", \"invalid "
     "access to packet\", \"back-edge\", ...); EACCES from libbpf here is not a privilege problem",
     "the verifier could not prove an instruction safe",
     "fix the instruction the log names: check map lookups for NULL, bounds-check packet access against "
     "data_end, read kernel memory with bpf_probe_read_kernel()/BPF_CORE_READ, bound every loop",
     false},
     match_verifier_rejected},
    {{Cause::stale_embed, "The binary embeds an object older than the source",
     "`flowattr verify --against DIR`: an embedded object's sha256 differs from DIR/<name>.bpf.o",
     "the binary was linked before the last BPF edit, so it loads old code without any error",
     "rebuild the skeletons and relink (the build does both when the .bpf.c changes)",
     true},
     match_nothing},
    {{Cause::unclassified, "Not recognised",
     "none of the above matched", "no rule in the cause table matches this failure; the full log is shown",
     "read the full log (`make repro KERNEL=... OBJECT=...`), and add a rule to src/diagnose when the "
     "cause is found",
     false},
     match_nothing},
};

}  // namespace

bool attaches_by_trampoline(const std::string& section) {
    return section_is(section, {"fentry", "fexit", "fmod_ret", "lsm/", "lsm.s/", "lsm_cgroup/"});
}

std::optional<std::string> trampoline_target(const std::string& section) {
    const auto slash = section.find('/');
    if (!attaches_by_trampoline(section) || slash == std::string::npos || slash + 1 == section.size())
        return std::nullopt;
    std::string function = section.substr(slash + 1);
    return section_is(section, {"lsm"}) ? "bpf_lsm_" + function : function;
}

const char* cause_name(Cause cause) {
    switch (cause) {
        case Cause::btf_rejected: return "btf-rejected";
        case Cause::core_relocation: return "core-relocation";
        case Cause::missing_helper: return "missing-helper";
        case Cause::helper_not_allowed: return "helper-not-allowed";
        case Cause::missing_kfunc: return "missing-kfunc";
        case Cause::unresolved_extern: return "unresolved-extern";
        case Cause::unsupported_program_type: return "unsupported-program-type";
        case Cause::unsupported_map_type: return "unsupported-map-type";
        case Cause::loader_sized_map: return "loader-sized-map";
        case Cause::legacy_maps_section: return "legacy-maps-section";
        case Cause::unknown_section: return "unknown-section";
        case Cause::unsupported_attach_type: return "unsupported-attach-type";
        case Cause::attach_type_mismatch: return "attach-type-mismatch";
        case Cause::lsm_inactive: return "lsm-inactive";
        case Cause::missing_module: return "missing-module";
        case Cause::tracefs_missing: return "tracefs-missing";
        case Cause::not_permitted: return "not-permitted";
        case Cause::policy_denied: return "policy-denied";
        case Cause::verifier_rejected: return "verifier-rejected";
        case Cause::unsupported_instruction: return "unsupported-instruction";
        case Cause::too_complex: return "too-complex";
        case Cause::stale_embed: return "stale-embed";
        case Cause::unclassified: return "unclassified";
    }
    return "unclassified";
}

std::optional<Cause> cause_from_name(std::string_view name) {
    for (Cause c : all_causes())
        if (name == cause_name(c)) return c;
    return std::nullopt;
}

const std::vector<Cause>& all_causes() {
    static const std::vector<Cause> causes = [] {
        std::vector<Cause> out;
        for (const auto& row : kTable) out.push_back(row.info.cause);
        return out;
    }();
    return causes;
}

const char* stage_name(Stage stage) {
    switch (stage) {
        case Stage::load: return "load";
        case Stage::attach: return "attach";
        case Stage::run: return "run";
    }
    return "load";
}

const std::vector<CauseInfo>& cause_table() {
    static const std::vector<CauseInfo> infos = [] {
        std::vector<CauseInfo> out;
        for (const auto& row : kTable) out.push_back(row.info);
        return out;
    }();
    return infos;
}

const CauseInfo& cause_info(Cause cause) {
    for (const auto& row : kTable)
        if (row.info.cause == cause) return row.info;
    return kTable.back().info;
}

std::string verifier_reason(const std::string& log) {
    auto lines = lines_of(log);
    for (std::size_t i = lines.size(); i-- > 0;) {
        const std::string& l = lines[i];
        if (is_stats_line(l) || is_insn_line(l) || l.rfind("libbpf: ", 0) == 0) continue;
        // Source-line annotations ("; x = *p @ file.c:12") and register-state dumps ("R1_w=ctx()",
        // "from 4 to 6: R0=...", "5: R1=...", "cur state:"/"old state:" after an infinite loop)
        // surround the reason; the reason is the last line that is neither ("R0 invalid mem
        // access ...", "R1 type=scalar expected=fp" stay).
        if (l[0] == ';' ||
            std::regex_search(l, re(R"(^(R\d+(_[rwD]+)?=|from \d+ to \d+: |\d+: R\d|cur state:|old state:))")))
            continue;
        for (std::size_t j = i; j-- > 0;)
            if (is_insn_line(lines[j])) return lines[j] + ": " + l;
        return l;
    }
    return {};
}

std::string btf_ignored_warning(const std::string& libbpf_log) {
    auto ignoring = line_with(libbpf_log, {"BTF is optional, ignoring", "Error loading .BTF into kernel"});
    if (!ignoring) return {};
    // The kernel's verdict is the last line of the BTF load log libbpf passed on, and the
    // "[N] KIND name" line before it says which type: "[45] STRUCT x: (anon) type_id=0 ... Invalid type_id".
    auto lines = lines_of(libbpf_log);
    std::vector<std::string> block;
    bool inside = false;
    for (const auto& line : lines) {
        std::string l = strip_libbpf(line);
        if (l.find("BEGIN BTF LOAD LOG") != std::string::npos) {
            inside = true;
            block.clear();
        } else if (l.find("END BTF LOAD LOG") != std::string::npos) {
            inside = false;
        } else if (inside) {
            block.push_back(l);
        }
    }
    if (!block.empty()) {
        std::string verdict = block.back();
        while (!verdict.empty() && (verdict[0] == '\t' || verdict[0] == ' ')) verdict.erase(0, 1);
        if (block.size() > 1 && std::regex_search(block[block.size() - 2], re(R"(^\[\d+\] )")))
            verdict = block[block.size() - 2] + ": " + verdict;
        return verdict + " (" + *ignoring + ")";
    }
    return *ignoring;
}

Diagnosis diagnosis_for(Cause cause, const std::string& message) {
    const CauseInfo& info = cause_info(cause);
    return Diagnosis{cause, message, info.cause_text, info.fix};
}

Diagnosis diagnose(const Failure& f) {
    for (const auto& row : kTable) {
        if (auto m = row.rule(f)) {
            Diagnosis d = diagnosis_for(row.info.cause, m->message);
            if (!m->cause_text.empty()) d.cause_text = m->cause_text;
            return d;
        }
    }
    std::string last = verifier_reason(f.verifier_log);
    if (last.empty()) last = line_with(f.libbpf_log, {"failed", "error", "Error"}).value_or("");
    return diagnosis_for(Cause::unclassified,
                         std::string(stage_name(f.stage)) + ": " + errno_line(f.err) + (last.empty() ? "" : ": " + last));
}

std::string libbpf_log_one_line(const std::string& log) {
    std::string out;
    for (const auto& line : lines_of(log)) {
        const std::string text = strip_libbpf(line);
        if (!text.empty()) out += (out.empty() ? "" : "; ") + text;
    }
    return out;
}

std::string troubleshooting_markdown() {
    std::ostringstream md;
    md << "# Troubleshooting BPF load and attach failures\n\n"
       << "<!-- Generated from src/diagnose/cause.cpp by `flowattr causes --markdown`; do not edit by hand.\n"
       << "     A unit test fails when this file and the table disagree. -->\n\n"
       << "Every failure `flowattr load --check`, `flowattr check`, `kmatrix check`, `kmatrix lab` and\n"
       << "`kmatrix repro` report is named with one of these classes (the `class` field of `--json` and\n"
       << "the JUnit failure type). They are tried in this order; the first that matches wins, so a\n"
       << "rejected BTF is named before the bare EINVAL of the map that needed it. `flowattr verify` names\n"
       << "the classes marked offline without a kernel: `[btf] (btf-rejected) ...` and `\"class\"` in `--json`.\n\n"
       << "| class | what | offline (`flowattr verify`) |\n|---|---|---|\n";
    for (const auto& row : cause_table())
        md << "| [`" << cause_name(row.cause) << "`](#" << cause_name(row.cause) << ") | " << row.title << " | "
           << (row.offline ? "yes" : "no") << " |\n";
    for (const auto& row : cause_table()) {
        md << "\n## " << cause_name(row.cause) << "\n\n"
           << "**" << row.title << ".**\n\n"
           << "- Matched on: " << row.signature << ".\n"
           << "- Cause: " << row.cause_text << ".\n"
           << "- Fix: " << row.fix << ".\n";
    }
    return md.str();
}

}  // namespace flowattr::diagnose
