#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <vector>

#include "common/error.h"
#include "matrix/matrix_run.h"
#include "matrix/outcome.h"
#include "matrix_fixtures.h"

namespace fm = flowattr::matrix;
using namespace flowattr::matrix::fixtures;

namespace {

const std::string kBootLog =
    "[    0.000000] Linux version 6.1.0-50-cloud-amd64\n"
    "[    1.500000] Run /init as init process\n";

std::string console_after_init(const std::string& tail) { return kBootLog + fm::kInitMarker + "\n" + tail; }

fm::ClassifyInput vm(std::vector<std::string> lines, std::string console = console_after_init(""),
                     fm::VmEnd end = fm::VmEnd::exited, int qemu_exit = 0) {
    fm::ClassifyInput in;
    std::string channel;
    for (const auto& l : lines) channel += l + "\n";
    in.suite = fm::parse_results(channel);
    in.console = std::move(console);
    in.end = end;
    in.qemu_exit_code = qemu_exit;
    in.limit_s = 60;
    return in;
}

std::vector<std::string> healthy_start() { return {init_line(), setup_line(), load_line(0), list_line(2)}; }

TEST(Outcome, NamesAndExitCodesAreDistinct) {
    std::set<int> codes;
    std::set<std::string> names;
    for (auto o : fm::all_outcomes()) {
        codes.insert(fm::outcome_exit_code(o));
        names.insert(fm::outcome_name(o));
        EXPECT_EQ(fm::outcome_from_name(fm::outcome_name(o)), o);
    }
    EXPECT_EQ(codes.size(), 10u);
    EXPECT_EQ(names.size(), 10u);
    EXPECT_EQ(fm::outcome_exit_code(fm::Outcome::pass), 0);
    EXPECT_THROW(fm::outcome_from_name("fine"), flowattr::Error);
    EXPECT_FALSE(fm::outcome_fails_run(fm::Outcome::pass));
    EXPECT_FALSE(fm::outcome_fails_run(fm::Outcome::unavailable));
    EXPECT_FALSE(fm::outcome_fails_run(fm::Outcome::unsupported));
    EXPECT_TRUE(fm::outcome_fails_run(fm::Outcome::infra_error));
}

// The order run_exit_code (report.h) promises for a run with several failing kernels: the
// kernel's own failures first; every colour distinct, so the HTML grid tells outcomes apart.
TEST(Outcome, FailingOutcomesBySeverityAndEachItsOwnColour) {
    std::vector<fm::Outcome> failing;
    std::set<std::string> colours;
    for (auto o : fm::all_outcomes()) {
        colours.insert(fm::outcome_colour(o));
        if (fm::outcome_fails_run(o)) {
            failing.push_back(o);
            continue;
        }
        for (auto f : fm::all_outcomes()) {
            if (!fm::outcome_fails_run(f)) continue;
            EXPECT_LT(fm::outcome_severity(f), fm::outcome_severity(o)) << fm::outcome_name(f);
        }
    }
    std::sort(failing.begin(), failing.end(),
              [](auto a, auto b) { return fm::outcome_severity(a) < fm::outcome_severity(b); });
    std::string order;
    for (auto o : failing) order += std::string(order.empty() ? "" : " ") + fm::outcome_name(o);
    EXPECT_EQ(order, "panic splat boot-fail timeout load-fail test-fail infra-error");
    EXPECT_EQ(colours.size(), fm::all_outcomes().size());
}

TEST(Outcome, Pass) {
    auto lines = healthy_start();
    lines.insert(lines.end(), {begin_line("A.one"), passing_test("A", "one"), begin_line("A.two"),
                               test_line("A.two", 0, gtest_json("A", "two", "SKIPPED")), done_line()});
    auto c = fm::classify(vm(lines));
    EXPECT_EQ(c.outcome, fm::Outcome::pass) << c.reason;
    EXPECT_EQ(c.reason, "1 passed, 1 skipped");
}

TEST(Outcome, LoadCheckOnlyModePassesWithoutTests) {
    auto c = fm::classify(vm({init_line("load"), setup_line(), load_line(0), done_line()}));
    EXPECT_EQ(c.outcome, fm::Outcome::pass) << c.reason;
}

TEST(Outcome, TestFail) {
    auto lines = healthy_start();
    lines.insert(lines.end(), {passing_test("A", "one"),
                               test_line("A.two", 1, gtest_json("A", "two", "COMPLETED", "Value of: ok\\nActual: false")),
                               done_line()});
    auto c = fm::classify(vm(lines));
    EXPECT_EQ(c.outcome, fm::Outcome::test_fail);
    EXPECT_EQ(c.test, "A.two");
    EXPECT_NE(c.reason.find("1 of 2 tests failed"), std::string::npos) << c.reason;
    EXPECT_NE(c.reason.find("Value of: ok"), std::string::npos) << c.reason;
}

TEST(Outcome, NoMatchingTestIsATestFailure) {
    auto c = fm::classify(vm({init_line(), setup_line(), load_line(0), list_line(0), done_line()}));
    EXPECT_EQ(c.outcome, fm::Outcome::test_fail);
}

TEST(Outcome, LoadFail) {
    auto lines = std::vector<std::string>{init_line(), setup_line(),
                                          load_line(1, "FAIL identity lsm/socket_post_create: Permission denied\n"),
                                          list_line(1), passing_test("A", "one"), done_line()};
    auto c = fm::classify(vm(lines));
    EXPECT_EQ(c.outcome, fm::Outcome::load_fail);
    EXPECT_NE(c.reason.find("socket_post_create"), std::string::npos) << c.reason;
}

TEST(Outcome, BootFailWhenTheKernelPanicsBeforeInit) {
    auto c = fm::classify(vm({}, "[ 1.0] VFS: Cannot open root device\n[ 1.1] Kernel panic - not syncing: VFS: Unable to mount root fs\n"));
    EXPECT_EQ(c.outcome, fm::Outcome::boot_fail);
    EXPECT_NE(c.reason.find("before /init"), std::string::npos);
}

TEST(Outcome, BootFailOnBootTimeoutAndOnSilentPoweroff) {
    auto c = fm::classify(vm({}, "SeaBIOS\nBooting from ROM..\n", fm::VmEnd::boot_timeout));
    EXPECT_EQ(c.outcome, fm::Outcome::boot_fail);
    EXPECT_NE(c.reason.find("Booting from ROM"), std::string::npos) << c.reason;
    EXPECT_EQ(fm::classify(vm({}, "", fm::VmEnd::exited, 0)).outcome, fm::Outcome::boot_fail);
}

TEST(Outcome, PanicDuringATest) {
    auto lines = healthy_start();
    lines.push_back(begin_line("A.crash"));
    auto c = fm::classify(vm(lines, console_after_init("[ 3.0] sysrq: Trigger a crash\n[ 3.0] Kernel panic - not syncing: sysrq triggered crash\n")));
    EXPECT_EQ(c.outcome, fm::Outcome::panic);
    EXPECT_EQ(c.test, "A.crash");
    EXPECT_NE(c.reason.find("sysrq triggered crash"), std::string::npos);
}

TEST(Outcome, PanicWinsOverTheTimeoutThatFollowedIt) {
    auto lines = healthy_start();
    lines.push_back(begin_line("A.crash"));
    auto in = vm(lines, console_after_init("Kernel panic - not syncing: Fatal exception\n"), fm::VmEnd::idle_timeout);
    EXPECT_EQ(fm::classify(in).outcome, fm::Outcome::panic);
}

TEST(Outcome, SplatFromATestsDmesg) {
    auto lines = healthy_start();
    lines.insert(lines.end(), {test_line("A.warn", 0, gtest_json("A", "warn", "COMPLETED"),
                                         "WARNING: CPU: 0 PID: 77 at kernel/bpf/verifier.c:1234 do_check+0x1/0x2"),
                               passing_test("A", "two"), done_line()});
    auto c = fm::classify(vm(lines));
    EXPECT_EQ(c.outcome, fm::Outcome::splat);
    EXPECT_EQ(c.test, "A.warn");
    EXPECT_NE(c.reason.find("verifier.c"), std::string::npos);
}

TEST(Outcome, SplatOnTheConsoleAfterInitButNotDuringBoot) {
    auto lines = healthy_start();
    lines.insert(lines.end(), {passing_test("A", "one"), passing_test("A", "two"), done_line()});
    auto boot_warning = vm(lines, "[ 0.5] WARNING: CPU: 0 PID: 1 at arch/x86/kernel/cpu/bugs.c\n" + console_after_init(""));
    EXPECT_EQ(fm::classify(boot_warning).outcome, fm::Outcome::pass);
    auto oops = vm(lines, console_after_init("[ 2.2] BUG: kernel NULL pointer dereference, address: 0000000000000008\n"));
    EXPECT_EQ(fm::classify(oops).outcome, fm::Outcome::splat);
    auto gp = vm(lines, console_after_init("[ 2.2] general protection fault, probably for non-canonical address\n"));
    EXPECT_EQ(fm::classify(gp).outcome, fm::Outcome::splat);
    // A tool's own output on the console is not the kernel's (Debian's xdpdump, run with
    // kmatrix exec on an interface without XDP, says this on stderr).
    auto tool = vm(lines, console_after_init("WARNING: Specified interface does not have an XDP program loaded,\n"
                                             "Oops, nothing to capture\n"));
    EXPECT_EQ(fm::classify(tool).outcome, fm::Outcome::pass) << fm::classify(tool).reason;
}

TEST(Outcome, SplatDuringLoadCheck) {
    auto c = fm::classify(vm({init_line(), setup_line(), load_line(0, "ok\n", "Oops: 0000 [#1] PREEMPT SMP"),
                              list_line(0), done_line()}));
    EXPECT_EQ(c.outcome, fm::Outcome::splat);
    EXPECT_EQ(c.test, "flowattr load --check");
}

TEST(Outcome, TimeoutInTheGuest) {
    auto lines = healthy_start();
    lines.insert(lines.end(), {passing_test("A", "one"),
                               test_line("A.hang", 137, "", "", 2.0, 62.0, "", true),
                               done_line()});
    auto c = fm::classify(vm(lines));
    EXPECT_EQ(c.outcome, fm::Outcome::timeout);
    EXPECT_EQ(c.test, "A.hang");
}

TEST(Outcome, TimeoutWhenTheGuestGoesSilent) {
    auto lines = healthy_start();
    lines.push_back(begin_line("A.deadlock"));
    auto c = fm::classify(vm(lines, console_after_init(""), fm::VmEnd::idle_timeout));
    EXPECT_EQ(c.outcome, fm::Outcome::timeout);
    EXPECT_EQ(c.test, "A.deadlock");
    auto whole = fm::classify(vm({init_line(), setup_line()}, console_after_init(""), fm::VmEnd::vm_timeout));
    EXPECT_EQ(whole.outcome, fm::Outcome::timeout);
    EXPECT_EQ(whole.test, "flowattr load --check");
}

TEST(Outcome, InfraErrorWhenQemuFails) {
    auto in = vm({}, "", fm::VmEnd::exited, 1);
    in.qemu_log = "qemu-system-x86_64: -kernel /nope: could not open kernel file\n";
    auto c = fm::classify(in);
    EXPECT_EQ(c.outcome, fm::Outcome::infra_error);
    EXPECT_NE(c.reason.find("could not open kernel file"), std::string::npos) << c.reason;
}

TEST(Outcome, InfraErrorWhenInterruptedOrCutShort) {
    EXPECT_EQ(fm::classify(vm(healthy_start(), console_after_init(""), fm::VmEnd::cancelled)).outcome,
              fm::Outcome::infra_error);
    // Powered off mid-suite without a panic: the runner cannot vouch for anything.
    auto lines = healthy_start();
    lines.push_back(passing_test("A", "one"));
    EXPECT_EQ(fm::classify(vm(lines)).outcome, fm::Outcome::infra_error);
}

TEST(Outcome, UnavailableAndUnsupportedNeverBoot) {
    auto a = fm::unrun_cell("6.6", "6.6", fm::Outcome::unavailable, "no source");
    EXPECT_EQ(a.cls.outcome, fm::Outcome::unavailable);
    EXPECT_FALSE(a.ran_vm);
    auto u = fm::unrun_cell("arm", "6.1", fm::Outcome::unsupported, "arch aarch64");
    EXPECT_EQ(fm::outcome_exit_code(u.cls.outcome), 16);
}

TEST(Outcome, ShellSessionsPass) {
    EXPECT_EQ(fm::classify(vm({init_line("shell"), setup_line()})).outcome, fm::Outcome::pass);
}

}  // namespace

namespace {

// Two VMs a core and one more (each VM idles about half its time, waiting in its guest), cut
// by half the free memory.
TEST(MatrixJobs, TwoPerCoreAndOneMoreWithinHalfTheFreeMemory) {
    const long long gib = 1024 * 1024;
    EXPECT_EQ(fm::jobs_for(2, 24 * gib, 512), 5);
    EXPECT_EQ(fm::jobs_for(4, 24 * gib, 512), 9);
    EXPECT_EQ(fm::jobs_for(16, 24 * gib, 512), 17) << "12 GiB for VMs of 712 MiB";
    EXPECT_EQ(fm::jobs_for(16, 4 * gib, 512), 2) << "2 GiB for VMs of 712 MiB";
    EXPECT_EQ(fm::jobs_for(2, 512 * 1024, 512), 1) << "never below one";
    EXPECT_EQ(fm::jobs_for(0, 0, 512), 1) << "unknown cores and memory";
}

}  // namespace
