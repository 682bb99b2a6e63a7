#pragma once
// How a kernel-test process tells /init where each of its tests begins and ends. /init runs a
// test suite's tests in one process (a process each cost about 25 ms of a TCG guest's CPU, and
// tests of one suite may share what their fixture loaded) yet reports every test on its own:
// its start and end, CPU, kernel log, output and result. The test binary, given
// FLOWATTR_TEST_MARKERS=1 in its environment, prints one marker line on stdout as each test
// begins and one as it ends (tests/kernel/kernel_tests_main.cpp); the end marker carries the
// test's gtest JSON, the shape --gtest_output=json gives each test case.
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace flowattr::guest {

inline constexpr const char* kTestMarkersEnv = "FLOWATTR_TEST_MARKERS";

struct TestMarker {
    enum class Kind { begin, end };
    Kind kind = Kind::begin;
    std::string test;         // Suite.Name, as --gtest_list_tests lists it
    nlohmann::json testcase;  // end only: {"name", "classname", "result", "time", "failures": [...], properties}
};

// How a test ended, as the test binary (or kmatrix_provoke) tells it in the end marker.
struct TestOutcome {
    std::string test;  // Suite.Name
    bool skipped = false;
    double seconds = 0;
    std::vector<std::string> failures;  // "file:line\nmessage" each
    std::vector<std::pair<std::string, std::string>> properties;  // RecordProperty's
};

// "kmatrix-test-begin Suite.Name" / "kmatrix-test-end {...}", without the newline. The end
// marker's test case is OUTCOME in --gtest_output=json's shape.
std::string test_begin_line(const std::string& test);
std::string test_end_line(const TestOutcome& outcome);

// The marker a line of stdout is, if it is one.
std::optional<TestMarker> parse_test_marker(const std::string& line);

// TESTCASE as the one test of a --gtest_output=json document: the record's "gtest" field,
// which the host reads (matrix/vm_suite.cpp) as it read the file each test process wrote.
nlohmann::json gtest_document(const std::string& test, const nlohmann::json& testcase);

// The suite a listed test belongs to: "Families/AgentEndToEnd" for
// "Families/AgentEndToEnd.TcpAndUdpAttributedOnBothEnds/IPv4".
std::string test_suite_of(const std::string& test);

// TESTS (listed order) cut into runs of one suite each, in that order.
std::vector<std::vector<std::string>> group_by_suite(const std::vector<std::string>& tests);

// The --gtest_filter that selects exactly TESTS. Throws flowattr::Error when a name holds a
// character the filter would read as a pattern ('*', '?', ':', or '-', which starts the
// negative patterns).
std::string exact_gtest_filter(const std::vector<std::string>& tests);

}  // namespace flowattr::guest
