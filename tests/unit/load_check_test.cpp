#include <gtest/gtest.h>

#include <cerrno>
#include <sstream>

#include <nlohmann/json.hpp>

#include "agent/load_check.h"
#include "agent/object_check.h"
#include "agent/probe.h"

namespace {

using namespace flowattr::agent;
using flowattr::diagnose::program_check_from_json;
using flowattr::diagnose::program_check_json;

TEST(LoadFailure, InsnsProcessed) {
    EXPECT_EQ(parse_insns_processed("processed 1234 insns (limit 1000000) max_states_per_insn 1\n"), 1234u);
    EXPECT_EQ(parse_insns_processed("nothing here"), 0u);
}

ProgramCheck failed_check() {
    ProgramCheck bad;
    bad.object = "identity";
    bad.program = "fa_socket_post_create";
    bad.section = "lsm/socket_post_create";
    bad.status = CheckStatus::fail;
    bad.err = EPERM;
    bad.diagnosis = flowattr::diagnose::diagnosis_for(flowattr::diagnose::Cause::policy_denied, "EPERM with an empty verifier log");
    bad.log = "the log\n";
    return bad;
}

TEST(LoadReport, FailureCarriesClassLogAndExitCode) {
    ProgramCheck ok;
    ok.object = "flow";
    ok.program = "fa_tc_ingress";
    ok.section = "tc";
    ok.status = CheckStatus::pass;
    ok.insns_processed = 321;
    ok.attach = "clsact ingress on lo";
    ProgramCheck skip = ok;
    skip.status = CheckStatus::skip;
    skip.note = "kernel has no TCX";
    std::ostringstream out;
    EXPECT_EQ(print_check_report({ok, skip}, false, out), 0);
    EXPECT_NE(out.str().find("321 insns processed, attached (clsact ingress on lo)"), std::string::npos);
    EXPECT_NE(out.str().find("kernel has no TCX"), std::string::npos);
    std::ostringstream out2;
    EXPECT_EQ(print_check_report({ok, failed_check()}, false, out2), 1);
    EXPECT_NE(out2.str().find("policy-denied at load"), std::string::npos) << out2.str();
    EXPECT_NE(out2.str().find("(errno 1)"), std::string::npos);
    EXPECT_NE(out2.str().find("the log"), std::string::npos);
    EXPECT_NE(out2.str().find("fix:"), std::string::npos);
    EXPECT_NE(out2.str().find("1 failed"), std::string::npos);
}

// The guest sends each result as one JSON line and the host rebuilds it: nothing is lost.
TEST(LoadReport, JsonRoundTrip) {
    ProgramCheck bad = failed_check();
    std::string line = program_check_json(bad);
    EXPECT_EQ(line.find('\n'), std::string::npos);
    auto back = program_check_from_json(line);
    ASSERT_TRUE(back);
    EXPECT_EQ(back->status, CheckStatus::fail);
    ASSERT_TRUE(back->diagnosis);
    EXPECT_EQ(back->diagnosis->cause, flowattr::diagnose::Cause::policy_denied);
    EXPECT_EQ(back->diagnosis->message, bad.diagnosis->message);
    EXPECT_EQ(back->err, EPERM);
    EXPECT_EQ(back->log, "the log\n");
    auto j = nlohmann::json::parse(line);
    EXPECT_EQ(j["class"], "policy-denied");
    EXPECT_EQ(j["stage"], "load");
    ProgramCheck ok = bad;
    ok.status = CheckStatus::pass;
    ok.diagnosis.reset();
    EXPECT_TRUE(nlohmann::json::parse(program_check_json(ok))["class"].is_null());
    EXPECT_FALSE(program_check_from_json("{\"status\":\"fail\",\"class\":\"bogus\"}"));
    EXPECT_FALSE(program_check_from_json("not json"));
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

// The kernel suite reads the features one probe found back from `flowattr probe --json`'s form.
TEST(Probe, FeaturesReadBackFromTheirJson) {
    KernelFeatures f;
    f.release = "6.1.0-test";
    f.checks = {{"tcx", false, "TCX link refused (kernel < 6.6?): Invalid argument"},
                {"link.lsm", true, "LSM link attached and detached on socket_post_create"}};
    std::optional<KernelFeatures> back = features_from_json(features_to_json(f));
    ASSERT_TRUE(back);
    EXPECT_EQ(back->release, f.release);
    ASSERT_EQ(back->checks.size(), 2u);
    EXPECT_TRUE(back->has("link.lsm"));
    EXPECT_FALSE(back->has("tcx"));
    EXPECT_EQ(back->find("tcx")->detail, f.checks[0].detail);
    EXPECT_FALSE(features_from_json(""));
    EXPECT_FALSE(features_from_json("{\"kernel\":\"6.1\"}"));
    EXPECT_FALSE(features_from_json("{\"kernel\":\"6.1\",\"features\":{\"tcx\":{\"available\":1}}}"));
}

}  // namespace
