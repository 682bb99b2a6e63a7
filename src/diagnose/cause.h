#pragma once
// The one cause table: every way a BPF object can fail to load, attach or run, matched on
// the errno, the verifier and libbpf logs, the facts probed on the kernel and the object
// itself, with the cause and the fix in one sentence each. `flowattr load --check`,
// `flowattr check`, `kmatrix check/lab/repro` and `flowattr verify` (offline classes) name
// failures through it, and docs/TROUBLESHOOTING.md is generated from it.
//
// No libbpf here: the table is plain data and text matching, so the host side (which never
// loads a program) and the offline verifier use it as they are.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace flowattr::diagnose {

// Machine names (cause_name) appear in --json and JUnit; never rename one.
enum class Cause {
    btf_rejected,
    core_relocation,
    missing_helper,
    helper_not_allowed,
    missing_kfunc,
    unresolved_extern,
    unsupported_program_type,
    unsupported_map_type,
    loader_sized_map,
    legacy_maps_section,
    unknown_section,
    unsupported_attach_type,
    attach_type_mismatch,
    lsm_inactive,
    missing_module,
    tracefs_missing,
    not_permitted,
    policy_denied,
    verifier_rejected,
    unsupported_instruction,
    too_complex,
    stale_embed,
    unclassified,
};

// "btf-rejected", ...
const char* cause_name(Cause cause);
std::optional<Cause> cause_from_name(std::string_view name);
// Every cause in table order.
const std::vector<Cause>& all_causes();

// Which step failed. Load covers object open (CO-RE, externs, maps) and the verifier.
enum class Stage { load, attach, run };
const char* stage_name(Stage stage);

// What the kernel was found to offer, where the caller probed it; unknown stays nullopt and
// no rule relies on it.
struct KernelFacts {
    std::optional<bool> privileged;               // CAP_BPF+CAP_PERFMON+CAP_NET_ADMIN or CAP_SYS_ADMIN
    std::optional<bool> bpf_lsm_active;           // "bpf" in /sys/kernel/security/lsm
    std::optional<bool> program_type_supported;   // libbpf_probe_bpf_prog_type for the program's type
    std::optional<bool> attach_type_known;        // the kernel accepts the section's expected_attach_type
    std::optional<bool> tracefs_mounted;          // tracefs at /sys/kernel/tracing or /sys/kernel/debug/tracing
    std::optional<bool> ftrace_location;          // the function a trampoline section patches is in tracefs's
                                                  // available_filter_functions (it has an ftrace site)
    std::vector<std::string> unsupported_maps;    // the object's maps whose type the kernel lacks ("name (type)")
    std::vector<std::string> unsized_maps;        // the object's maps with max_entries or value_size 0 (sized by their loader)
    std::vector<std::string> inner_less_maps;     // its maps of maps without an inner map (their loader gives one)
};

// What a failed step left behind.
struct Failure {
    Stage stage = Stage::load;
    int err = 0;                  // positive errno of the failing call
    std::string verifier_log;     // the program's verifier log (level 1 on failure)
    std::string libbpf_log;       // what libbpf printed while the step ran
    std::string section;          // "tcx/ingress"
    bool legacy_section = false;  // a section that leaves expected_attach_type unset (tc, cgroup/skb, ...)
    KernelFacts facts;
};

struct Diagnosis {
    Cause cause = Cause::unclassified;
    std::string message;  // the kernel's or libbpf's own line that decided it (or the errno)
    std::string cause_text;  // one sentence, with the specifics (helper, map, hook) where known
    std::string fix;         // one sentence
};

Diagnosis diagnose(const Failure& failure);

// Whether a section attaches through a BPF trampoline (fentry, fexit, fmod_ret, LSM), and the
// kernel function that trampoline patches when the section names it: "fentry/vfs_read" ->
// "vfs_read", "lsm/file_open" -> "bpf_lsm_file_open" (every LSM hook is a bpf_lsm_ function).
bool attaches_by_trampoline(const std::string& section);
std::optional<std::string> trampoline_target(const std::string& section);

// The same diagnosis for a cause found outside a load (verify's stale embed, a BTF kind the
// kernel predates), MESSAGE being the finding's own line.
Diagnosis diagnosis_for(Cause cause, const std::string& message);

// A load that passed although the kernel rejected the object's BTF (libbpf went on without
// it): the warning line to show, empty when the BTF was accepted.
std::string btf_ignored_warning(const std::string& libbpf_log);

// The decisive line of a verifier log: the last line that is not a statistic, with the
// instruction it refers to in front ("12: (61) r1 = *(u32 *)(r0 +0): R0 invalid mem access
// 'map_value_or_null'"). Empty for an empty log.
std::string verifier_reason(const std::string& log);

// One row of the table, for the generated docs and for tests that hold code and docs together.
struct CauseInfo {
    Cause cause;
    const char* title;      // "The kernel rejected the object's BTF"
    const char* signature;  // what is matched, in words and quoted log text
    const char* cause_text;  // the generic cause sentence
    const char* fix;         // the generic fix sentence
    bool offline;            // also found by `flowattr verify` without a kernel
};
const std::vector<CauseInfo>& cause_table();
const CauseInfo& cause_info(Cause cause);

// docs/TROUBLESHOOTING.md, generated from the table.
std::string troubleshooting_markdown();

// A libbpf log on one line: its non-empty lines without the "libbpf: " prefix, joined by "; ".
std::string libbpf_log_one_line(const std::string& log);

}  // namespace flowattr::diagnose
