#pragma once
// The guest side of a matrix cell and its wire protocol: the /init script that runs the
// in-VM suite, the kernel command-line switches that pick what it does, and the parser
// for the JSON lines it writes to the results channel (/dev/ttyS1, never the console, so
// kernel messages can't interleave with results).
//
// The mode lives on the kernel command line rather than in /init so that `kmatrix repro`
// boots byte-identical initramfs bytes to the ones `kmatrix run` booted.
#include <map>
#include <optional>

#include "diagnose/check_record.h"
#include <string>
#include <vector>

namespace flowattr::matrix {

// Paths inside the guest.
inline constexpr const char* kGuestAgent = "/bin/flowattr";
inline constexpr const char* kGuestTests = "/bin/flowattr_kernel_tests";
inline constexpr const char* kGuestModulesDir = "/lib/modules/kmatrix";
// `kmatrix check`: object N (from 1, in command-line order) at /check/NN/<its file name>, so
// each keeps its own name and the glob keeps the order.
inline constexpr const char* kGuestCheckDir = "/check";
inline constexpr const char* kGuestResultsTty = "/dev/ttyS1";
// Printed on the console when /init starts: splats and panics before it belong to boot.
inline constexpr const char* kInitMarker = "kmatrix: /init started";

enum class GuestMode {
    suite,       // load check, then every test
    load_check,  // `flowattr load --check` only (repro without --test)
    shell,       // interactive shell on the console, nothing run
    suite_then_shell,
    check,       // `flowattr check --json` over /check/*: one record per program
    check_then_shell,
};

struct GuestPlan {
    GuestMode mode = GuestMode::suite;
    std::string test_filter = "*";  // gtest filter: which tests to list and run
    int per_test_timeout_s = 60;    // enforced in the guest with busybox `timeout`
    bool full_verifier_log = false; // `flowattr load --check --full-log`: every program's log
    std::size_t check_log_limit = 256 * 1024;  // check mode: bytes of each log sent back
};

// The reason a gtest binary's output gives for a GTEST_SKIP(), joined into one line; empty
// when there is none.
std::string gtest_skip_reason(const std::string& gtest_output);

// "kmatrix.mode=suite kmatrix.filter=* kmatrix.test_timeout=60": appended to the kernel
// command line. Throws flowattr::Error when the filter holds characters the command line
// cannot carry (spaces, quotes).
std::string guest_plan_cmdline(const GuestPlan& plan);

// The /init script (busybox sh). Fixed text: everything variable arrives on the command line.
std::string render_init_script();

// Applets /init calls; the initramfs gets a /bin symlink for each.
const std::vector<std::string>& init_applets();

// One record of the results channel, as parsed.
struct GuestTest {
    std::string name;
    int rc = -1;
    double start = 0, end = 0;  // guest uptime, seconds
    bool timed_out = false;     // rc from `timeout` and duration reached the limit
    std::string splat;          // first splat line from dmesg after the test, empty if none
    std::string output;         // test stdout+stderr, sent when it failed or skipped
    std::string gtest_json;     // --gtest_output=json for this test, may be empty
    // From gtest_json: "PASSED"/"FAILED"/"SKIPPED" result and RecordProperty values.
    std::string result;
    std::string failure_message;
    std::string skip_reason;  // what the test streamed into GTEST_SKIP()
    std::map<std::string, std::string> properties;
};

struct GuestLoadCheck {
    bool ran = false;
    int rc = -1;
    double start = 0, end = 0;
    bool timed_out = false;
    std::string output;  // verifier stats / log printed by `flowattr load --check`
    std::string splat;
};

// `flowattr check` in the guest: one record per program as it finishes, then how it ended.
struct GuestCheck {
    bool ran = false;  // the closing record arrived
    int rc = -1;
    double start = 0, end = 0;
    bool timed_out = false;
    std::string output;  // what flowattr check wrote to stderr
    std::string splat;
    std::vector<diagnose::ProgramCheck> programs;
};

// Everything the guest reported, accumulated line by line.
struct SuiteResults {
    bool init_seen = false;
    double init_uptime = 0;
    std::string mode;
    std::string kernel_release;  // uname -r inside the guest
    std::string lsm;             // /sys/kernel/security/lsm
    std::map<std::string, int> modules;        // module file -> insmod rc
    std::vector<std::string> mount_failures;   // fs types that did not mount
    std::map<std::string, bool> probe_features;  // `flowattr probe --json`: feature -> available
    GuestLoadCheck load_check;
    GuestCheck check;
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

    // Feed one line of the channel (without the newline; a trailing '\r' is ignored).
    // Returns the record type ("init", "test", ...) or "" when the line was malformed.
    std::string add_line(const std::string& line);
    // Attach modes for this kernel, sorted, unique: derived from `flowattr probe`
    // ("tc:tcx"/"tc:clsact", "identity:lsm"/"identity:sock_create") plus any test's
    // RecordProperty("attach_mode...", value).
    std::vector<std::string> attach_modes() const;
};

// Parses a whole channel capture (used on the file after the VM exits).
SuiteResults parse_results(const std::string& channel);

std::string base64_decode(const std::string& in);

}  // namespace flowattr::matrix
