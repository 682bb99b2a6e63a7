// libbpf 1.4.6's section-name table as verify models it.
#include <gtest/gtest.h>

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
