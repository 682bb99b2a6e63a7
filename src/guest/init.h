#pragma once
// The matrix guest's /init: kmatrix_init (src/cli/kmatrix_init_main.cpp), run by the kernel as
// PID 1 from the initramfs. It mounts what the agent and the tests
// need (one table), loads the kernel's modules, then does what the plan on /proc/cmdline says
// (plan.h): the in-VM suite, `flowattr load --check`, `flowattr check` over /check, or one
// `kmatrix exec` command, and sends each result as a typed record (record.h) on the results
// port. Every program it runs is a child with a time limit, so a hung or crashing test is a
// result, not a dead guest; it never returns (PID 1 exiting panics the kernel): it powers off.
#include <string>
#include <vector>

namespace flowattr::guest {

[[noreturn]] void run_guest_init();

// `--gtest_list_tests` output -> "Suite.Name" per test, in order (parameterised and typed
// suites keep their "/N" and lose the "# GetParam() = ..." comment).
std::vector<std::string> parse_gtest_list(const std::string& listing);

// The guest's CPU time so far, all CPUs together, from /proc/stat's "cpu" line (clock
// ticks, CLK_TCK a second): busy = user + nice + system + irq + softirq + steal, idle = idle
// + iowait. Both 0 when the line is not there.
struct CpuTicks {
    unsigned long long busy = 0, idle = 0;
};
CpuTicks parse_proc_stat_cpu(const std::string& proc_stat);

// A kernel log read through syslog(2) ("<4>[    1.234] text" per line) without the
// priority prefixes: what `dmesg` prints.
std::string strip_log_priorities(const std::string& raw);

}  // namespace flowattr::guest
