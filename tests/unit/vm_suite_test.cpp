#include <gtest/gtest.h>

#include "common/error.h"
#include "matrix/vm_suite.h"
#include "matrix_fixtures.h"

namespace fm = flowattr::matrix;
using namespace flowattr::matrix::fixtures;

namespace {

TEST(GuestProtocol, Base64RoundTrip) {
    for (std::string s : {"", "a", "ab", "abc", "abcd", "line\nwith \"quotes\" and \x01 bytes"})
        EXPECT_EQ(fm::base64_decode(b64(s)), s);
    EXPECT_EQ(fm::base64_decode("aGVs\r\nbG8="), "hello");  // tty line breaks are ignored
}

TEST(GuestProtocol, ParsesAFullRun) {
    std::string channel = init_line() + "\r\n" + R"({"type":"mounts","failed":"debugfs tracefs"})" + "\n" + setup_line() +
                          "\n" + load_line(0, "prog a ok\n") + "\n" + list_line(2) + "\n" + begin_line("A.one") + "\n" +
                          passing_test("A", "one", R"(,"attach_mode":"tcx")") + "\n" + begin_line("A.two") + "\n" +
                          test_line("A.two", 0, gtest_json("A", "two", "SKIPPED")) + "\n" + done_line() + "\n";
    auto r = fm::parse_results(channel);
    EXPECT_TRUE(r.init_seen);
    EXPECT_DOUBLE_EQ(r.init_uptime, 1.65);
    EXPECT_EQ(r.mode, "suite");
    EXPECT_EQ(r.kernel_release, "6.1.0-50-cloud-amd64");
    EXPECT_EQ(r.mount_failures, (std::vector<std::string>{"debugfs", "tracefs"}));
    EXPECT_EQ(r.modules.at("cls_bpf.ko"), 0);
    EXPECT_EQ(r.lsm, "lockdown,capability,bpf");
    EXPECT_TRUE(r.load_check.ran);
    EXPECT_EQ(r.load_check.rc, 0);
    EXPECT_EQ(r.load_check.output, "prog a ok\n");
    EXPECT_EQ(r.tests_listed, 2);
    ASSERT_EQ(r.tests.size(), 2u);
    EXPECT_EQ(r.tests[0].result, "PASSED");
    EXPECT_EQ(r.tests[0].properties.at("attach_mode"), "tcx");
    EXPECT_EQ(r.tests[1].result, "SKIPPED");
    EXPECT_FALSE(r.running_test);
    EXPECT_TRUE(r.done);
    EXPECT_EQ(r.attach_modes(), (std::vector<std::string>{"tcx"}));
    EXPECT_TRUE(r.malformed.empty());
}

TEST(GuestProtocol, ProbeGivesTheAttachModes) {
    fm::SuiteResults r;
    std::string probe = R"({"features":{"tcx":{"available":false,"detail":"EINVAL"},"bpf_lsm":{"available":true},)"
                        R"("prog.lsm":{"available":true}},"kernel":"6.1.0"})";
    EXPECT_EQ(r.add_line(R"({"type":"probe","rc":0,"output":")" + b64(probe) + "\"}"), "probe");
    EXPECT_EQ(r.probe_features.at("tcx"), false);
    EXPECT_EQ(r.attach_modes(), (std::vector<std::string>{"identity:lsm", "tc:clsact"}));
    fm::SuiteResults inert;
    probe = R"({"features":{"tcx":{"available":true},"bpf_lsm":{"available":false},"prog.lsm":{"available":true},)"
            R"("helper.sock_from_file":{"available":false}}})";
    inert.add_line(R"({"type":"probe","rc":0,"output":")" + b64(probe) + "\"}");
    EXPECT_EQ(inert.attach_modes(),
              (std::vector<std::string>{"identity:sock_create", "preexisting:proc_walk", "tc:tcx"}));
    fm::SuiteResults failed;  // a probe that failed or printed no JSON reports nothing
    EXPECT_EQ(failed.add_line(R"({"type":"probe","rc":2,"output":")" + b64("usage") + "\"}"), "probe");
    EXPECT_TRUE(failed.attach_modes().empty());
}

TEST(GuestProtocol, SkipReasonIsWhatTheTestStreamed) {
    EXPECT_EQ(fm::gtest_skip_reason("[ RUN      ] A.b\n./a.cpp:3: Skipped\nneeds root\n(CAP_BPF)\n[  SKIPPED ] A.b (0 ms)\n"),
              "needs root (CAP_BPF)");
    EXPECT_EQ(fm::gtest_skip_reason("[ RUN      ] A.b\n./a.cpp:3: Skipped\n\n[  SKIPPED ] A.b (0 ms)\n"), "");
    EXPECT_EQ(fm::gtest_skip_reason("[ RUN      ] A.b\n[       OK ] A.b (0 ms)\n"), "");
}

TEST(GuestProtocol, FailureMessageAndRunningTest) {
    fm::SuiteResults r;
    EXPECT_EQ(r.add_line(begin_line("A.bad")), "begin");
    ASSERT_TRUE(r.running_test);
    EXPECT_EQ(*r.running_test, "A.bad");
    r.add_line(test_line("A.bad", 1, gtest_json("A", "bad", "COMPLETED", "Expected equality\\n  a: 1"), "", 2, 3,
                         "stdout of the test\n"));
    ASSERT_EQ(r.tests.size(), 1u);
    EXPECT_EQ(r.tests[0].result, "FAILED");
    EXPECT_EQ(r.tests[0].failure_message, "Expected equality\n  a: 1");
    EXPECT_EQ(r.tests[0].output, "stdout of the test\n");
    EXPECT_FALSE(r.running_test);
}

TEST(GuestProtocol, TimeoutNeedsBothTheExitCodeAndTheDuration) {
    fm::SuiteResults r;
    r.add_line(R"({"type":"test","name":"A.slow","rc":143,"start":2.0,"end":122.1,"timeout":120,"splat":"","output":"","json":""})");
    r.add_line(R"({"type":"test","name":"A.quick","rc":143,"start":2.0,"end":2.1,"timeout":120,"splat":"","output":"","json":""})");
    ASSERT_EQ(r.tests.size(), 2u);
    EXPECT_TRUE(r.tests[0].timed_out);
    EXPECT_FALSE(r.tests[1].timed_out);
    EXPECT_EQ(r.tests[1].result, "FAILED");  // no JSON and a non-zero exit
}

TEST(GuestProtocol, GarbageIsKeptAsMalformedNotFatal) {
    fm::SuiteResults r;
    EXPECT_EQ(r.add_line("\x01\x02" + init_line()), "init");  // UART noise before the record
    EXPECT_EQ(r.add_line("{not json"), "");
    EXPECT_EQ(r.add_line(R"({"type":"martian"})"), "");
    EXPECT_EQ(r.add_line("plain text"), "");
    EXPECT_TRUE(r.init_seen);
    EXPECT_EQ(r.malformed.size(), 3u);
}

TEST(GuestProtocol, PlanGoesOnTheCommandLine) {
    fm::GuestPlan p;
    p.mode = fm::GuestMode::load_check;
    p.test_filter = "Flow*:Lsm.*";
    p.per_test_timeout_s = 7;
    EXPECT_EQ(fm::guest_plan_cmdline(p), "kmatrix.mode=load kmatrix.filter=Flow*:Lsm.* kmatrix.test_timeout=7");
    p.full_verifier_log = true;
    EXPECT_NE(fm::guest_plan_cmdline(p).find(" kmatrix.full_log=1"), std::string::npos);
    p.mode = fm::GuestMode::suite_then_shell;
    EXPECT_NE(fm::guest_plan_cmdline(p).find("kmatrix.mode=suite+shell"), std::string::npos);
    p.test_filter = "two words";
    EXPECT_THROW(fm::guest_plan_cmdline(p), flowattr::Error);
    p.test_filter = "quote\"";
    EXPECT_THROW(fm::guest_plan_cmdline(p), flowattr::Error);
}

TEST(GuestProtocol, InitScriptKeepsResultsOffTheConsole) {
    std::string s = fm::render_init_script();
    EXPECT_EQ(s.rfind("#!/bin/busybox sh\n", 0), 0u);
    EXPECT_NE(s.find(fm::kInitMarker), std::string::npos);
    EXPECT_NE(s.find(std::string("exec 3>") + fm::kGuestResultsTty), std::string::npos);
    EXPECT_NE(s.find(std::string(fm::kGuestAgent) + " load $LOADARGS"), std::string::npos);
    EXPECT_NE(s.find(std::string("T=") + fm::kGuestTests), std::string::npos);
    EXPECT_NE(s.find(std::string(fm::kGuestModulesDir) + "/*.ko"), std::string::npos);
    EXPECT_NE(s.find("--gtest_list_tests"), std::string::npos);
    EXPECT_NE(s.find("--gtest_output=json:"), std::string::npos);
    EXPECT_NE(s.find("/sys/kernel/security/lsm"), std::string::npos);
    for (const char* fs : {"bpf", "cgroup2", "tracefs", "securityfs", "debugfs"})
        EXPECT_NE(s.find(std::string("mnt ") + fs + " "), std::string::npos) << fs;
    // /init must never return: the kernel panics when init exits.
    EXPECT_NE(s.find("poweroff -f"), std::string::npos);
    EXPECT_NE(s.find("sysrq-trigger"), std::string::npos);
}

}  // namespace
