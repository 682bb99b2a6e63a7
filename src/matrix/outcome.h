#pragma once
// The one outcome of a matrix cell (one kernel), decided from the results channel, the
// console log and how QEMU ended. Each outcome has its own exit code so a script (or CI)
// can tell a kernel bug from a test failure from a broken runner without parsing text.
#include <string>
#include <vector>

#include "matrix/qemu_runner.h"
#include "matrix/vm_suite.h"

namespace flowattr::matrix {

enum class Outcome {
    pass,         // every test passed or skipped, the programs loaded, no kernel splat
    test_fail,    // a test failed (or the suite could not be listed)
    load_fail,    // `flowattr load --check` failed: a program did not load/verify
    boot_fail,    // the kernel never reached /init
    panic,        // the kernel panicked after /init started
    splat,        // WARNING/BUG/Oops/general protection in the kernel log
    timeout,      // a test hit its limit, or the guest went silent
    unsupported,  // the entry cannot run on this host (e.g. another architecture)
    unavailable,  // the kernel image could not be obtained here; does not fail a run
    infra_error,  // the runner itself failed: QEMU missing, bad artifacts, interrupted
};

const char* outcome_name(Outcome o);       // "pass", "test-fail", ...
int outcome_exit_code(Outcome o);          // pass 0, test-fail 10 ... infra-error 18
bool outcome_fails_run(Outcome o);         // false for pass, unavailable, unsupported
// 0 the most severe (panic, splat, boot-fail, timeout, load-fail, test-fail, infra-error,
// then the outcomes that fail nothing): the one a run's exit code reports.
int outcome_severity(Outcome o);
const char* outcome_colour(Outcome o);     // "#rrggbb" in the HTML reports
// Parses outcome_name's output; throws flowattr::Error for anything else.
Outcome outcome_from_name(const std::string& name);
const std::vector<Outcome>& all_outcomes();

struct Classification {
    Outcome outcome = Outcome::infra_error;
    std::string reason;  // one line, for tables and the JUnit failure message
    std::string test;    // the test it is attributed to, when there is one
};

struct ClassifyInput {
    VmEnd end = VmEnd::exited;
    int qemu_exit_code = 0;
    double limit_s = 0;
    std::string console;
    std::string qemu_log;
    SuiteResults suite;
};

Classification classify(const ClassifyInput& in);

// The last line of TEXT with something on it, trailing blanks and CRs removed ("" when none):
// what a reason quotes from a command's output.
std::string last_nonempty_line(const std::string& text);

// First kernel-panic line in a console log ("" when none); splats: guest::find_splat.
std::string find_panic(const std::string& console);

}  // namespace flowattr::matrix
