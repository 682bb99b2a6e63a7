#pragma once
// The host's reading of a matrix guest: the typed records /init (src/guest) sends on the
// results channel, accumulated into what the guest reported.
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "diagnose/check_record.h"
#include "guest/plan.h"
#include "guest/record.h"

namespace flowattr::matrix {

// The plan and the guest's layout live with the guest (src/guest), which parses them back.
using guest::GuestMode;
using guest::GuestPlan;
using guest::guest_plan_cmdline;
using guest::kGuestAgent;
using guest::kGuestCheckDir;
using guest::kGuestExecArgv;
using guest::kGuestExecDir;
using guest::kGuestLibraryPath;
using guest::kGuestChannelModulesDir;
using guest::kGuestModulesDir;
using guest::kGuestResultsTty;
using guest::kGuestTests;
using guest::kInitMarker;

// The reason a gtest binary's output gives for a GTEST_SKIP(), joined into one line; empty
// when there is none.
std::string gtest_skip_reason(const std::string& gtest_output);

// busybox applets the initramfs links into /bin: what the interactive shell (and a test
// calling `ip` or `tc`) finds there. /init itself needs none of them.
const std::vector<std::string>& shell_applets();

// One record of the results channel, as parsed.
struct GuestTest {
    std::string name;
    int rc = -1;
    double start = 0, end = 0;  // guest uptime, seconds
    // The guest's CPU during the test, seconds: busy (the test and the kernel's work for it)
    // and idle (waiting on grace periods, sleeps, timers). 0 from a guest that did not say.
    double busy_s = 0, idle_s = 0;
    bool timed_out = false;     // the guest killed it at the per-test limit
    std::string splat;          // first splat line from dmesg after the test, empty if none
    std::string output;         // test stdout+stderr, sent when it failed or skipped
    // From the test's --gtest_output=json: "PASSED"/"FAILED"/"SKIPPED" result and RecordProperty values.
    std::string result;
    std::string failure_message;
    std::string skip_reason;  // what the test streamed into GTEST_SKIP()
    std::map<std::string, std::string> properties;

    // Why it failed: its assertion messages, else how it ended.
    std::string failure_text() const;
};

// A step /init ran as a child with a time limit, as its closing record says.
struct GuestStep {
    bool ran = false;  // the closing record arrived
    int rc = -1;       // exit code, 128 + signal when killed
    double start = 0, end = 0;  // guest uptime, seconds
    bool timed_out = false;     // the guest killed it at its limit
    std::string output;  // what it printed (flowattr check: only its stderr)
    std::string splat;   // first splat line from dmesg after it, empty if none
};

// `flowattr load --check`: verifier stats / log in its output.
using GuestLoadCheck = GuestStep;

// `flowattr check` in the guest: one record per program as it finishes, then how it ended.
struct GuestCheck : GuestStep {
    std::vector<diagnose::ProgramCheck> programs;
};

// `kmatrix exec`: the command's end.
struct GuestExec : GuestStep {
    std::vector<std::string> argv;
    int signal = 0;  // the signal that ended it
};

// Everything the guest reported, accumulated line by line.
struct SuiteResults {
    bool init_seen = false;
    double init_started_uptime = 0;  // guest uptime when /init began: the kernel's boot
    double init_uptime = 0;          // ... when it reported, its results channel open
    double setup_uptime = 0;         // ... after mounts, modules and lo
    std::optional<GuestMode> mode;  // from the init record
    std::string kernel_release;  // uname -r inside the guest
    std::string lsm;             // /sys/kernel/security/lsm
    std::map<std::string, int> modules;        // module file -> insmod rc
    std::vector<std::string> mount_failures;   // fs types that did not mount
    std::map<std::string, bool> probe_features;  // `flowattr probe --json`: feature -> available
    GuestLoadCheck load_check;
    GuestCheck check;
    GuestExec exec;
    bool list_ok = true;
    std::string list_output;  // when listing failed
    int tests_listed = -1;
    bool tests_started = false;
    double tests_start_uptime = 0;
    std::optional<std::string> running_test;  // begun, no result yet
    std::vector<GuestTest> tests;
    bool done = false;
    double done_uptime = 0;
    std::vector<std::string> malformed;  // lines that were not valid records (kept for the log)

    // Where the guest's time went, on its own clock, phase by phase as far as it got: kernel
    // (boot to /init, decompression included), channel (/init to its first record: busybox
    // links, results channel and its modules), setup (mounts, modules, lo), probe_load_check
    // (`flowattr probe` and `load --check`), tests (the suite). Suite mode only.
    std::vector<std::pair<std::string, double>> phases() const;

    // Feed one line of the channel (without the newline; a trailing '\r' is ignored).
    // Returns the record's type, or nullopt when the line was not a valid record.
    std::optional<guest::RecordType> add_line(const std::string& line);
    // Attach modes for this kernel, sorted, unique: derived from `flowattr probe`
    // ("tc:tcx"/"tc:clsact", "identity:lsm"/"identity:sock_create") plus any test's
    // RecordProperty("attach_mode...", value).
    std::vector<std::string> attach_modes() const;
};

// Parses a whole channel capture (used on the file after the VM exits).
SuiteResults parse_results(const std::string& channel);

}  // namespace flowattr::matrix
