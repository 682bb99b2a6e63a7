#include "guest/test_marker.h"

#include <algorithm>
#include <iomanip>
#include <sstream>

#include "common/error.h"

namespace flowattr::guest {

namespace {
constexpr const char* kBegin = "kmatrix-test-begin ";
constexpr const char* kEnd = "kmatrix-test-end ";

bool starts_with(const std::string& s, const char* prefix) { return s.rfind(prefix, 0) == 0; }
}  // namespace

std::string test_begin_line(const std::string& test) { return kBegin + test; }

std::string test_end_line(const TestOutcome& outcome) {
    const std::string suite = test_suite_of(outcome.test);
    // "0.019s", as gtest's own JSON writes the time.
    std::ostringstream time;
    time << std::fixed << std::setprecision(3) << outcome.seconds << "s";
    nlohmann::json testcase = {{"name", outcome.test.substr(std::min(outcome.test.size(), suite.size() + 1))},
                               {"classname", suite},
                               {"status", "RUN"},
                               {"result", outcome.skipped ? "SKIPPED" : "COMPLETED"},
                               {"time", time.str()}};
    if (!outcome.failures.empty()) {
        testcase["failures"] = nlohmann::json::array();
        for (const auto& f : outcome.failures) testcase["failures"].push_back({{"failure", f}, {"type", ""}});
    }
    for (const auto& [key, value] : outcome.properties) testcase[key] = value;
    // One line whatever the messages hold: dump() escapes their newlines.
    return kEnd + nlohmann::json{{"test", outcome.test}, {"testcase", testcase}}.dump(
                      -1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::optional<TestMarker> parse_test_marker(const std::string& line) {
    TestMarker m;
    if (starts_with(line, kBegin)) {
        m.kind = TestMarker::Kind::begin;
        m.test = line.substr(std::char_traits<char>::length(kBegin));
        if (m.test.empty()) return std::nullopt;
        return m;
    }
    if (!starts_with(line, kEnd)) return std::nullopt;
    auto doc = nlohmann::json::parse(line.substr(std::char_traits<char>::length(kEnd)), nullptr, false);
    if (!doc.is_object() || !doc.contains("test") || !doc["test"].is_string()) return std::nullopt;
    m.kind = TestMarker::Kind::end;
    m.test = doc["test"].get<std::string>();
    m.testcase = doc.value("testcase", nlohmann::json::object());
    if (!m.testcase.is_object()) m.testcase = nlohmann::json::object();
    return m;
}

nlohmann::json gtest_document(const std::string& test, const nlohmann::json& testcase) {
    return {{"testsuites", nlohmann::json::array({{{"name", test_suite_of(test)},
                                                   {"testsuite", nlohmann::json::array({testcase})}}})}};
}

std::string test_suite_of(const std::string& test) { return test.substr(0, test.find('.')); }

std::vector<std::vector<std::string>> group_by_suite(const std::vector<std::string>& tests) {
    std::vector<std::vector<std::string>> groups;
    for (const auto& t : tests) {
        if (groups.empty() || test_suite_of(groups.back().front()) != test_suite_of(t)) groups.emplace_back();
        groups.back().push_back(t);
    }
    return groups;
}

std::string exact_gtest_filter(const std::vector<std::string>& tests) {
    std::string filter;
    for (const auto& t : tests) {
        if (t.find_first_of("*?:-") != std::string::npos)
            throw Error("test name '" + t + "' cannot be selected exactly by a gtest filter");
        if (!filter.empty()) filter += ':';
        filter += t;
    }
    return filter;
}

}  // namespace flowattr::guest
