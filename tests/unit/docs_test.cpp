// The docs that are contracts, held to the code: docs/RELIABILITY.md names, for each fault, the
// test that provokes it, docs/CONTRIBUTING.md the files and tests each kind of change touches
// (every name there must exist, so the docs cannot point at something renamed or removed), and
// docs/PERFORMANCE.md describes the methods bench/*.cpp really use.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "build_tree.h"
#include "common/file.h"

namespace {

// N of "constexpr int NAME = N;" in bench/FILE, as written ("?" when it is not there).
std::string bench_constant(const std::string& file, const std::string& name) {
    const std::string source = flowattr::read_file(fa::test::source_dir() + "/bench/" + file);
    std::smatch m;
    const bool found = std::regex_search(source, m, std::regex("constexpr int " + name + " = ([0-9]+);"));
    EXPECT_TRUE(found) << name << " not in bench/" << file;
    return found ? m[1].str() : "?";
}

// "Suite.Name" of every TEST, TEST_F and TEST_P in the test sources.
std::set<std::string> defined_tests() {
    std::string sources;
    for (const char* dir : {"/tests/unit", "/tests/kernel"})
        for (const auto& entry : std::filesystem::directory_iterator(fa::test::source_dir() + dir))
            if (entry.path().extension() == ".cpp") sources += flowattr::read_file(entry.path().string());
    const std::regex defined("TEST(_F|_P)?\\(\\s*([A-Za-z0-9]+),\\s*([A-Za-z0-9]+)\\)");
    std::set<std::string> tests;
    for (std::sregex_iterator it(sources.begin(), sources.end(), defined), end; it != end; ++it)
        tests.insert((*it)[2].str() + "." + (*it)[3].str());
    return tests;
}

TEST(ReliabilityDoc, EveryNamedTestExists) {
    const std::string doc = flowattr::read_file(fa::test::source_dir() + "/docs/RELIABILITY.md");
    const std::set<std::string> tests = defined_tests();
    const std::regex named("`([A-Z][A-Za-z0-9]+)\\.([A-Z][A-Za-z0-9]+)`");
    int checked = 0;
    for (std::sregex_iterator it(doc.begin(), doc.end(), named), end; it != end; ++it, checked++)
        EXPECT_TRUE(tests.count((*it)[1].str() + "." + (*it)[2].str())) << "no test " << (*it)[0].str();
    EXPECT_GT(checked, 10) << "the doc names too few tests: did its format change?";
}

TEST(ContributingDoc, EveryNamedFileAndTestExists) {
    const std::string root = fa::test::source_dir();
    const std::string doc = flowattr::read_file(root + "/docs/CONTRIBUTING.md");
    // A path of the tree in backquotes; NAME and CLASS stand for the file a change adds.
    const std::regex path("`((bpf|src|tests|docs|ci|scripts|docker)/[A-Za-z0-9_./-]*)`");
    int paths = 0;
    for (std::sregex_iterator it(doc.begin(), doc.end(), path), end; it != end; ++it) {
        const std::string p = (*it)[1].str();
        if (p.find("NAME") != std::string::npos || p.find("CLASS") != std::string::npos) continue;
        paths++;
        EXPECT_TRUE(std::filesystem::exists(root + "/" + p)) << "docs/CONTRIBUTING.md names " << p << ", which is not there";
    }
    EXPECT_GT(paths, 15) << "the doc names too few paths: did its format change?";
    // "Suite.Name", or "Suite.*" for every test of a suite.
    const std::set<std::string> tests = defined_tests();
    const std::regex named("`([A-Z][A-Za-z0-9]+)\\.(\\*|[A-Z][A-Za-z0-9]+)`");
    int named_tests = 0;
    for (std::sregex_iterator it(doc.begin(), doc.end(), named), end; it != end; ++it, named_tests++) {
        const std::string suite = (*it)[1].str(), test = (*it)[2].str();
        const bool found = test == "*" ? tests.lower_bound(suite + ".") != tests.end() &&
                                             tests.lower_bound(suite + ".")->rfind(suite + ".", 0) == 0
                                       : tests.count(suite + "." + test) > 0;
        EXPECT_TRUE(found) << "docs/CONTRIBUTING.md names " << (*it)[0].str() << ", which no test defines";
    }
    EXPECT_GT(named_tests, 4);
}

// The rounds, runs per round and cases the doc describes are the benchmark's.
TEST(PerformanceDoc, DescribesTheBenchmarkAsItRuns) {
    const std::string doc = flowattr::read_file(fa::test::source_dir() + "/docs/PERFORMANCE.md");
    const std::string bench = flowattr::read_file(fa::test::source_dir() + "/bench/flow_bench.cpp");
    auto constant = [](const std::string& name) { return bench_constant("flow_bench.cpp", name); };
    std::string prose = doc;  // line breaks as blanks: the phrases may wrap
    std::replace(prose.begin(), prose.end(), '\n', ' ');
    const std::string method = constant("kRounds") + " rounds of " + constant("kRepeat") + " runs each";
    EXPECT_NE(prose.find(method), std::string::npos) << "docs/PERFORMANCE.md does not say \"" << method << "\"";
    const std::string new_flows = constant("kNewFlowsPerRound") + " per round";
    EXPECT_NE(prose.find(new_flows), std::string::npos) << "docs/PERFORMANCE.md does not say \"" << new_flows << "\"";
    // Every case the bench compares is a row of the doc's table, and the other way round.
    const std::regex compared("compare\\(\"([^\"]+)\"");
    int cases = 0;
    for (std::sregex_iterator it(bench.begin(), bench.end(), compared), end; it != end; ++it, cases++)
        EXPECT_NE(doc.find("| " + (*it)[1].str() + " |"), std::string::npos) << "no row for " << (*it)[1].str();
    const std::regex rows("\\n\\| ((existing|new)[^|]*) \\|");
    int documented = 0;
    for (std::sregex_iterator it(doc.begin(), doc.end(), rows), end; it != end; ++it, documented++)
        EXPECT_NE(bench.find("compare(\"" + (*it)[1].str() + "\""), std::string::npos) << "the bench has no case " << (*it)[1].str();
    EXPECT_EQ(cases, documented);
    EXPECT_GE(cases, 4);
}

// The live-traffic method the doc gives is bench/live_bench.cpp's.
TEST(PerformanceDoc, DescribesTheLiveTrafficBenchmarkAsItRuns) {
    std::string doc = flowattr::read_file(fa::test::source_dir() + "/docs/PERFORMANCE.md");
    std::replace(doc.begin(), doc.end(), '\n', ' ');
    const std::string bench = flowattr::read_file(fa::test::source_dir() + "/bench/live_bench.cpp");
    for (const auto& [name, phrase] : {std::pair<std::string, std::string>{"kSecondsPerRun", " s per run"},
                                       {"kRounds", " rounds"}}) {
        const std::string said = bench_constant("live_bench.cpp", name) + phrase;
        EXPECT_NE(doc.find(said), std::string::npos) << "docs/PERFORMANCE.md does not say \"" << said << "\"";
    }
    EXPECT_NE(doc.find("iperf3"), std::string::npos);
    EXPECT_NE(bench.find("\"iperf3\""), std::string::npos);
}

// The table sizes and the wait the doc gives are bench/table_bench.cpp's.
TEST(PerformanceDoc, DescribesTheTableBenchmarkAsItRuns) {
    std::string doc = flowattr::read_file(fa::test::source_dir() + "/docs/PERFORMANCE.md");
    std::replace(doc.begin(), doc.end(), '\n', ' ');
    const std::string bench = flowattr::read_file(fa::test::source_dir() + "/bench/table_bench.cpp");
    const std::string intervals = "after " + bench_constant("table_bench.cpp", "kIntervalsBeforePeak") + " intervals";
    EXPECT_NE(doc.find(intervals), std::string::npos) << "docs/PERFORMANCE.md does not say \"" << intervals << "\"";
    const std::regex size("\\{([0-9]+), ([0-9]+), [0-9]+\\}");
    std::vector<std::string> flows;
    for (std::sregex_iterator it(bench.begin(), bench.end(), size), end; it != end; ++it) {
        flows.push_back((*it)[1].str());
        EXPECT_NE(doc.find("≤ " + (*it)[2].str() + " MiB"), std::string::npos) << "no target " << (*it)[2].str() << " MiB";
    }
    ASSERT_EQ(flows.size(), 2u);
    const std::string sizes = "`--max-flows` " + flows[0] + " (the default) and " + flows[1];
    EXPECT_NE(doc.find(sizes), std::string::npos) << "docs/PERFORMANCE.md does not say \"" << sizes << "\"";
}

// The consumer benchmark's rounds the doc gives are bench/events_bench.cpp's.
TEST(PerformanceDoc, DescribesTheConsumerBenchmarkAsItRuns) {
    std::string doc = flowattr::read_file(fa::test::source_dir() + "/docs/PERFORMANCE.md");
    std::replace(doc.begin(), doc.end(), '\n', ' ');
    const std::string said = bench_constant("events_bench.cpp", "kRounds") + " rounds of " +
                             bench_constant("events_bench.cpp", "kEventsPerRound") + " events";
    EXPECT_NE(doc.find(said), std::string::npos) << "docs/PERFORMANCE.md does not say \"" << said << "\"";
}

// The churn benchmark's seconds per rate the doc gives are bench/churn_bench.cpp's.
TEST(PerformanceDoc, DescribesTheChurnBenchmarkAsItRuns) {
    std::string doc = flowattr::read_file(fa::test::source_dir() + "/docs/PERFORMANCE.md");
    std::replace(doc.begin(), doc.end(), '\n', ' ');
    const std::string said = bench_constant("churn_bench.cpp", "kSecondsPerRate") + " s per rate";
    EXPECT_NE(doc.find(said), std::string::npos) << "docs/PERFORMANCE.md does not say \"" << said << "\"";
}

// The matrix benchmark's lab runs and the build benchmark's rounds the doc gives are theirs.
TEST(PerformanceDoc, DescribesTheMatrixAndBuildBenchmarksAsTheyRun) {
    std::string doc = flowattr::read_file(fa::test::source_dir() + "/docs/PERFORMANCE.md");
    std::replace(doc.begin(), doc.end(), '\n', ' ');
    for (const std::string& said :
         {"lab at `-j2` (median of " + bench_constant("matrix_bench.cpp", "kLabRuns") + ")",
          "median of " + bench_constant("build_bench.cpp", "kRounds") + " rounds",
          "timed " + bench_constant("build_bench.cpp", "kDockerRuns") + " times"})
        EXPECT_NE(doc.find(said), std::string::npos) << "docs/PERFORMANCE.md does not say \"" << said << "\"";
}

}  // namespace
