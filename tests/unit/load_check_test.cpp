#include <gtest/gtest.h>

#include <cerrno>

#include "agent/load_check.h"
#include "agent/probe.h"

namespace {

using namespace flowattr::agent;

TEST(LoadFailure, MissingHelperNamed) {
    std::string log = "0: R1=ctx() R10=fp0\n; sock = bpf_sock_from_file(ctx->file);\n"
                      "5: (85) call bpf_sock_from_file#162\nunknown func bpf_sock_from_file#162\n";
    EXPECT_EQ(explain_load_failure(EINVAL, log, "iter/task_file"),
              "helper bpf_sock_from_file is not available to this program type on this kernel");
}

TEST(LoadFailure, HelperNewerThanKernel) {
    EXPECT_NE(explain_load_failure(EINVAL, "invalid func unknown#212\n", "tc").find("helper #212 is unknown"),
              std::string::npos);
}

TEST(LoadFailure, LsmPolicyRefusalIsNotBlamedOnUlimit) {
    std::string cause = explain_load_failure(EPERM, "", "lsm/socket_post_create");
    EXPECT_NE(cause.find("policy"), std::string::npos);
    EXPECT_NE(cause.find("verifier never ran"), std::string::npos);
    EXPECT_EQ(cause.find("ulimit"), std::string::npos);
}

TEST(LoadFailure, UnknownAttachTypeNamesSection) {
    std::string cause = explain_load_failure(EINVAL, "", "tcx/ingress");
    EXPECT_NE(cause.find("expected_attach_type"), std::string::npos);
    EXPECT_NE(cause.find("\"tcx/ingress\""), std::string::npos);
}

TEST(LoadFailure, BtfRejection) {
    std::string log = "[45] STRUCT Result<...> size=4 vlen=1\n\t(anon) type_id=0 bits_offset=0 Invalid type_id\n";
    EXPECT_EQ(explain_load_failure(EINVAL, log, "tc"),
              "the kernel rejected the object's BTF: \t(anon) type_id=0 bits_offset=0 Invalid type_id");
}

TEST(LoadFailure, VerifierRejectionQuotesLastLine) {
    std::string log = "processed 10 insns\n0: (61) r2 = *(u32 *)(r1 +80)\ninvalid bpf_context access off=80 size=4\n";
    EXPECT_EQ(explain_load_failure(EACCES, log, "tc"), "rejected by the verifier: invalid bpf_context access off=80 size=4");
}

TEST(LoadFailure, InsnsProcessed) {
    EXPECT_EQ(parse_insns_processed("processed 1234 insns (limit 1000000) max_states_per_insn 1\n"), 1234u);
    EXPECT_EQ(parse_insns_processed("nothing here"), 0u);
}

TEST(LoadReport, FailureCarriesLogAndExitCode) {
    ProgramLoadResult ok{"flow", "fa_tc_ingress", "tc", LoadOutcome::loaded, 321, 0, "", ""};
    ProgramLoadResult skip{"flow", "fa_tcx_ingress", "tcx/ingress", LoadOutcome::skipped, 0, 0, "kernel has no TCX", ""};
    ProgramLoadResult bad{"identity", "fa_socket_post_create", "lsm/socket_post_create", LoadOutcome::failed, 0, EPERM,
                          "policy", "the log\n"};
    std::ostringstream out;
    EXPECT_EQ(print_load_report({ok, skip}, false, out), 0);
    EXPECT_NE(out.str().find("321 insns processed"), std::string::npos);
    EXPECT_NE(out.str().find("kernel has no TCX"), std::string::npos);
    std::ostringstream out2;
    EXPECT_EQ(print_load_report({ok, bad}, false, out2), 1);
    EXPECT_NE(out2.str().find("(errno 1)"), std::string::npos);
    EXPECT_NE(out2.str().find("the log"), std::string::npos);
    EXPECT_NE(out2.str().find("1 failed"), std::string::npos);
}

TEST(Probe, Cgroup2MountFromMounts) {
    std::string hybrid =
        "sysfs /sys sysfs rw 0 0\n"
        "tmpfs /sys/fs/cgroup tmpfs ro 0 0\n"
        "cgroup2 /sys/fs/cgroup/unified cgroup2 rw,nosuid 0 0\n"
        "cgroup /sys/fs/cgroup/cpu cgroup rw,cpu 0 0\n";
    EXPECT_EQ(find_cgroup2_mount(hybrid), "/sys/fs/cgroup/unified");
    EXPECT_EQ(find_cgroup2_mount("cgroup /sys/fs/cgroup/cpu cgroup rw 0 0\n"), "");
}

}  // namespace
