#pragma once
// Canned results-channel records, written the way the guest's /init writes them, so the
// parser, classifier and reports are tested against the real wire format.
#include <string>

#include <nlohmann/json.hpp>

#include "guest/record.h"

namespace flowattr::matrix::fixtures {

using guest::RecordType;

// Every record is built with the guest's own builder, so it is what /init sends.
inline std::string wire(const nlohmann::json& record) {
    std::string line = guest::record_line(record);
    line.pop_back();  // the channel's newline: the tests join lines themselves
    return line;
}
inline nlohmann::json record(guest::RecordType t, nlohmann::json fields) {
    nlohmann::json r = guest::make_record(t);
    r.update(fields);
    return r;
}

inline std::string init_line(const std::string& mode = "suite") {
    return wire(record(RecordType::init, {{"started", 1.2}, {"uptime", 1.65}, {"mode", mode}, {"release", "6.1.0-50-cloud-amd64"},
                                          {"boot_splat", ""}}));
}
inline std::string setup_line() {
    return wire(record(RecordType::setup, {{"modules", {{"cls_bpf.ko", 0}, {"sch_ingress.ko", 0}}},
                                           {"lo", 0},
                                           {"lsm", "lockdown,capability,bpf"},
                                           {"uptime", 1.75}}));
}
inline std::string load_line(int rc, const std::string& output = "ok all loaded\n", const std::string& splat = "",
                             double start = 1.8, double end = 1.9) {
    return wire(record(RecordType::load_check, {{"rc", rc}, {"start", start}, {"end", end}, {"timed_out", false},
                                                {"output", output}, {"splat", splat}}));
}
inline std::string list_line(int count) {
    return wire(record(RecordType::list, {{"rc", 0}, {"count", count}, {"uptime", 1.95}}));
}
inline std::string begin_line(const std::string& name) {
    return wire(record(RecordType::begin, {{"name", name}, {"uptime", 2.0}}));
}
inline std::string gtest_json(const std::string& suite, const std::string& name, const std::string& result,
                              const std::string& failure = "", const std::string& extra = "") {
    std::string failures = failure.empty() ? "" : R"(,"failures":[{"failure":")" + failure + R"(","type":""}])";
    return R"({"tests":1,"testsuites":[{"name":")" + suite + R"(","testsuite":[{"name":")" + name +
           R"(","status":"RUN","result":")" + result + R"(","time":"0.01s","classname":")" + suite + "\"" + extra +
           failures + "}]}]}";
}
inline std::string test_line(const std::string& full, int rc, const std::string& json, const std::string& splat = "",
                             double start = 2.0, double end = 2.5, const std::string& output = "",
                             bool timed_out = false) {
    // The guest's CPU over the test: three fifths busy.
    return wire(record(RecordType::test, {{"name", full}, {"rc", rc}, {"start", start}, {"end", end},
                                          {"busy_s", (end - start) * 0.6}, {"idle_s", (end - start) * 0.4},
                                          {"timed_out", timed_out}, {"splat", splat}, {"output", output},
                                          {"gtest", json.empty() ? nlohmann::json() : nlohmann::json::parse(json)}}));
}
inline std::string passing_test(const std::string& suite, const std::string& name, const std::string& extra = "") {
    return test_line(suite + "." + name, 0, gtest_json(suite, name, "COMPLETED", "", extra));
}
inline std::string done_line() { return wire(record(RecordType::done, {{"uptime", 3.1}})); }

// `kmatrix check`: one `flowattr check --json` line as /init wraps it, and the end.
inline std::string check_line(const std::string& program_json) {
    return wire(record(RecordType::check, {{"result", nlohmann::json::parse(program_json)}}));
}
inline std::string check_done_line(int rc, const std::string& stderr_text = "", const std::string& splat = "") {
    return wire(record(RecordType::check_done, {{"rc", rc}, {"start", 2.0}, {"end", 3.0}, {"timed_out", false},
                                                {"output", stderr_text}, {"splat", splat}}));
}
// `kmatrix exec`: how the command ended.
inline std::string exec_line(int rc, const std::string& output = "", int signal = 0, bool timed_out = false) {
    return wire(record(RecordType::exec, {{"argv", {"./t", "-v"}}, {"rc", rc}, {"signal", signal}, {"start", 2.0},
                                          {"end", 2.5}, {"timed_out", timed_out}, {"output", output}, {"splat", ""}}));
}

}  // namespace flowattr::matrix::fixtures
