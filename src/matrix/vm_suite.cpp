#include "matrix/vm_suite.h"

#include <algorithm>
#include <cmath>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "common/error.h"

namespace flowattr::matrix {

std::string gtest_skip_reason(const std::string& output) {
    // gtest prints "file:line: Skipped", then the streamed reason, then "[  SKIPPED ] Name".
    std::istringstream in(output);
    std::string line, reason;
    bool inside = false;
    while (std::getline(in, line)) {
        if (!inside) {
            inside = line.size() >= 9 && line.compare(line.size() - 9, 9, ": Skipped") == 0;
        } else if (line.rfind("[  SKIPPED ]", 0) == 0) {
            return reason;
        } else {
            reason += (reason.empty() ? "" : " ") + line;
        }
    }
    return reason;
}

namespace {

double num(const nlohmann::json& j, const char* key) {
    auto it = j.find(key);
    return it != j.end() && it->is_number() ? it->get<double>() : 0.0;
}

int integer(const nlohmann::json& j, const char* key, int dflt) {
    auto it = j.find(key);
    return it != j.end() && it->is_number_integer() ? it->get<int>() : dflt;
}

std::string str(const nlohmann::json& j, const char* key) {
    auto it = j.find(key);
    return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::string trim_trailing_newlines(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
    return s;
}

// gtest's JSON for one test: result ("COMPLETED"/"SKIPPED"), failures[], and every
// RecordProperty as an extra key of the testcase object.
void absorb_gtest_json(GuestTest& t, const nlohmann::json& doc) {
    static const std::set<std::string> standard = {"name", "file", "line", "status", "result", "timestamp",
                                                   "time", "classname", "failures", "value_param", "type_param"};
    bool skipped = false;
    if (doc.is_object()) {
        for (const auto& suite : doc.value("testsuites", nlohmann::json::array())) {
            if (!suite.is_object()) continue;
            for (const auto& tc : suite.value("testsuite", nlohmann::json::array())) {
                if (!tc.is_object()) continue;
                if (str(tc, "result") == "SKIPPED") skipped = true;
                for (const auto& f : tc.value("failures", nlohmann::json::array())) {
                    if (!t.failure_message.empty()) t.failure_message += "\n";
                    if (f.is_object()) t.failure_message += str(f, "failure");
                }
                for (auto it = tc.begin(); it != tc.end(); ++it) {
                    if (standard.count(it.key())) continue;
                    t.properties[it.key()] = it->is_string() ? it->get<std::string>() : it->dump();
                }
            }
        }
    }
    if (t.rc != 0 || !t.failure_message.empty())
        t.result = "FAILED";
    else if (skipped)
        t.result = "SKIPPED";
    else
        t.result = "PASSED";
    if (t.result == "SKIPPED") t.skip_reason = gtest_skip_reason(t.output);
}

}  // namespace

const std::vector<std::string>& shell_applets() {
    static const std::vector<std::string> applets = {
        "base64", "cat", "cttyhack", "dmesg", "echo", "grep", "head", "insmod", "ip", "ls", "lsmod",
        "mkdir", "mount", "poweroff", "printf", "rm", "setsid", "sh", "sleep", "stty", "timeout",
        "uname", "wc", "cut", "sed", "tail", "tc", "umount", "dd", "less", "vi", "ps", "kill"};
    return applets;
}

namespace {

// A step's closing record (has_required_fields has checked rc and timed_out).
void read_step(const nlohmann::json& j, GuestStep& step) {
    step.ran = true;
    step.rc = integer(j, "rc", -1);
    step.start = num(j, "start");
    step.end = num(j, "end");
    step.timed_out = j["timed_out"].get<bool>();
    step.output = str(j, "output");
    step.splat = str(j, "splat");
}

// A step's end or a test without its name, exit code or timeout flag says nothing
// trustworthy: the line is kept as malformed rather than read with defaults.
bool has_required_fields(guest::RecordType type, const nlohmann::json& j) {
    using guest::RecordType;
    auto is = [&](const char* key, bool (nlohmann::json::*pred)() const noexcept) {
        auto it = j.find(key);
        return it != j.end() && ((*it).*pred)();
    };
    auto step = [&] { return is("rc", &nlohmann::json::is_number_integer) && is("timed_out", &nlohmann::json::is_boolean); };
    switch (type) {
        case RecordType::test:
            return is("name", &nlohmann::json::is_string) && step();
        case RecordType::begin:
            return is("name", &nlohmann::json::is_string);
        case RecordType::load_check:
        case RecordType::check_done:
        case RecordType::exec:
            return step();
        default:
            return true;
    }
}

}  // namespace

std::optional<guest::RecordType> SuiteResults::add_line(const std::string& raw) {
    using guest::RecordType;
    std::string line = raw;
    while (!line.empty() && (line.back() == '\r' || line.back() == '\n')) line.pop_back();
    // The port may carry a stray byte before the first record (UART init); records start at '{'.
    auto brace = line.find('{');
    auto j = brace == std::string::npos ? nlohmann::json() : nlohmann::json::parse(line.substr(brace), nullptr, false);
    auto type = j.is_object() ? guest::parse_record_type(str(j, "type")) : std::nullopt;
    if (!type || !has_required_fields(*type, j)) {
        if (!line.empty()) malformed.push_back(line);
        return std::nullopt;
    }
    auto flag = [&](const char* key) {
        auto it = j.find(key);
        return it != j.end() && it->is_boolean() && it->get<bool>();
    };
    switch (*type) {
        case RecordType::init:
            init_seen = true;
            init_started_uptime = num(j, "started");
            init_uptime = num(j, "uptime");
            mode = guest::parse_guest_mode(str(j, "mode"));
            kernel_release = str(j, "release");
            break;
        case RecordType::mounts:
            for (const auto& fs : j.value("failed", nlohmann::json::array()))
                if (fs.is_string()) mount_failures.push_back(fs.get<std::string>());
            break;
        case RecordType::setup:
            setup_uptime = num(j, "uptime");
            lsm = trim_trailing_newlines(str(j, "lsm"));
            if (j.contains("modules") && j["modules"].is_object())
                for (auto it = j["modules"].begin(); it != j["modules"].end(); ++it)
                    modules[it.key()] = it->is_number_integer() ? it->get<int>() : -1;
            break;
        case RecordType::probe: {
            auto doc = nlohmann::json::parse(str(j, "output"), nullptr, false);
            if (integer(j, "rc", -1) == 0 && doc.is_object() && doc.contains("features") && doc["features"].is_object())
                for (auto it = doc["features"].begin(); it != doc["features"].end(); ++it)
                    if (it->is_object()) probe_features[it.key()] = it->value("available", false);
            break;
        }
        case RecordType::load_check:
            read_step(j, load_check);
            break;
        case RecordType::check: {
            auto result = j.find("result");
            auto program = result != j.end() && result->is_object() ? diagnose::program_check_from_json(result->dump())
                                                                    : std::nullopt;
            if (!program) {
                malformed.push_back(line);
                return std::nullopt;
            }
            check.programs.push_back(std::move(*program));
            break;
        }
        case RecordType::check_done:
            read_step(j, check);
            break;
        case RecordType::list:
            list_ok = integer(j, "rc", -1) == 0;
            tests_listed = integer(j, "count", 0);
            if (!list_ok) list_output = str(j, "output");
            tests_started = true;
            tests_start_uptime = num(j, "uptime");
            break;
        case RecordType::begin:
            running_test = str(j, "name");
            break;
        case RecordType::test: {
            GuestTest t;
            t.name = str(j, "name");
            t.rc = integer(j, "rc", -1);
            t.start = num(j, "start");
            t.end = num(j, "end");
            t.busy_s = num(j, "busy_s");
            t.idle_s = num(j, "idle_s");
            t.timed_out = flag("timed_out");
            t.splat = str(j, "splat");
            t.output = str(j, "output");
            absorb_gtest_json(t, j.value("gtest", nlohmann::json()));
            tests.push_back(std::move(t));
            running_test.reset();
            break;
        }
        case RecordType::exec:
            read_step(j, exec);
            for (const auto& a : j.value("argv", nlohmann::json::array()))
                if (a.is_string()) exec.argv.push_back(a.get<std::string>());
            exec.signal = integer(j, "signal", 0);
            break;
        case RecordType::done:
            done = true;
            done_uptime = num(j, "uptime");
            break;
    }
    return type;
}

std::string GuestTest::failure_text() const {
    return timed_out ? "timed out" : failure_message.empty() ? "exit code " + std::to_string(rc) : failure_message;
}

std::vector<std::pair<std::string, double>> SuiteResults::phases() const {
    std::vector<std::pair<std::string, double>> out;
    if (!init_seen || init_started_uptime <= 0 || (mode && !mode_runs_suite(*mode))) return out;
    const std::pair<const char*, double> marks[] = {{"kernel", init_started_uptime},
                                                    {"channel", init_uptime},
                                                    {"setup", setup_uptime},
                                                    {"probe_load_check", tests_start_uptime},
                                                    {"tests", done_uptime}};
    double previous = 0;
    for (const auto& [name, at] : marks) {
        if (at <= 0 || at < previous) break;
        // /proc/uptime counts hundredths: no more digits than that.
        out.emplace_back(name, std::round((at - previous) * 100) / 100);
        previous = at;
    }
    return out;
}

std::vector<std::string> SuiteResults::attach_modes() const {
    std::set<std::string> modes;
    // What `flowattr probe` says the agent will pick on this kernel (TCX needs 6.6; the
    // LSM identity hook needs bpf in the active LSM list and a trampoline to attach through).
    auto has = [&](const char* f) {
        auto it = probe_features.find(f);
        return it != probe_features.end() ? std::optional<bool>(it->second) : std::nullopt;
    };
    if (auto tcx = has("tcx")) modes.insert(*tcx ? "tc:tcx" : "tc:clsact");
    auto lsm = has("bpf_lsm"), prog_lsm = has("prog.lsm");
    const bool lsm_attaches = has("link.lsm").value_or(true);
    if (lsm && prog_lsm) modes.insert(*lsm && *prog_lsm && lsm_attaches ? "identity:lsm" : "identity:sock_create");
    // Sockets older than the agent: iter/task_file where the verifier takes it ("task_walk";
    // older guests only report bpf_sock_from_file, 5.11), /proc + pidfd_getfd otherwise.
    auto walk = has("task_walk");
    if (!walk) walk = has("helper.sock_from_file");
    if (walk) modes.insert(*walk ? "preexisting:task_iter" : "preexisting:proc_walk");
    for (const auto& t : tests)
        for (const auto& [k, v] : t.properties)
            if (k.rfind("attach_mode", 0) == 0 && !v.empty()) modes.insert(v);
    return {modes.begin(), modes.end()};
}

SuiteResults parse_results(const std::string& channel) {
    SuiteResults r;
    std::size_t pos = 0;
    while (pos < channel.size()) {
        auto nl = channel.find('\n', pos);
        if (nl == std::string::npos) nl = channel.size();
        std::string line = channel.substr(pos, nl - pos);
        if (!line.empty() && line != "\r") r.add_line(line);
        pos = nl + 1;
    }
    return r;
}

}  // namespace flowattr::matrix
