#include <gtest/gtest.h>

#include "common/error.h"
#include "guest/init.h"
#include "guest/plan.h"
#include "guest/record.h"
#include "guest/test_marker.h"
#include "matrix/vm_suite.h"
#include "matrix_fixtures.h"

namespace fm = flowattr::matrix;
using namespace flowattr::matrix::fixtures;
namespace fg = flowattr::guest;

namespace {

TEST(GuestProtocol, RecordTypesRoundTripByName) {
    for (auto t : {RecordType::init, RecordType::mounts, RecordType::setup, RecordType::probe, RecordType::load_check,
                   RecordType::check, RecordType::check_done, RecordType::list, RecordType::begin, RecordType::test,
                   RecordType::exec, RecordType::done})
        EXPECT_EQ(fg::parse_record_type(fg::record_type_name(t)), t) << fg::record_type_name(t);
    EXPECT_FALSE(fg::parse_record_type("martian"));
}

TEST(GuestProtocol, RecordLineSurvivesInvalidUtf8) {
    auto line = fg::record_line(record(RecordType::exec, {{"output", std::string("ok \xff\xfe bytes\n")}}));
    ASSERT_EQ(line.back(), '\n');
    auto back = nlohmann::json::parse(line);
    EXPECT_EQ(back["type"], "exec");
    EXPECT_NE(back["output"].get<std::string>().find("bytes"), std::string::npos);
}

TEST(GuestProtocol, ParsesAFullRun) {
    std::string channel = init_line() + "\r\n" + wire(record(RecordType::mounts, {{"failed", {"debugfs", "tracefs"}}})) +
                          "\n" + setup_line() +
                          "\n" + load_line(0, "prog a ok\n") + "\n" + list_line(2) + "\n" + begin_line("A.one") + "\n" +
                          passing_test("A", "one", R"(,"attach_mode":"tcx")") + "\n" + begin_line("A.two") + "\n" +
                          test_line("A.two", 0, gtest_json("A", "two", "SKIPPED")) + "\n" + done_line() + "\n";
    auto r = fm::parse_results(channel);
    EXPECT_TRUE(r.init_seen);
    EXPECT_DOUBLE_EQ(r.init_uptime, 1.65);
    EXPECT_EQ(r.mode, fm::GuestMode::suite);
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
    EXPECT_DOUBLE_EQ(r.tests[0].busy_s, 0.3);
    EXPECT_DOUBLE_EQ(r.tests[0].idle_s, 0.2);
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
    auto probe_line = [](int rc, const std::string& output) {
        return wire(record(RecordType::probe, {{"rc", rc}, {"output", output}}));
    };
    EXPECT_EQ(r.add_line(probe_line(0, probe)), RecordType::probe);
    EXPECT_EQ(r.probe_features.at("tcx"), false);
    EXPECT_EQ(r.attach_modes(), (std::vector<std::string>{"identity:lsm", "tc:clsact"}));
    fm::SuiteResults inert;
    probe = R"({"features":{"tcx":{"available":true},"bpf_lsm":{"available":false},"prog.lsm":{"available":true},)"
            R"("helper.sock_from_file":{"available":false}}})";
    inert.add_line(probe_line(0, probe));
    EXPECT_EQ(inert.attach_modes(),
              (std::vector<std::string>{"identity:sock_create", "preexisting:proc_walk", "tc:tcx"}));
    fm::SuiteResults failed;  // a probe that failed or printed no JSON reports nothing
    EXPECT_EQ(failed.add_line(probe_line(2, "usage")), RecordType::probe);
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
    EXPECT_EQ(r.add_line(begin_line("A.bad")), RecordType::begin);
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

TEST(GuestProtocol, TimeoutIsWhatTheGuestSays) {
    fm::SuiteResults r;
    r.add_line(test_line("A.slow", 137, "", "", 2.0, 62.1, "", true));
    r.add_line(test_line("A.quick", 143, "", "", 2.0, 2.1));
    ASSERT_EQ(r.tests.size(), 2u);
    EXPECT_TRUE(r.tests[0].timed_out);
    EXPECT_FALSE(r.tests[1].timed_out);
    EXPECT_EQ(r.tests[1].result, "FAILED");  // no gtest JSON and a non-zero exit
}

TEST(GuestProtocol, ExecRecordCarriesTheCommandsEnd) {
    fm::SuiteResults r;
    EXPECT_EQ(r.add_line(init_line("exec")), RecordType::init);
    EXPECT_EQ(r.mode, fm::GuestMode::exec);
    EXPECT_EQ(r.add_line(exec_line(139, "segfault here\n", 11)), RecordType::exec);
    EXPECT_TRUE(r.exec.ran);
    EXPECT_EQ(r.exec.argv, (std::vector<std::string>{"./t", "-v"}));
    EXPECT_EQ(r.exec.rc, 139);
    EXPECT_EQ(r.exec.signal, 11);
    EXPECT_EQ(r.exec.output, "segfault here\n");
    EXPECT_FALSE(r.exec.timed_out);
}

TEST(GuestProtocol, RecordsWithWrongFieldTypesAreMalformed) {
    fm::SuiteResults r;
    EXPECT_FALSE(r.add_line(wire(record(RecordType::test, {{"name", 3}, {"rc", "zero"}}))));
    EXPECT_FALSE(r.add_line(wire(record(RecordType::exec, {{"rc", 0}, {"timed_out", "no"}}))));
    EXPECT_TRUE(r.tests.empty());
    EXPECT_FALSE(r.exec.ran);
    EXPECT_EQ(r.malformed.size(), 2u);
}

TEST(GuestProtocol, GarbageIsKeptAsMalformedNotFatal) {
    fm::SuiteResults r;
    EXPECT_EQ(r.add_line("\x01\x02" + init_line()), RecordType::init);  // UART noise before the record
    EXPECT_FALSE(r.add_line("{not json"));
    EXPECT_FALSE(r.add_line(R"({"type":"martian"})"));
    EXPECT_FALSE(r.add_line("plain text"));
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

TEST(GuestProtocol, PlanRoundTripsThroughTheKernelCommandLine) {
    fg::GuestPlan p;
    p.mode = fg::GuestMode::check_then_shell;
    p.test_filter = "Flow*";
    p.per_test_timeout_s = 9;
    p.full_verifier_log = true;
    p.check_log_limit = 1234;
    p.check_unprivileged = true;
    p.check_size_maps = true;
    p.check_section_types = {"loadbalancer=socket", "probe_open=kprobe/do_sys_open"};
    p.load_modules = false;
    auto back = fg::parse_guest_plan("BOOT_IMAGE=/vmlinuz console=ttyS0 " + fg::guest_plan_cmdline(p) + " quiet");
    EXPECT_EQ(back.mode, p.mode);
    EXPECT_EQ(back.test_filter, "Flow*");
    EXPECT_EQ(back.per_test_timeout_s, 9);
    EXPECT_TRUE(back.full_verifier_log);
    EXPECT_EQ(back.check_log_limit, 1234u);
    EXPECT_TRUE(back.check_unprivileged);
    EXPECT_TRUE(back.check_size_maps);
    EXPECT_EQ(back.check_section_types, p.check_section_types);
    EXPECT_FALSE(back.load_modules);
    // Later words win (a hand-added --cmdline switch), malformed values are ignored.
    back = fg::parse_guest_plan(fg::guest_plan_cmdline(p) + " kmatrix.modules=all kmatrix.test_timeout=x kmatrix.mode=nope");
    EXPECT_TRUE(back.load_modules);
    EXPECT_EQ(back.per_test_timeout_s, 9);
    EXPECT_EQ(back.mode, p.mode);
    EXPECT_EQ(fg::parse_guest_plan("console=ttyS0").mode, fg::GuestMode::suite);
    EXPECT_TRUE(fg::parse_guest_plan("console=ttyS0").check_section_types.empty());
    // The commas between specs and the spaces between words cannot be in one.
    for (const char* spec : {"a,b=socket", "my prog=socket", "x=\"tc\""}) {
        p.check_section_types = {spec};
        EXPECT_FALSE(fg::cmdline_carries_section_type(spec)) << spec;
        EXPECT_THROW(fg::guest_plan_cmdline(p), flowattr::Error) << spec;
    }
}

// Where a VM's time went, on the guest's clock, from the uptimes its records carry; a phase
// it never reached is not reported, and only the suite has the test phases.
TEST(GuestProtocol, PhasesFromTheGuestsOwnClock) {
    fm::SuiteResults s;
    for (const auto& line : {init_line(), setup_line(), load_line(0), list_line(1), passing_test("A", "b"), done_line()})
        s.add_line(line);
    const std::vector<std::pair<std::string, double>> want = {
        {"kernel", 1.2}, {"channel", 0.45}, {"setup", 0.1}, {"probe_load_check", 0.2}, {"tests", 1.15}};
    const auto got = s.phases();
    ASSERT_EQ(got.size(), want.size());
    for (std::size_t i = 0; i < want.size(); i++) {
        EXPECT_EQ(got[i].first, want[i].first);
        EXPECT_NEAR(got[i].second, want[i].second, 1e-9) << want[i].first;
    }
    fm::SuiteResults booting;
    booting.add_line(init_line());
    booting.add_line(setup_line());
    EXPECT_EQ(booting.phases().size(), 3u) << "kernel, channel, setup: the rest not reached";
    fm::SuiteResults check;
    check.add_line(init_line("check"));
    EXPECT_TRUE(check.phases().empty());
}

// The results channel is ttyS1 unless the plan names another (aarch64: hvc0); the default
// adds nothing, so an x86_64 command line stays what it was.
TEST(GuestProtocol, ResultsChannelTravelsOnlyWhenNotTheDefault) {
    fg::GuestPlan p;
    EXPECT_EQ(fg::guest_plan_cmdline(p).find("kmatrix.results"), std::string::npos);
    EXPECT_EQ(fg::parse_guest_plan(fg::guest_plan_cmdline(p)).results_tty, "/dev/ttyS1");
    p.results_tty = "/dev/hvc0";
    EXPECT_NE(fg::guest_plan_cmdline(p).find(" kmatrix.results=/dev/hvc0"), std::string::npos);
    EXPECT_EQ(fg::parse_guest_plan(fg::guest_plan_cmdline(p)).results_tty, "/dev/hvc0");
    EXPECT_EQ(fg::parse_guest_plan("kmatrix.results=../etc/x").results_tty, "/dev/ttyS1") << "only /dev paths";
    p.results_tty = "/dev/hvc0 x";
    EXPECT_THROW(fg::guest_plan_cmdline(p), flowattr::Error);
}

TEST(GuestProtocol, ModeNamesRoundTrip) {
    for (auto m : {fg::GuestMode::suite, fg::GuestMode::load_check, fg::GuestMode::shell, fg::GuestMode::suite_then_shell,
                   fg::GuestMode::check, fg::GuestMode::check_then_shell, fg::GuestMode::exec})
        EXPECT_EQ(fg::parse_guest_mode(fg::guest_mode_name(m)), m) << fg::guest_mode_name(m);
    EXPECT_TRUE(fg::mode_execs(fg::GuestMode::exec));
    EXPECT_FALSE(fg::mode_ends_in_shell(fg::GuestMode::exec));
    EXPECT_TRUE(fg::mode_ends_in_shell(fg::GuestMode::check_then_shell));
    EXPECT_FALSE(fg::mode_runs_suite(fg::GuestMode::exec));
}

TEST(GuestInit, GtestListingBecomesFullNames) {
    std::string listing =
        "Running main() from gtest_main.cc\n"
        "FlowAttr.\n  TcpIsAttributed\n  UdpIsAttributed\n"
        "Sections/SectionCase.  # TypeParam = int\n  LoadsInKernel/0  # GetParam() = \"tc\"\n"
        "  LoadsInKernel/1  # GetParam() = \"lsm\"\n";
    EXPECT_EQ(fg::parse_gtest_list(listing),
              (std::vector<std::string>{"FlowAttr.TcpIsAttributed", "FlowAttr.UdpIsAttributed",
                                        "Sections/SectionCase.LoadsInKernel/0", "Sections/SectionCase.LoadsInKernel/1"}));
    EXPECT_TRUE(fg::parse_gtest_list("").empty());
}

// The markers a batch of kernel tests prints (one process per suite): a begin marker names
// the test, an end marker carries its gtest test case on one line whatever its messages hold,
// and a line of the tests' own output is never taken for one.
TEST(GuestInit, TestMarkersRoundTripAndOrdinaryLinesAreNotMarkers) {
    auto begin = fg::parse_test_marker(fg::test_begin_line("Families/AgentEndToEnd.Tcp/IPv4"));
    ASSERT_TRUE(begin);
    EXPECT_EQ(begin->kind, fg::TestMarker::Kind::begin);
    EXPECT_EQ(begin->test, "Families/AgentEndToEnd.Tcp/IPv4");

    fg::TestOutcome failed;
    failed.test = "A.Fails";
    failed.seconds = 0.019;
    failed.failures = {"a.cpp:3\nValue of: x\n  Actual: false"};
    failed.properties = {{"section", "tc"}};
    const std::string line = fg::test_end_line(failed);
    EXPECT_EQ(line.find('\n'), std::string::npos) << "an end marker is one line";
    auto end = fg::parse_test_marker(line);
    ASSERT_TRUE(end);
    EXPECT_EQ(end->kind, fg::TestMarker::Kind::end);
    EXPECT_EQ(end->test, "A.Fails");
    const nlohmann::json tc = {{"name", "Fails"}, {"classname", "A"}, {"status", "RUN"}, {"result", "COMPLETED"},
                               {"time", "0.019s"},
                               {"failures", {{{"failure", "a.cpp:3\nValue of: x\n  Actual: false"}, {"type", ""}}}},
                               {"section", "tc"}};
    EXPECT_EQ(end->testcase, tc);

    // A parameterized test: the suite is everything before the first dot.
    fg::TestOutcome skipped;
    skipped.test = "Families/AgentEndToEnd.Tcp/IPv4";
    skipped.skipped = true;
    auto end_skipped = fg::parse_test_marker(fg::test_end_line(skipped));
    ASSERT_TRUE(end_skipped);
    EXPECT_EQ(end_skipped->testcase["name"], "Tcp/IPv4");
    EXPECT_EQ(end_skipped->testcase["classname"], "Families/AgentEndToEnd");
    EXPECT_EQ(end_skipped->testcase["result"], "SKIPPED");
    EXPECT_FALSE(end_skipped->testcase.contains("failures"));

    for (const char* ordinary : {"[ RUN      ] A.Fails", "kmatrix-test-begin ", "kmatrix-test-end {not json",
                                 "kmatrix-test-end {\"testcase\":{}}", "  kmatrix-test-begin A.x", ""})
        EXPECT_FALSE(fg::parse_test_marker(ordinary)) << ordinary;
}

// A suite's tests run in one process: runs of one suite in listed order (a suite listed twice
// apart stays two runs), and a filter that selects exactly those tests or refuses a name it
// would read as a pattern.
TEST(GuestInit, ListedTestsGroupIntoRunsOfOneSuiteWithAnExactFilter) {
    const std::vector<std::string> listed = {"A.x", "A.y", "B.z", "Fam/C.p/0", "Fam/C.p/1", "A.w"};
    EXPECT_EQ(fg::group_by_suite(listed), (std::vector<std::vector<std::string>>{
                                              {"A.x", "A.y"}, {"B.z"}, {"Fam/C.p/0", "Fam/C.p/1"}, {"A.w"}}));
    EXPECT_TRUE(fg::group_by_suite({}).empty());
    EXPECT_EQ(fg::test_suite_of("Fam/C.p/0"), "Fam/C");
    EXPECT_EQ(fg::exact_gtest_filter({"A.x", "Fam/C.p/0"}), "A.x:Fam/C.p/0");
    for (const char* bad : {"A.*", "A.x-y", "A.x:B.y", "A.?"})
        EXPECT_THROW(fg::exact_gtest_filter({"A.x", bad}), flowattr::Error) << bad;
}

// The test case an end marker carries, as /init wraps it into the test's record, reads on the
// host as the file --gtest_output=json wrote did: the failure, the properties, a skip.
TEST(GuestProtocol, EndMarkerTestCaseReadsAsTheGtestFileDid) {
    // Each through its end marker, as /init gets it from the test process.
    auto testcase_of = [](const fg::TestOutcome& outcome) {
        auto m = fg::parse_test_marker(fg::test_end_line(outcome));
        return m ? m->testcase : nlohmann::json();
    };
    fg::TestOutcome two;
    two.test = "A.two";
    two.failures = {"a.cpp:9\nboom"};
    two.properties = {{"attach", "tcx"}};
    fg::TestOutcome three;
    three.test = "A.three";
    three.skipped = true;
    const nlohmann::json failed = testcase_of(two), skipped = testcase_of(three);
    auto test = [](const std::string& name, int rc, const nlohmann::json& tc, const std::string& output) {
        return wire(record(RecordType::test, {{"name", name}, {"rc", rc}, {"start", 2.0}, {"end", 2.5}, {"timed_out", false},
                                              {"splat", ""}, {"output", output},
                                              {"gtest", fg::gtest_document(name, tc)}}));
    };
    auto r = fm::parse_results(init_line() + "\n" + list_line(2) + "\n" + begin_line("A.two") + "\n" +
                               test("A.two", 1, failed, "boom\n") + "\n" + begin_line("A.three") + "\n" +
                               test("A.three", 0, skipped, "a.cpp:4: Skipped\nno veth here\n") + "\n" + done_line() + "\n");
    ASSERT_EQ(r.tests.size(), 2u);
    EXPECT_EQ(r.tests[0].result, "FAILED");
    EXPECT_EQ(r.tests[0].failure_message, "a.cpp:9\nboom");
    EXPECT_EQ(r.tests[0].properties.at("attach"), "tcx");
    EXPECT_EQ(r.tests[1].result, "SKIPPED");
    EXPECT_EQ(r.tests[1].skip_reason, "no veth here");
}

// /proc/stat's first line, summed over the CPUs: what a test kept the guest busy with and
// how long the guest sat idle. Kernels without the later fields, and a file without the
// line, read as 0 rather than as garbage.
TEST(GuestInit, ProcStatCpuLineBecomesBusyAndIdleTicks) {
    const auto t = fg::parse_proc_stat_cpu("cpu  100 2 30 400 5 6 7 8 0 0\ncpu0 100 2 30 400 5 6 7 8 0 0\nintr 1\n");
    EXPECT_EQ(t.busy, 100u + 2 + 30 + 6 + 7 + 8);
    EXPECT_EQ(t.idle, 400u + 5);
    const auto old_kernel = fg::parse_proc_stat_cpu("cpu  10 0 5 80\n");
    EXPECT_EQ(old_kernel.busy, 15u);
    EXPECT_EQ(old_kernel.idle, 80u);
    EXPECT_EQ(fg::parse_proc_stat_cpu("intr 1\n").busy, 0u);
    EXPECT_EQ(fg::parse_proc_stat_cpu("").idle, 0u);
}

// A guest from before the CPU fields sent none: its tests read 0, not malformed.
TEST(GuestProtocol, TestWithoutCpuFieldsReadsZero) {
    const std::string line = wire(record(RecordType::test, {{"name", "A.one"}, {"rc", 0}, {"start", 1.0}, {"end", 2.0},
                                                            {"timed_out", false}, {"splat", ""}, {"output", ""}}));
    auto r = fm::parse_results(line + "\n");
    ASSERT_EQ(r.tests.size(), 1u);
    EXPECT_EQ(r.tests[0].busy_s, 0.0);
    EXPECT_EQ(r.tests[0].idle_s, 0.0);
    EXPECT_TRUE(r.malformed.empty());
}

TEST(GuestInit, KernelLogLosesItsPriorities) {
    EXPECT_EQ(fg::strip_log_priorities("<4>[    1.234] WARNING: at x\n<6>[    1.300] ok\nplain\n"),
              "[    1.234] WARNING: at x\n[    1.300] ok\nplain\n");
}

TEST(GuestInit, OneSplatMatcher) {
    EXPECT_EQ(fg::find_splat("[ 1.0] ok\n[ 2.0] WARNING: CPU: 0 PID: 1 at kernel/bpf/x.c:9\n[ 2.1] more\n"),
              "[ 2.0] WARNING: CPU: 0 PID: 1 at kernel/bpf/x.c:9");
    EXPECT_NE(fg::find_splat("BUG: kernel NULL pointer dereference, address: 0\n").find("BUG:"), std::string::npos);
    EXPECT_NE(fg::find_splat("x\nOops: 0002 [#1] SMP\n").find("Oops"), std::string::npos);
    EXPECT_NE(fg::find_splat("general protection fault, probably for non-canonical address\n").find("general"),
              std::string::npos);
    EXPECT_EQ(fg::find_splat("all quiet\nno warnings here\n"), "");
    // On the console only the kernel's lines, stamped by printk, count.
    EXPECT_EQ(fg::find_console_splat("WARNING: from a tool\n[    2.0] WARNING: CPU: 0 PID: 1 at kernel/bpf/x.c:9\r\n"),
              "[    2.0] WARNING: CPU: 0 PID: 1 at kernel/bpf/x.c:9");
    EXPECT_EQ(fg::find_console_splat("WARNING: from a tool\nBUG: in a script\n[ 1.0] all quiet\n"), "");
}

}  // namespace
