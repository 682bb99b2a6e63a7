// What verify reports for a section name: libbpf 1.4.6's reading (the linked libbpf's public
// lookups) with "none" where libbpf leaves expected_attach_type 0 without meaning one.
#include <gtest/gtest.h>

#include <string>

#include "verify/sections.h"

namespace flowattr::verify {
namespace {

struct Expect {
    const char* section;
    const char* prog_type;  // nullptr: libbpf does not recognise the name
    const char* attach;
};

TEST(SectionNames, Libbpf146Interpretation) {
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
        const auto meaning = section_meaning(c.section);
        if (!c.prog_type) {
            EXPECT_FALSE(meaning) << c.section;
            continue;
        }
        ASSERT_TRUE(meaning) << c.section;
        EXPECT_EQ(prog_type_name(meaning->prog_type), c.prog_type) << c.section;
        EXPECT_EQ(expected_attach_name(meaning->expected_attach_type), c.attach) << c.section;
    }
}

TEST(SectionNames, LegacyNamesAreNotedWithTheirReplacement) {
    EXPECT_NE(legacy_section_note("cgroup/skb").find("cgroup_skb/ingress"), std::string_view::npos);
    EXPECT_NE(legacy_section_note("classifier").find("SEC(\"tc\")"), std::string_view::npos);
    EXPECT_NE(legacy_section_note("tc/ingress").find("tcx/ingress"), std::string_view::npos);
    for (const char* modern : {"tc", "tcx/ingress", "cgroup_skb/egress", "lsm/socket_post_create", "cgroup/skbx"})
        EXPECT_TRUE(legacy_section_note(modern).empty()) << modern;
}

// Attachable (libbpf_attach_type_by_name answers) is what tells BPF_CGROUP_INET_INGRESS, which
// is 0, from libbpf's 0 for "no expected attach type".
TEST(SectionNames, AttachableSectionsAndTheZeroAttachType) {
    EXPECT_TRUE(section_meaning("cgroup_skb/ingress")->attachable);
    EXPECT_EQ(section_meaning("cgroup_skb/ingress")->expected_attach_type, 0u);
    EXPECT_TRUE(section_meaning("cgroup/sock_create")->attachable);
    EXPECT_FALSE(section_meaning("tc")->attachable);
    EXPECT_FALSE(section_meaning("tc")->expected_attach_type);
    EXPECT_FALSE(section_meaning("tcx/ingress")->attachable);  // an attach type, but SEC_NONE
    EXPECT_EQ(attach_type_name(*section_meaning("tcx/ingress")->expected_attach_type), "tcx_ingress");
}

TEST(SectionNames, EnumNames) {
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
