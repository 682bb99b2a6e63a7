// docs/RELIABILITY.md names, for each fault, the test that provokes it: every name there must
// be a test that exists, so the doc cannot point at something renamed or removed.
#include <gtest/gtest.h>

#include <filesystem>
#include <regex>
#include <set>
#include <string>

#include "build_tree.h"
#include "common/file.h"

namespace {

TEST(ReliabilityDoc, EveryNamedTestExists) {
    const std::string doc = flowattr::read_file(fa::test::source_dir() + "/docs/RELIABILITY.md");
    std::string sources;
    for (const char* dir : {"/tests/unit", "/tests/kernel"})
        for (const auto& entry : std::filesystem::directory_iterator(fa::test::source_dir() + dir))
            if (entry.path().extension() == ".cpp") sources += flowattr::read_file(entry.path().string());

    const std::regex named("`([A-Z][A-Za-z0-9]+)\\.([A-Z][A-Za-z0-9]+)`");
    const std::regex defined("TEST(_F|_P)?\\(\\s*([A-Za-z0-9]+),\\s*([A-Za-z0-9]+)\\)");
    std::set<std::string> tests;
    for (std::sregex_iterator it(sources.begin(), sources.end(), defined), end; it != end; ++it)
        tests.insert((*it)[2].str() + "." + (*it)[3].str());
    int checked = 0;
    for (std::sregex_iterator it(doc.begin(), doc.end(), named), end; it != end; ++it, checked++)
        EXPECT_TRUE(tests.count((*it)[1].str() + "." + (*it)[2].str())) << "no test " << (*it)[0].str();
    EXPECT_GT(checked, 10) << "the doc names too few tests: did its format change?";
}

}  // namespace
