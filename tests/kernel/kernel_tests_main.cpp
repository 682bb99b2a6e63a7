// flowattr_kernel_tests' main: gtest's, plus the marker lines kmatrix's /init splits a batch
// of tests by (src/guest/test_marker.h) when FLOWATTR_TEST_MARKERS=1 is in the environment.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include <gtest/gtest.h>

#include "guest/test_marker.h"

namespace {

// Prints each test's begin and end marker on stdout, flushed, so that they fall between the
// test's own output in the order /init reads the pipe. gtest calls end events in reverse
// order of the listeners, so the end marker comes before gtest's own "[       OK ]" line.
class TestMarkers : public ::testing::EmptyTestEventListener {
    static std::string full_name(const ::testing::TestInfo& info) {
        return std::string(info.test_suite_name()) + "." + info.name();
    }
    static void put(const std::string& line) {
        std::fflush(stdout);
        std::fputs((line + "\n").c_str(), stdout);
        std::fflush(stdout);
    }

    void OnTestStart(const ::testing::TestInfo& info) override { put(flowattr::guest::test_begin_line(full_name(info))); }

    void OnTestEnd(const ::testing::TestInfo& info) override {
        const ::testing::TestResult& result = *info.result();
        flowattr::guest::TestOutcome outcome;
        outcome.test = full_name(info);
        outcome.skipped = result.Skipped();
        outcome.seconds = double(result.elapsed_time()) / 1000;
        for (int i = 0; i < result.total_part_count(); i++) {
            const ::testing::TestPartResult& part = result.GetTestPartResult(i);
            if (!part.failed()) continue;
            std::string where = part.file_name() ? std::string(part.file_name()) + ":" + std::to_string(part.line_number()) + "\n" : "";
            outcome.failures.push_back(where + part.message());
        }
        for (int i = 0; i < result.test_property_count(); i++)
            outcome.properties.emplace_back(result.GetTestProperty(i).key(), result.GetTestProperty(i).value());
        put(flowattr::guest::test_end_line(outcome));
    }
};

}  // namespace

int main(int argc, char** argv) {
    ::testing::InitGoogleTest(&argc, argv);
    const char* markers = std::getenv(flowattr::guest::kTestMarkersEnv);
    if (markers != nullptr && std::strcmp(markers, "1") == 0)
        ::testing::UnitTest::GetInstance()->listeners().Append(new TestMarkers);
    return RUN_ALL_TESTS();
}
