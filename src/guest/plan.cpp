#include "guest/plan.h"

#include <algorithm>
#include <cstdlib>
#include <sstream>

#include "common/error.h"

namespace flowattr::guest {

namespace {

struct ModeName {
    GuestMode mode;
    const char* name;
};
constexpr ModeName kModes[] = {
    {GuestMode::suite, "suite"},           {GuestMode::load_check, "load"},
    {GuestMode::shell, "shell"},           {GuestMode::suite_then_shell, "suite+shell"},
    {GuestMode::check, "check"},           {GuestMode::check_then_shell, "check+shell"},
    {GuestMode::exec, "exec"},
};

bool cmdline_safe(const std::string& s) {
    return !s.empty() && std::all_of(s.begin(), s.end(), [](unsigned char c) {
        return c > ' ' && c < 0x7f && c != '"' && c != '\'' && c != '\\' && c != '`' && c != '$';
    });
}

std::optional<long long> positive(const std::string& v) {
    char* end = nullptr;
    long long n = std::strtoll(v.c_str(), &end, 10);
    if (v.empty() || *end || n <= 0) return std::nullopt;
    return n;
}

}  // namespace

bool cmdline_carries_section_type(const std::string& spec) {
    return cmdline_safe(spec) && spec.find(',') == std::string::npos;
}

const char* guest_mode_name(GuestMode m) {
    for (const auto& e : kModes)
        if (e.mode == m) return e.name;
    return "suite";
}

std::optional<GuestMode> parse_guest_mode(const std::string& name) {
    for (const auto& e : kModes)
        if (name == e.name) return e.mode;
    return std::nullopt;
}

bool mode_checks(GuestMode m) { return m == GuestMode::check || m == GuestMode::check_then_shell; }
bool mode_execs(GuestMode m) { return m == GuestMode::exec; }
bool mode_runs_suite(GuestMode m) { return m == GuestMode::suite || m == GuestMode::suite_then_shell; }
bool mode_ends_in_shell(GuestMode m) {
    return m == GuestMode::shell || m == GuestMode::suite_then_shell || m == GuestMode::check_then_shell;
}

std::string guest_plan_cmdline(const GuestPlan& plan) {
    if (!cmdline_safe(plan.test_filter))
        throw Error("test filter '" + plan.test_filter + "' cannot be passed on the kernel command line");
    if (plan.per_test_timeout_s <= 0) throw Error("per-test timeout must be positive");
    std::string s = std::string("kmatrix.mode=") + guest_mode_name(plan.mode) + " kmatrix.filter=" + plan.test_filter +
                    " kmatrix.test_timeout=" + std::to_string(plan.per_test_timeout_s);
    if (plan.full_verifier_log) s += " kmatrix.full_log=1";
    if (mode_checks(plan.mode)) s += " kmatrix.check_log_limit=" + std::to_string(plan.check_log_limit);
    if (plan.check_unprivileged) s += " kmatrix.check_unprivileged=1";
    if (plan.check_size_maps) s += " kmatrix.check_size_maps=1";
    if (!plan.check_section_types.empty()) {
        std::string specs;
        for (const auto& spec : plan.check_section_types) {
            if (!cmdline_carries_section_type(spec))
                throw BadInputError("--section-type " + spec + ": the kernel command line cannot carry it (a comma, a "
                                    "space or a quote)");
            specs += (specs.empty() ? "" : ",") + spec;
        }
        s += " kmatrix.check_section_types=" + specs;
    }
    if (!plan.load_modules) s += " kmatrix.modules=none";
    if (plan.results_tty != kGuestResultsTty) {
        if (!cmdline_safe(plan.results_tty) || plan.results_tty.rfind("/dev/", 0) != 0)
            throw Error("results channel '" + plan.results_tty + "' is not a /dev path the kernel command line can carry");
        s += " kmatrix.results=" + plan.results_tty;
    }
    return s;
}

GuestPlan parse_guest_plan(const std::string& cmdline) {
    GuestPlan plan;
    std::istringstream words(cmdline);
    std::string word;
    while (words >> word) {
        auto eq = word.find('=');
        if (word.rfind("kmatrix.", 0) != 0 || eq == std::string::npos) continue;
        std::string key = word.substr(8, eq - 8), value = word.substr(eq + 1);
        if (key == "mode") {
            if (auto m = parse_guest_mode(value)) plan.mode = *m;
        } else if (key == "filter") {
            if (!value.empty()) plan.test_filter = value;
        } else if (key == "test_timeout") {
            if (auto n = positive(value)) plan.per_test_timeout_s = int(*n);
        } else if (key == "check_log_limit") {
            if (value == "0") plan.check_log_limit = 0;
            else if (auto n = positive(value)) plan.check_log_limit = std::size_t(*n);
        } else if (key == "full_log") {
            plan.full_verifier_log = value == "1";
        } else if (key == "check_unprivileged") {
            plan.check_unprivileged = value == "1";
        } else if (key == "check_size_maps") {
            plan.check_size_maps = value == "1";
        } else if (key == "check_section_types") {
            plan.check_section_types.clear();
            std::istringstream specs(value);
            for (std::string spec; std::getline(specs, spec, ',');)
                if (!spec.empty()) plan.check_section_types.push_back(spec);
        } else if (key == "modules") {
            plan.load_modules = value != "none";
        } else if (key == "results") {
            if (value.rfind("/dev/", 0) == 0) plan.results_tty = value;
        }
    }
    return plan;
}

}  // namespace flowattr::guest
