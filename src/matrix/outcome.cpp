#include "matrix/outcome.h"

#include "common/error.h"

namespace flowattr::matrix {

namespace {

struct OutcomeInfo {
    Outcome outcome;
    const char* name;
    int exit_code;
    int severity;    // 0 the most severe: a kernel's own failure before ours before the runner's
    bool fails_run;  // false for what says nothing against the kernel or our code
    const char* colour;
};

// Codes start at 10 so they never collide with 1 (generic error) or 2 (usage) of the CLI.
constexpr OutcomeInfo kOutcomes[] = {
    {Outcome::pass, "pass", 0, 9, false, "#2e9d4e"},
    {Outcome::test_fail, "test-fail", 10, 5, true, "#d9534f"},
    {Outcome::load_fail, "load-fail", 11, 4, true, "#c0392b"},
    {Outcome::boot_fail, "boot-fail", 12, 2, true, "#8e1b1b"},
    {Outcome::panic, "panic", 13, 0, true, "#7b2d8b"},
    {Outcome::splat, "splat", 14, 1, true, "#c2185b"},
    {Outcome::timeout, "timeout", 15, 3, true, "#e6a100"},
    {Outcome::unsupported, "unsupported", 16, 7, false, "#9e9e9e"},
    {Outcome::unavailable, "unavailable", 17, 8, false, "#bdbdbd"},
    {Outcome::infra_error, "infra-error", 18, 6, true, "#37474f"},
};

const OutcomeInfo& info(Outcome o) {
    for (const auto& i : kOutcomes)
        if (i.outcome == o) return i;
    return kOutcomes[std::size(kOutcomes) - 1];
}

std::string line_at(const std::string& text, std::size_t pos) {
    auto begin = text.rfind('\n', pos);
    begin = begin == std::string::npos ? 0 : begin + 1;
    auto end = text.find('\n', pos);
    std::string line = text.substr(begin, end == std::string::npos ? std::string::npos : end - begin);
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    return line;
}

// Console text after /init announced itself; everything before belongs to boot.
std::size_t init_offset(const std::string& console) {
    auto pos = console.find(kInitMarker);
    return pos == std::string::npos ? std::string::npos : pos;
}


bool checks(const SuiteResults& s) { return s.mode && guest::mode_checks(*s.mode); }
bool execs(const SuiteResults& s) { return s.mode && guest::mode_execs(*s.mode); }

std::string fmt_seconds(double s) { return std::to_string(int(s + 0.5)) + " s"; }

// Where the guest was when it stopped talking: the test in flight, else the phase.
std::string in_flight(const SuiteResults& s) {
    if (s.running_test) return *s.running_test;
    if (checks(s)) return s.init_seen && !s.check.ran ? "flowattr check" : "";
    if (execs(s)) return s.init_seen && !s.exec.ran ? "the command" : "";
    if (s.init_seen && s.mode != GuestMode::shell && !s.load_check.ran) return "flowattr load --check";
    return {};
}

}  // namespace

const char* outcome_name(Outcome o) { return info(o).name; }
int outcome_exit_code(Outcome o) { return info(o).exit_code; }
bool outcome_fails_run(Outcome o) { return info(o).fails_run; }
int outcome_severity(Outcome o) { return info(o).severity; }
const char* outcome_colour(Outcome o) { return info(o).colour; }

Outcome outcome_from_name(const std::string& name) {
    for (const auto& i : kOutcomes)
        if (name == i.name) return i.outcome;
    throw Error("unknown outcome '" + name + "'");
}

const std::vector<Outcome>& all_outcomes() {
    static const std::vector<Outcome> v = [] {
        std::vector<Outcome> out;
        for (const auto& i : kOutcomes) out.push_back(i.outcome);
        return out;
    }();
    return v;
}

std::string find_panic(const std::string& console) {
    auto pos = console.find("Kernel panic - not syncing");
    return pos == std::string::npos ? std::string() : line_at(console, pos);
}

Classification classify(const ClassifyInput& in) {
    const SuiteResults& s = in.suite;
    std::size_t init_at = init_offset(in.console);

    // A panic ends the VM at once (panic=-1 + -no-reboot), so it is checked before how
    // QEMU ended: a panic during a test is a panic, not a timeout or a missing result.
    auto panic_pos = in.console.find("Kernel panic - not syncing");
    if (panic_pos != std::string::npos) {
        std::string line = line_at(in.console, panic_pos);
        if (!s.init_seen && (init_at == std::string::npos || panic_pos < init_at))
            return {Outcome::boot_fail, "kernel panicked before /init: " + line, {}};
        return {Outcome::panic, line, in_flight(s)};
    }
    switch (in.end) {
        case VmEnd::cancelled:
            return {Outcome::infra_error, "interrupted before the VM finished", in_flight(s)};
        case VmEnd::boot_timeout: {
            std::string last = last_nonempty_line(in.console);
            return {Outcome::boot_fail,
                    "no word from /init after " + fmt_seconds(in.limit_s) +
                        (last.empty() ? " (console silent)" : " (console: " + last + ")"),
                    {}};
        }
        case VmEnd::idle_timeout:
        case VmEnd::vm_timeout: {
            std::string what = in_flight(s);
            return {Outcome::timeout,
                    std::string(in.end == VmEnd::idle_timeout ? "guest silent for " : "VM exceeded ") +
                        fmt_seconds(in.limit_s) + (what.empty() ? "" : " during " + what),
                    what};
        }
        case VmEnd::exited: break;
    }
    if (!s.init_seen) {
        if (in.qemu_exit_code != 0) {
            std::string msg = last_nonempty_line(in.qemu_log);
            return {Outcome::infra_error,
                    "QEMU exited with " + std::to_string(in.qemu_exit_code) + (msg.empty() ? "" : ": " + msg), {}};
        }
        std::string last = last_nonempty_line(in.console);
        return {Outcome::boot_fail, "VM stopped before /init" + (last.empty() ? "" : " (console: " + last + ")"), {}};
    }
    if (s.check.timed_out) return {Outcome::timeout, "flowattr check hit its limit in the guest", "flowattr check"};
    if (!s.check.splat.empty()) return {Outcome::splat, s.check.splat, "flowattr check"};
    if (s.exec.timed_out) return {Outcome::timeout, "the command hit the per-test limit in the guest", "the command"};
    if (!s.exec.splat.empty()) return {Outcome::splat, s.exec.splat, "the command"};
    if (s.load_check.timed_out) return {Outcome::timeout, "flowattr load --check hit the per-test limit", "flowattr load --check"};
    for (const auto& t : s.tests)
        if (t.timed_out) return {Outcome::timeout, t.name + " hit the per-test limit in the guest", t.name};

    if (!s.load_check.splat.empty()) return {Outcome::splat, s.load_check.splat, "flowattr load --check"};
    for (const auto& t : s.tests)
        if (!t.splat.empty()) return {Outcome::splat, t.splat, t.name};
    if (init_at != std::string::npos) {
        std::string line = guest::find_console_splat(in.console.substr(init_at));
        if (!line.empty()) return {Outcome::splat, line, in_flight(s)};
    }

    if (s.load_check.ran && s.load_check.rc != 0) {
        std::string last = last_nonempty_line(s.load_check.output);
        return {Outcome::load_fail,
                "flowattr load --check exited " + std::to_string(s.load_check.rc) + (last.empty() ? "" : ": " + last),
                "flowattr load --check"};
    }
    if (s.mode == GuestMode::shell) return {Outcome::pass, "interactive shell session", {}};
    if (!s.done) {
        std::string where = in_flight(s);
        return {Outcome::infra_error,
                "VM exited (QEMU status " + std::to_string(in.qemu_exit_code) + ") before the suite finished" +
                    (where.empty() ? "" : ", during " + where),
                where};
    }
    // A check cell passes when the VM did its job: every program reported, exit 0 or 1.
    // Which programs failed, and why, is the check grid's business, not the kernel's outcome.
    if (checks(s)) {
        if (!s.check.ran || (s.check.rc != 0 && s.check.rc != 1)) {
            std::string last = last_nonempty_line(s.check.output);
            return {Outcome::infra_error,
                    "flowattr check " + (s.check.ran ? "exited " + std::to_string(s.check.rc) : std::string("never finished")) +
                        (last.empty() ? "" : ": " + last),
                    "flowattr check"};
        }
        int failed = 0;
        for (const auto& p : s.check.programs) failed += p.status == diagnose::CheckStatus::fail;
        return {Outcome::pass,
                std::to_string(s.check.programs.size()) + " programs checked, " + std::to_string(failed) + " failed", {}};
    }
    // An exec cell is its command: exit 0 passes, anything else fails the test.
    if (execs(s)) {
        if (!s.exec.ran) return {Outcome::infra_error, "the command never reported", "the command"};
        if (s.exec.rc == 0) return {Outcome::pass, "exit 0", {}};
        std::string last = last_nonempty_line(s.exec.output);
        return {Outcome::test_fail,
                (s.exec.signal ? "killed by signal " + std::to_string(s.exec.signal) : "exit " + std::to_string(s.exec.rc)) +
                    (last.empty() ? "" : ": " + last),
                "the command"};
    }
    if (!s.list_ok) {
        std::string last = last_nonempty_line(s.list_output);
        return {Outcome::test_fail, "cannot list the kernel tests" + (last.empty() ? "" : ": " + last), {}};
    }
    int failed = 0, skipped = 0;
    const GuestTest* first = nullptr;
    for (const auto& t : s.tests) {
        if (t.result == "FAILED") {
            failed++;
            if (!first) first = &t;
        } else if (t.result == "SKIPPED") {
            skipped++;
        }
    }
    int total = int(s.tests.size());
    if (first) {
        const std::string text = first->failure_text();
        const std::string why = text.substr(0, text.find('\n'));
        return {Outcome::test_fail,
                std::to_string(failed) + " of " + std::to_string(total) + " tests failed; " + first->name + ": " + why,
                first->name};
    }
    bool load_only = s.mode == GuestMode::load_check;
    if (!load_only && s.tests_listed == 0) return {Outcome::test_fail, "no kernel test matched the filter", {}};
    if (!load_only && total < s.tests_listed)
        return {Outcome::test_fail,
                "only " + std::to_string(total) + " of " + std::to_string(s.tests_listed) + " listed tests reported", {}};
    std::string summary = load_only ? "programs loaded"
                                           : std::to_string(total - skipped) + " passed, " + std::to_string(skipped) + " skipped";
    return {Outcome::pass, summary, {}};
}

std::string last_nonempty_line(const std::string& text) {
    std::size_t end = text.size();
    while (end > 0) {
        auto begin = text.rfind('\n', end - 1);
        std::size_t b = begin == std::string::npos ? 0 : begin + 1;
        std::string line = text.substr(b, end - b);
        while (!line.empty() && (line.back() == '\r' || line.back() == '\n' || line.back() == ' ')) line.pop_back();
        if (!line.empty()) return line;
        if (begin == std::string::npos) break;
        end = begin;
    }
    return {};
}

}  // namespace flowattr::matrix
