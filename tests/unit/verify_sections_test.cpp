// libbpf 1.4.6's section-name table as verify models it, and the model against the libbpf
// this binary links.
#include <bpf/libbpf.h>
#include <gtest/gtest.h>

#include <cerrno>
#include <string>
#include <string_view>
#include <vector>

#include "verify/sections.h"

namespace flowattr::verify {
namespace {

struct Expect {
    const char* section;
    const char* prog_type;  // nullptr: libbpf does not recognise the name
    const char* attach;
};

TEST(SectionDefs, Libbpf146Interpretation) {
    const Expect cases[] = {
        {"tc", "sched_cls", "none"},
        {"classifier", "sched_cls", "none"},
        {"action", "sched_act", "none"},
        {"tcx/ingress", "sched_cls", "tcx_ingress"},
        {"tcx/egress", "sched_cls", "tcx_egress"},
        {"tc/ingress", "sched_cls", "tcx_ingress"},  // libbpf's alias for tcx
        {"netkit/peer", "sched_cls", "netkit_peer"},
        {"cgroup/skb", "cgroup_skb", "none"},
        {"cgroup_skb/ingress", "cgroup_skb", "cgroup_inet_ingress"},
        {"cgroup_skb/egress", "cgroup_skb", "cgroup_inet_egress"},
        {"cgroup/sock_create", "cgroup_sock", "cgroup_inet_sock_create"},
        {"cgroup/sock", "cgroup_sock", "cgroup_inet_sock_create"},
        {"lsm/socket_post_create", "lsm", "lsm_mac"},
        {"lsm.s/bprm_committed_creds", "lsm", "lsm_mac"},
        {"iter/task_file", "tracing", "trace_iter"},
        {"kprobe/tcp_connect", "kprobe", "none"},
        {"kprobe", "kprobe", "none"},
        {"kprobe.multi/tcp_*", "kprobe", "trace_kprobe_multi"},
        {"tp_btf/sched_switch", "tracing", "trace_raw_tp"},
        {"xdp", "xdp", "xdp"},
        {"xdp.frags", "xdp", "xdp"},
        {"sockops", "sock_ops", "cgroup_sock_ops"},
        {"netfilter", "netfilter", "netfilter"},
        {"kprobex", nullptr, nullptr},  // "x+" needs end of name or '/'
        {"tc/other", nullptr, nullptr},
        {"cgroup/skbx", nullptr, nullptr},
        {"kprobe.session/x", nullptr, nullptr},  // libbpf 1.5, not 1.4.6
    };
    for (const Expect& c : cases) {
        const SectionDef* def = find_section_def(c.section);
        if (!c.prog_type) {
            EXPECT_EQ(def, nullptr) << c.section;
            continue;
        }
        ASSERT_NE(def, nullptr) << c.section;
        EXPECT_EQ(prog_type_name(def->prog_type), c.prog_type) << c.section;
        EXPECT_EQ(expected_attach_name(def->expected_attach_type), c.attach) << c.section;
    }
}

// A target of the kind each "x+" family attaches to, so that "x/<target>" is a name a real
// program carries. (libbpf_prog_type_by_name reads only the part before the '/'.)
std::string example_target(std::string_view stem) {
    const auto in_family = [&](std::string_view family) { return stem.substr(0, family.size()) == family; };
    if (in_family("lsm")) return "socket_post_create";
    if (in_family("iter")) return "task_file";
    if (in_family("usdt")) return "/usr/lib/x86_64-linux-gnu/libc.so.6:libc:setjmp";
    if (in_family("uprobe") || in_family("uretprobe")) return "/usr/lib/x86_64-linux-gnu/libc.so.6:malloc";
    if (in_family("kprobe.multi") || in_family("kretprobe.multi")) return "tcp_*";
    if (in_family("ksyscall") || in_family("kretsyscall")) return "connect";
    if (in_family("tracepoint") || stem == "tp") return "sock/inet_sock_set_state";
    if (in_family("raw_tracepoint") || in_family("raw_tp") || in_family("tp_btf")) return "sched_switch";
    if (in_family("struct_ops")) return "ssthresh";
    if (in_family("freplace")) return "handle_packet";
    return "tcp_connect";  // kprobe, kretprobe, fentry, fexit, fmod_ret and their sleepable forms
}

// The section names a program may carry for DEF: "x+" takes "x" and "x/<target>", any other
// pattern only itself.
std::vector<std::string> concrete_names(const SectionDef& def) {
    const std::string pattern(def.pattern);
    if (pattern.back() != '+') return {pattern};
    const std::string stem = pattern.substr(0, pattern.size() - 1);
    return {stem, stem + "/" + example_target(stem)};
}

// Every entry of the model against the libbpf linked into this binary, through its public
// lookups (no kernel needed): after a libbpf bump, each entry whose meaning changed fails by
// name. libbpf_prog_type_by_name answers for every entry, SEC_ATTACH_BTF ones included (it
// does not look the target up), so none is left out.
TEST(SectionDefs, EveryEntryAgreesWithTheLinkedLibbpf) {
    ASSERT_FALSE(section_defs().empty());
    for (const SectionDef& def : section_defs()) {
        // 1.4.6 has no prefix-only "x/" entries; one would need concrete names of its own here.
        ASSERT_NE(def.pattern.back(), '/') << def.pattern;
        for (const std::string& name : concrete_names(def)) {
            SCOPED_TRACE("SEC(\"" + name + "\") for table entry \"" + std::string(def.pattern) + "\"");
            // The name must reach this very entry in the model, or the checks below test another.
            ASSERT_EQ(find_section_def(name), &def);
            bpf_prog_type prog_type{};
            bpf_attach_type attach_type{};
            ASSERT_EQ(libbpf_prog_type_by_name(name.c_str(), &prog_type, &attach_type), 0)
                << "the linked libbpf does not know this section name";
            EXPECT_EQ(prog_type_name(prog_type), prog_type_name(def.prog_type));
            // libbpf stores 0 for "no expected attach type"; the model spells that nullopt.
            EXPECT_EQ(attach_type_name(attach_type), attach_type_name(def.expected_attach_type.value_or(0)));
            // SEC_ATTACHABLE is exactly what makes libbpf_attach_type_by_name answer.
            bpf_attach_type attachable_as{};
            const bool attachable = libbpf_attach_type_by_name(name.c_str(), &attachable_as) == 0;
            EXPECT_EQ(attachable, (def.flags & kSecAttachable) != 0) << "kSecAttachable";
            if (attachable) {
                EXPECT_EQ(attach_type_name(attachable_as), attach_type_name(attach_type));
            }
        }
    }
}

// The other direction for the names the model rejects: a libbpf that learns one (1.5 adds
// kprobe.session) fails here.
TEST(SectionDefs, NamesTheModelRejectsTheLinkedLibbpfRejects) {
    for (const char* name : {"kprobex", "tc/other", "cgroup/skbx", "kprobe.session/x"}) {
        EXPECT_EQ(find_section_def(name), nullptr) << name;
        bpf_prog_type prog_type{};
        bpf_attach_type attach_type{};
        EXPECT_EQ(libbpf_prog_type_by_name(name, &prog_type, &attach_type), -ESRCH) << name;
    }
}

TEST(SectionDefs, LegacyNamesAreNotedWithTheirReplacement) {
    EXPECT_NE(legacy_section_note("cgroup/skb").find("cgroup_skb/ingress"), std::string_view::npos);
    EXPECT_NE(legacy_section_note("classifier").find("SEC(\"tc\")"), std::string_view::npos);
    EXPECT_NE(legacy_section_note("tc/ingress").find("tcx/ingress"), std::string_view::npos);
    for (const char* modern : {"tc", "tcx/ingress", "cgroup_skb/egress", "lsm/socket_post_create", "cgroup/skbx"})
        EXPECT_TRUE(legacy_section_note(modern).empty()) << modern;
}

TEST(SectionDefs, Flags) {
    EXPECT_EQ(find_section_def("fentry.s/x")->flags, std::uint32_t(kSecAttachBtf | kSecSleepable));
    EXPECT_EQ(find_section_def("cgroup_skb/ingress")->flags, std::uint32_t(kSecAttachableOpt));
    EXPECT_EQ(find_section_def("cgroup/sock_create")->flags, std::uint32_t(kSecAttachable));
    EXPECT_EQ(find_section_def("tc")->flags, std::uint32_t(kSecNone));
}

TEST(SectionDefs, EnumNames) {
    EXPECT_EQ(attach_type_name(46), "tcx_ingress");
    EXPECT_EQ(attach_type_name(55), "netkit_peer");
    EXPECT_EQ(attach_type_name(99), "attach_type_99");
    EXPECT_EQ(prog_type_name(32), "netfilter");
    EXPECT_EQ(map_type_name(33), "arena");
    EXPECT_EQ(prog_type_from_name("sched_cls"), 3u);
    std::optional<std::uint32_t> attach = 7;
    EXPECT_TRUE(expected_attach_from_name("none", attach));
    EXPECT_FALSE(attach);
    EXPECT_TRUE(expected_attach_from_name("cgroup_inet_ingress", attach));
    EXPECT_EQ(attach, 0u);
    EXPECT_FALSE(expected_attach_from_name("nope", attach));
}

}  // namespace
}  // namespace flowattr::verify
