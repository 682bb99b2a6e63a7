#pragma once
// What a matrix guest does, and where things are inside it. The host renders a GuestPlan onto
// the kernel command line; the guest's /init (kmatrix_init, run as PID 1: init.h) parses it
// back from /proc/cmdline. The plan lives on the command line rather than in the initramfs so
// that `kmatrix repro` boots byte-identical initramfs bytes to the ones `kmatrix run` booted,
// and so `--cmdline kmatrix.modules=none` can change one switch by hand.
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

namespace flowattr::guest {

// Paths inside the guest.
inline constexpr const char* kGuestAgent = "/bin/flowattr";
inline constexpr const char* kGuestTests = "/bin/flowattr_kernel_tests";
inline constexpr const char* kGuestModulesDir = "/lib/modules/kmatrix";
// `kmatrix check`: object N (from 1, in command-line order) at /check/NN/<its file name>, so
// each keeps its own name and sorting keeps the order.
inline constexpr const char* kGuestCheckDir = "/check";
// `kmatrix exec`: the files brought along, each under its own name, and the command's argv
// (a JSON array of strings: the command line cannot carry arbitrary bytes).
inline constexpr const char* kGuestExecDir = "/exec";
inline constexpr const char* kGuestExecArgv = "/kmatrix/exec.json";
// The directories of the shared libraries brought along (dynamically linked --file tools),
// ':'-separated: /init exports them as LD_LIBRARY_PATH, since the guest has no ld.so.cache to
// find one the host found through its own (/usr/local/lib, a path from /etc/ld.so.conf.d).
inline constexpr const char* kGuestLibraryPath = "/kmatrix/library_path";
// The results channel unless the plan names another (a PC's second UART; aarch64's virt
// machine reports through /dev/hvc0).
inline constexpr const char* kGuestResultsTty = "/dev/ttyS1";
// Modules the results channel needs, loaded before it is opened (aarch64 5.10/6.1: virtio).
inline constexpr const char* kGuestChannelModulesDir = "/lib/modules/kmatrix-channel";
// The kernel's features as /init's `flowattr probe --json` found them; the suite's tests, each a
// process of its own, read them instead of probing again (tests/kernel/kernel_env.h).
inline constexpr const char* kGuestFeaturesCache = "/tmp/kernel-features.json";
// Each program's result of /init's `flowattr load --check`, a JSON line each: the suite's
// load-check test reads them instead of loading every program again (tests/kernel/kernel_env.h).
inline constexpr const char* kGuestLoadCheckResults = "/tmp/load-check.jsonl";
// Printed on the console when /init starts: splats and panics before it belong to boot.
inline constexpr const char* kInitMarker = "kmatrix: /init started";

enum class GuestMode {
    suite,       // load check, then every test
    load_check,  // `flowattr load --check` only (repro without --test)
    shell,       // interactive shell on the console, nothing run
    suite_then_shell,
    check,       // `flowattr check --json` over /check/*: one record per program
    check_then_shell,
    exec,        // `kmatrix exec`: one command, its exit code and output
};

// "suite", "load", "shell", "suite+shell", "check", "check+shell", "exec".
const char* guest_mode_name(GuestMode m);
std::optional<GuestMode> parse_guest_mode(const std::string& name);
bool mode_checks(GuestMode m);       // check, check+shell
bool mode_execs(GuestMode m);        // exec
bool mode_runs_suite(GuestMode m);   // suite, suite+shell
bool mode_ends_in_shell(GuestMode m);

struct GuestPlan {
    GuestMode mode = GuestMode::suite;
    std::string test_filter = "*";  // gtest filter: which tests to list and run
    int per_test_timeout_s = 60;    // each test, load check and exec command; check gets 10x
    bool full_verifier_log = false; // `flowattr load --check --full-log`: every program's log
    std::size_t check_log_limit = 256 * 1024;  // check mode: bytes of each log sent back
    bool check_unprivileged = false;  // check mode: `flowattr check --unprivileged` (the lab)
    bool check_size_maps = false;     // check mode: `flowattr check --size-maps`
    // check mode: `flowattr check --section-type SPEC` for each "SECTION=AS" (no commas or spaces).
    std::vector<std::string> check_section_types;
    bool load_modules = true;         // false: no module loaded (the lab's no-module cell)
    std::string results_tty = kGuestResultsTty;  // kmatrix.results=: where records go
};

// Whether kmatrix.check_section_types= can carry SPEC ("SECTION=AS"): no comma (it separates
// them), no space or quote (the command line's own separators).
bool cmdline_carries_section_type(const std::string& spec);

// "kmatrix.mode=suite kmatrix.filter=* kmatrix.test_timeout=60 ...": appended to the kernel
// command line. Throws flowattr::Error when the filter holds characters the command line
// cannot carry (spaces, quotes) or the timeout is not positive.
std::string guest_plan_cmdline(const GuestPlan& plan);

// The plan in a kernel command line (/proc/cmdline). Later words win; unknown words and
// malformed values are ignored (the command line also carries the kernel's own switches).
GuestPlan parse_guest_plan(const std::string& cmdline);

}  // namespace flowattr::guest
