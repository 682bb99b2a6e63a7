// The cause table against the log shapes real kernels and libbpf produce (quoted from the
// guide's measurements and from runs on this host), and docs/TROUBLESHOOTING.md against it.
#include <gtest/gtest.h>

#include <cerrno>
#include <cstring>
#include <set>

#include "build_tree.h"
#include "common/error.h"
#include "common/file.h"
#include "diagnose/cause.h"

namespace {

using namespace flowattr::diagnose;

Failure load_failure(int err, std::string verifier_log, std::string libbpf_log = "", std::string section = "tc") {
    Failure f;
    f.err = err;
    f.verifier_log = std::move(verifier_log);
    f.libbpf_log = std::move(libbpf_log);
    f.section = std::move(section);
    f.facts.privileged = true;
    return f;
}

TEST(CauseTable, NamesRoundTripAndAreUnique) {
    std::set<std::string> names;
    for (Cause c : all_causes()) {
        EXPECT_TRUE(names.insert(cause_name(c)).second) << cause_name(c);
        EXPECT_EQ(cause_from_name(cause_name(c)), c);
        const CauseInfo& info = cause_info(c);
        EXPECT_EQ(info.cause, c);
        for (const char* text : {info.title, info.signature, info.cause_text, info.fix}) EXPECT_GT(std::string(text).size(), 10u);
    }
    EXPECT_EQ(all_causes().back(), Cause::unclassified);
    EXPECT_FALSE(cause_from_name("no-such-class"));
    for (const char* n : {"btf-rejected", "core-relocation", "missing-helper", "helper-not-allowed", "missing-kfunc",
                          "unsupported-program-type", "unsupported-map-type", "unsupported-attach-type",
                          "attach-type-mismatch", "lsm-inactive", "missing-module", "not-permitted", "policy-denied",
                          "verifier-rejected", "too-complex", "stale-embed", "unclassified"})
        EXPECT_TRUE(cause_from_name(n)) << n << " is a class issue #8 names";
}

// The mermin case: libbpf ignores the rejected BTF and the SK_STORAGE map fails with a bare
// EINVAL. The class is the BTF, and the kernel's BTF line is the message.
TEST(Diagnose, RejectedBtfExplainsTheMapEinval) {
    std::string libbpf =
        "libbpf: BTF loading error: -22\n"
        "libbpf: -- BEGIN BTF LOAD LOG ---\n"
        "[45] STRUCT Result size=4 vlen=1\n"
        "\t(anon) type_id=0 bits_offset=0 Invalid type_id\n"
        "-- END BTF LOAD LOG --\n"
        "libbpf: Error loading .BTF into kernel: -22. BTF is optional, ignoring.\n"
        "libbpf: map 'sk_storage': failed to create: Invalid argument(-22)\n"
        "libbpf: failed to load object 'mermin'\n";
    Diagnosis d = diagnose(load_failure(EINVAL, "", libbpf));
    EXPECT_EQ(d.cause, Cause::btf_rejected);
    EXPECT_NE(d.message.find("Invalid type_id"), std::string::npos) << d.message;
    EXPECT_NE(d.cause_text.find("map 'sk_storage': failed to create"), std::string::npos) << d.cause_text;
    EXPECT_NE(btf_ignored_warning(libbpf).find("Invalid type_id"), std::string::npos);
    EXPECT_EQ(btf_ignored_warning("libbpf: map 'x': created\n"), "");
}

TEST(Diagnose, RejectedBtfDoesNotHideAVerifierReason) {
    std::string libbpf = "libbpf: Error loading .BTF into kernel: -22. BTF is optional, ignoring.\n";
    std::string log = "0: (b7) r0 = 0\n1: (61) r1 = *(u32 *)(r0 +0)\nR0 invalid mem access 'scalar'\nprocessed 2 insns\n";
    EXPECT_EQ(diagnose(load_failure(EACCES, log, libbpf)).cause, Cause::verifier_rejected);
}

TEST(Diagnose, UncheckedLookupIsAVerifierRejectionNotPrivilege) {
    std::string log =
        "0: R1=ctx() R10=fp0\n"
        "; v = bpf_map_lookup_elem(&m, &k);\n"
        "5: (85) call bpf_map_lookup_elem#1      ; R0_w=map_value_or_null(id=1,off=0,ks=4,vs=8,imm=0)\n"
        "6: (79) r0 = *(u64 *)(r0 +0)\n"
        "R0 invalid mem access 'map_value_or_null'\n"
        "verification time 41 usec\n"
        "stack depth 4\n"
        "processed 7 insns (limit 1000000) max_states_per_insn 0 total_states 0 peak_states 0 mark_read 0\n";
    Diagnosis d = diagnose(load_failure(EACCES, log));
    EXPECT_EQ(d.cause, Cause::verifier_rejected);
    EXPECT_EQ(d.message, "6: (79) r0 = *(u64 *)(r0 +0): R0 invalid mem access 'map_value_or_null'");
    EXPECT_NE(d.fix.find("NULL"), std::string::npos);
}

TEST(Diagnose, ReasonLineThatLooksLikeRegisterState) {
    EXPECT_EQ(verifier_reason("3: (85) call bpf_skb_load_bytes#26\nR1 type=scalar expected=ctx\nprocessed 4 insns\n"),
              "3: (85) call bpf_skb_load_bytes#26: R1 type=scalar expected=ctx");
    EXPECT_EQ(verifier_reason("13: (05) goto pc-2\ninfinite loop detected at insn 13\ncur state: R0=map_value()\n"
                              "old state: R0=map_value()\nprocessed 25 insns\n"),
              "13: (05) goto pc-2: infinite loop detected at insn 13");
    EXPECT_EQ(verifier_reason(""), "");
    EXPECT_EQ(verifier_reason("processed 3 insns (limit 1000000)\n"), "");
}

TEST(Diagnose, HelperUnknownVersusNotAllowed) {
    Diagnosis missing = diagnose(load_failure(EINVAL, "0: (85) call unknown#158\ninvalid func unknown#158\nprocessed 1 insns\n"));
    EXPECT_EQ(missing.cause, Cause::missing_helper);
    EXPECT_NE(missing.cause_text.find("#158"), std::string::npos);
    Diagnosis denied = diagnose(load_failure(
        EINVAL, "5: (85) call bpf_sock_from_file#162\nunknown func bpf_sock_from_file#162\n", "", "iter/task_file"));
    EXPECT_EQ(denied.cause, Cause::helper_not_allowed);
    EXPECT_NE(denied.cause_text.find("bpf_sock_from_file"), std::string::npos);
}

TEST(Diagnose, CoreRelocationAndKfunc) {
    Diagnosis core = diagnose(load_failure(
        EINVAL, "", "libbpf: prog 'p': relo #0: failed to resolve CO-RE relocation [5] struct task_struct___x.nope\n"));
    EXPECT_EQ(core.cause, Cause::core_relocation);
    Diagnosis fixup = diagnose(load_failure(EINVAL, "2: <invalid CO-RE relocation>\nfailed to resolve CO-RE relocation <byte_off> [9]\n"));
    EXPECT_EQ(fixup.cause, Cause::core_relocation);
    Diagnosis kfunc = diagnose(load_failure(
        ESRCH, "", "libbpf: extern (func ksym) 'bpf_task_from_pid': not found in kernel or module BTFs\n"));
    EXPECT_EQ(kfunc.cause, Cause::missing_kfunc);
    EXPECT_NE(kfunc.cause_text.find("bpf_task_from_pid"), std::string::npos);
}

TEST(Diagnose, PrivilegeVersusPolicy) {
    Failure unpriv = load_failure(EPERM, "");
    unpriv.facts.privileged = false;
    Diagnosis d = diagnose(unpriv);
    EXPECT_EQ(d.cause, Cause::not_permitted);
    EXPECT_NE(d.cause_text.find("ulimit -l"), std::string::npos) << "must say plainly the ulimit hint is not it";
    Diagnosis policy = diagnose(load_failure(EPERM, "", "", "lsm/socket_post_create"));
    EXPECT_EQ(policy.cause, Cause::policy_denied);
    EXPECT_NE(policy.cause_text.find("verifier never ran"), std::string::npos);
}

TEST(Diagnose, UnknownProgramTypeNeedsEinvalAndTheProbe) {
    Failure f = load_failure(EINVAL, "", "libbpf: prog 'nf': failed to load: -22\n", "netfilter");
    f.facts.program_type_supported = false;
    EXPECT_EQ(diagnose(f).cause, Cause::unsupported_program_type);
    f.err = EPERM;  // a policy that also fails the type probe is not a missing type
    EXPECT_EQ(diagnose(f).cause, Cause::policy_denied);
}

// libbpf-tools' capable leaves its stack map's sizes to its loader (max_entries 0).
TEST(Diagnose, MapSizedByItsLoader) {
    Failure f = load_failure(EINVAL, "", "libbpf: map 'stackmap': failed to create: Invalid argument(-22)\n");
    EXPECT_EQ(diagnose(f).cause, Cause::unclassified) << "without the fact, no guess";
    f.facts.unsized_maps = {"stackmap"};
    Diagnosis d = diagnose(f);
    EXPECT_EQ(d.cause, Cause::loader_sized_map);
    EXPECT_NE(d.cause_text.find("'stackmap'"), std::string::npos);
    Failure retry = load_failure(EINVAL, "", "libbpf: Error in bpf_create_map_xattr(start):Invalid argument(-22). Retrying without BTF.\n");
    retry.facts.unsized_maps = {"start"};
    EXPECT_EQ(diagnose(retry).cause, Cause::loader_sized_map);
    // A newer libbpf prints the retry first and then the failure: the headline is the failure.
    retry.libbpf_log += "libbpf: map 'start': failed to create: Invalid argument(-22)\n";
    EXPECT_EQ(diagnose(retry).message, "map 'start': failed to create: Invalid argument(-22)");
    // systemd's restrict-fs: a hash of maps whose inner map its loader makes.
    Failure inner = load_failure(EINVAL, "", "libbpf: map 'cgroup_hash': failed to create: Invalid argument(-22)\n");
    inner.facts.inner_less_maps = {"cgroup_hash"};
    d = diagnose(inner);
    EXPECT_EQ(d.cause, Cause::loader_sized_map);
    EXPECT_NE(d.cause_text.find("'cgroup_hash' is a map of maps without an inner map"), std::string::npos) << d.cause_text;
}

// Debian 12's suricata ships xdp_filter.bpf (maps in SEC("maps")) and lb.bpf (section
// "loadbalancer"); both fail the same on every kernel, and neither is a type the kernel lacks.
TEST(Diagnose, ObjectsLibbpfCannotTakeAsTheyAre) {
    Failure legacy = load_failure(EOPNOTSUPP, "", "libbpf: elf: legacy map definitions in 'maps' section are not supported by libbpf v1.0+\n");
    Diagnosis d = diagnose(legacy);
    EXPECT_EQ(d.cause, Cause::legacy_maps_section);
    EXPECT_EQ(d.message, "elf: legacy map definitions in 'maps' section are not supported by libbpf v1.0+");
    Failure unknown = load_failure(EINVAL, "",
                                   "libbpf: prog 'lb': missing BPF prog type, check ELF section name 'loadbalancer'\n"
                                   "libbpf: prog 'lb': failed to load: -22\n",
                                   "loadbalancer");
    unknown.facts.program_type_supported = false;  // the probe of type 0
    d = diagnose(unknown);
    EXPECT_EQ(d.cause, Cause::unknown_section);
    EXPECT_EQ(d.message, "prog 'lb': missing BPF prog type, check ELF section name 'loadbalancer'");
    EXPECT_NE(d.cause_text.find("section 'loadbalancer'"), std::string::npos) << d.cause_text;
}

// opensnitch 1.6's modules, built for gobpf's ELF loader: one "maps/NAME" section per map.
TEST(Diagnose, GobpfMapSectionsAreLegacyMaps) {
    Failure f = load_failure(4005, "",
                             "libbpf: elf: skipping unrecognized data section(9) maps/addrinfo_args_hash\n"
                             "libbpf: elf: skipping unrecognized data section(10) maps/events\n"
                             "libbpf: prog 'uretprobe__gethostbyname': bad map relo against 'events' in section 'maps/events'\n");
    Diagnosis d = diagnose(f);
    EXPECT_EQ(d.cause, Cause::legacy_maps_section);
    EXPECT_EQ(d.message, "prog 'uretprobe__gethostbyname': bad map relo against 'events' in section 'maps/events'");
    EXPECT_NE(d.cause_text.find("(maps/events)"), std::string::npos) << d.cause_text;
}

// bpftune's netns tuner reads init_net, bpftop's iterator bpf_prog_fops: typeless ksyms that a
// kernel without the symbol (or a /proc/kallsyms that hides it) cannot resolve.
TEST(Diagnose, UnresolvedExternNamesTheSymbol) {
    Failure f = load_failure(ESRCH, "", "libbpf: extern 'init_net' (strong): not resolved\nlibbpf: failed to load object 'netns'\n");
    Diagnosis d = diagnose(f);
    EXPECT_EQ(d.cause, Cause::unresolved_extern);
    EXPECT_EQ(d.message, "extern 'init_net' (strong): not resolved");
    EXPECT_NE(d.cause_text.find("extern init_net without __weak"), std::string::npos) << d.cause_text;
    f.libbpf_log = "libbpf: extern (var ksym) 'runqueues': not found in kernel BTF\n";
    EXPECT_EQ(diagnose(f).cause, Cause::unresolved_extern);
    f.libbpf_log = "libbpf: extern (func ksym) 'bpf_x': not found in kernel or module BTFs\n";
    EXPECT_EQ(diagnose(f).cause, Cause::missing_kfunc) << "a kfunc is its own class";
}

// pwru's kprobes on 5.10: an atomic fetch_add, refused before the verifier walks anything.
TEST(Diagnose, InstructionTheVerifierPredates) {
    Failure f = load_failure(EINVAL, "BPF_STX uses reserved fields\nprocessed 0 insns (limit 1000000) max_states_per_insn 0\n", "");
    Diagnosis d = diagnose(f);
    EXPECT_EQ(d.cause, Cause::unsupported_instruction);
    EXPECT_EQ(d.message, "BPF_STX uses reserved fields");
    EXPECT_NE(d.cause_text.find("(BPF_STX)"), std::string::npos) << d.cause_text;
    f.verifier_log = "0: (b7) r0 = 0\nR1 type=ctx expected=fp\n";
    EXPECT_EQ(diagnose(f).cause, Cause::verifier_rejected) << "any other refusal stays the verifier's";
}

TEST(Diagnose, MapTypeFromTheProbe) {
    Failure f = load_failure(EINVAL, "", "libbpf: map 'bloom': failed to create: Invalid argument(-22)\n");
    f.facts.unsupported_maps = {"bloom (bloom_filter)"};
    Diagnosis d = diagnose(f);
    EXPECT_EQ(d.cause, Cause::unsupported_map_type);
    EXPECT_NE(d.cause_text.find("bloom (bloom_filter)"), std::string::npos);
}

TEST(Diagnose, AttachClasses) {
    Failure tcx = load_failure(EINVAL, "", "libbpf: prog 'p': failed to attach to tcx: Invalid argument\n", "tcx/ingress");
    tcx.stage = Stage::attach;
    tcx.facts.attach_type_known = false;
    EXPECT_EQ(diagnose(tcx).cause, Cause::unsupported_attach_type);
    tcx.facts.attach_type_known = true;
    EXPECT_EQ(diagnose(tcx).cause, Cause::unclassified) << "EINVAL alone is not enough to name a class";

    Failure legacy = load_failure(EINVAL, "", "", "cgroup/skb");
    legacy.stage = Stage::attach;
    legacy.legacy_section = true;
    EXPECT_EQ(diagnose(legacy).cause, Cause::attach_type_mismatch);

    Failure qdisc = load_failure(ENOENT, "", "libbpf: Kernel error message: Specified qdisc kind is unknown\n");
    qdisc.stage = Stage::attach;
    Diagnosis q = diagnose(qdisc);
    EXPECT_EQ(q.cause, Cause::missing_module);
    EXPECT_EQ(q.message, "Kernel error message: Specified qdisc kind is unknown");

    // Measured on Debian's 5.10.223 with libbpf-tools' biolatency: the tracepoint lost an argument.
    Failure raw_tp = load_failure(EINVAL, "", "libbpf: prog 'block_rq_insert': failed to attach to raw tracepoint "
                                              "'block_rq_insert': Invalid argument\n", "raw_tp/block_rq_insert");
    raw_tp.stage = Stage::attach;
    Diagnosis r = diagnose(raw_tp);
    EXPECT_EQ(r.cause, Cause::unsupported_attach_type);
    EXPECT_NE(r.cause_text.find("more arguments"), std::string::npos);
    Failure fentry = load_failure(EBUSY, "", "libbpf: prog 'x': failed to attach: Device or resource busy\n", "fentry/blk_account_io_start");
    fentry.stage = Stage::attach;
    EXPECT_EQ(diagnose(fentry).cause, Cause::unsupported_attach_type);

    Failure kprobe = load_failure(ENOENT, "", "libbpf: prog 'k': failed to create kprobe 'nope+0x0' perf event: No such file or directory\n",
                                  "kprobe/nope");
    kprobe.stage = Stage::attach;
    kprobe.facts.tracefs_mounted = false;
    EXPECT_EQ(diagnose(kprobe).cause, Cause::tracefs_missing);
    kprobe.facts.tracefs_mounted = true;
    EXPECT_EQ(diagnose(kprobe).cause, Cause::unsupported_attach_type);
}

// Measured on Debian's arm64 6.1 (no ftrace direct calls): an LSM or fentry program loads,
// and its attach answers the kernel-internal ENOTSUPP.
TEST(Diagnose, TrampolineTheArchitectureCannotBuild) {
    const char* libbpf = "libbpf: prog 'fa_socket_post_create': failed to attach: unknown error (-524)\n";
    for (const char* section : {"lsm/socket_post_create", "fentry/tcp_connect", "fexit/tcp_close"}) {
        Failure f = load_failure(flowattr::kEnotsupp, "", libbpf, section);
        f.stage = Stage::attach;
        Diagnosis d = diagnose(f);
        EXPECT_EQ(d.cause, Cause::unsupported_attach_type) << section;
        EXPECT_NE(d.cause_text.find("trampoline"), std::string::npos) << d.cause_text;
        EXPECT_EQ(d.message, "prog 'fa_socket_post_create': failed to attach: unknown error (-524)");
    }
    Failure kprobe = load_failure(flowattr::kEnotsupp, "", "", "kprobe/tcp_connect");
    kprobe.stage = Stage::attach;
    EXPECT_EQ(diagnose(kprobe).cause_text.find("trampoline"), std::string::npos) << "kprobes need no trampoline";
    Failure listed = load_failure(flowattr::kEnotsupp, "", libbpf, "fentry/vfs_read");
    listed.stage = Stage::attach;
    listed.facts.ftrace_location = true;
    EXPECT_NE(diagnose(listed).cause_text.find("no ftrace direct calls"), std::string::npos)
        << "a function ftrace lists, refused: the trampoline itself is what the kernel lacks";
    EXPECT_EQ(flowattr::describe_errno("attach", -flowattr::kEnotsupp),
              "attach: ENOTSUPP, the kernel's \"not supported\" (errno 524)");
}

// libbpf's own errnos, which libc has no text for (opensnitch's gobpf map sections fail a
// relocation with 4005): in libbpf's words, not "Unknown error 4005".
TEST(Diagnose, LibbpfErrnosInLibbpfsWords) {
    EXPECT_EQ(flowattr::describe_errno("load", -4005), "load: Relocation failed (errno 4005)");
    EXPECT_EQ(flowattr::describe_errno("open", 4000), "open: Something wrong in libelf (errno 4000)");
    EXPECT_EQ(flowattr::errno_message(EINVAL), std::strerror(EINVAL));
}

// A function in the kernel's BTF that ftrace does not list (blk_account_io_start on 6.12,
// static and notrace there) has no site to patch: x86 answers EBUSY, arm64 ENOTSUPP, and on
// arm64 that must not read as the missing direct calls of 6.1 (Debian's 6.12 arm64 has them).
TEST(Diagnose, TracedFunctionWithoutAnFtraceSite) {
    const char* libbpf = "libbpf: prog 'blk_account_io_start': failed to attach: unknown error (-524)\n";
    for (int err : {EBUSY, flowattr::kEnotsupp}) {
        Failure f = load_failure(err, "", libbpf, "fentry/blk_account_io_start");
        f.stage = Stage::attach;
        f.facts.ftrace_location = false;
        Diagnosis d = diagnose(f);
        EXPECT_EQ(d.cause, Cause::unsupported_attach_type) << err;
        EXPECT_NE(d.cause_text.find("no ftrace site"), std::string::npos) << d.cause_text;
        EXPECT_EQ(d.cause_text.find("direct calls"), std::string::npos) << d.cause_text;
    }
    Failure unknown = load_failure(flowattr::kEnotsupp, "", libbpf, "fentry/blk_account_io_start");
    unknown.stage = Stage::attach;
    EXPECT_NE(diagnose(unknown).cause_text.find("direct calls"), std::string::npos)
        << "without tracefs nothing says the function has no site";
}

TEST(Diagnose, TrampolineTarget) {
    EXPECT_EQ(trampoline_target("fentry/vfs_read"), "vfs_read");
    EXPECT_EQ(trampoline_target("fexit.s/do_sys_open"), "do_sys_open");
    EXPECT_EQ(trampoline_target("fmod_ret/bpf_modify_return_test"), "bpf_modify_return_test");
    EXPECT_EQ(trampoline_target("lsm/socket_post_create"), "bpf_lsm_socket_post_create");
    EXPECT_EQ(trampoline_target("lsm_cgroup/socket_bind"), "bpf_lsm_socket_bind");
    EXPECT_EQ(trampoline_target("fentry"), std::nullopt) << "target set by the loader at run time";
    EXPECT_TRUE(attaches_by_trampoline("fentry"));
    EXPECT_EQ(trampoline_target("kprobe/vfs_read"), std::nullopt);
    EXPECT_FALSE(attaches_by_trampoline("tp_btf/sched_switch"));
}

TEST(Diagnose, LsmThatNeverRuns) {
    Failure f;
    f.stage = Stage::run;
    f.section = "lsm/socket_post_create";
    f.facts.bpf_lsm_active = false;
    Diagnosis d = diagnose(f);
    EXPECT_EQ(d.cause, Cause::lsm_inactive);
    EXPECT_NE(d.fix.find("lsm="), std::string::npos);
    f.facts.bpf_lsm_active = true;
    EXPECT_EQ(diagnose(f).cause, Cause::unclassified) << "a canary that failed with bpf active is not explained";
}

TEST(Diagnose, TooComplex) {
    EXPECT_EQ(diagnose(load_failure(E2BIG, "BPF program is too large. Processed 1000001 insn\nprocessed 1000001 insns\n")).cause,
              Cause::too_complex);
    EXPECT_EQ(diagnose(load_failure(E2BIG, "")).cause, Cause::too_complex);
}

TEST(Diagnose, UnclassifiedShowsWhatItHas) {
    Diagnosis d = diagnose(load_failure(EBADF, "", "libbpf: something failed oddly\n"));
    EXPECT_EQ(d.cause, Cause::unclassified);
    EXPECT_NE(d.message.find("EBADF"), std::string::npos) << d.message;
    EXPECT_NE(d.message.find("something failed oddly"), std::string::npos) << d.message;
}

// docs/TROUBLESHOOTING.md is the table's own output; regenerate it when this fails.
TEST(CauseTable, TroubleshootingDocIsGenerated) {
    std::string doc = flowattr::read_file(fa::test::source_dir() + "/docs/TROUBLESHOOTING.md");
    EXPECT_EQ(doc, troubleshooting_markdown())
        << "docs/TROUBLESHOOTING.md is out of date: build/src/cli/flowattr causes --markdown > docs/TROUBLESHOOTING.md";
    for (Cause c : all_causes()) EXPECT_NE(doc.find(std::string("## ") + cause_name(c) + "\n"), std::string::npos);
}

}  // namespace
