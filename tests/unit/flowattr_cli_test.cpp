// `flowattr` on bad command lines: exit 2 and one line on stderr naming what was wrong,
// nothing on stdout, and the usage text only when asked for.
#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <vector>

#include "agent/cli.h"

namespace {

using flowattr::agent::run_flowattr_cli;

int lines_in(const std::string& text) {
    int n = 0;
    for (char c : text) n += c == '\n';
    return n;
}

TEST(FlowattrCliUsage, EveryBadCommandLineIsOneLineAndExitTwo) {
    const std::vector<std::vector<std::string>> bad = {
        {"run"},
        {"run", "--iface"},
        {"run", "--iface", "lo", "--bogus"},
        {"run", "--iface", "lo", "--duration", "x"},
        {"run", "--iface", "lo", "--interval", "0"},
        {"run", "--iface", "lo", "--output", "xml"},
        {"run", "--iface", "lo", "--max-flows", "3"},
        {"run", "--iface", "lo", "--limit", "nolimit"},
        {"run", "--iface", "lo", "--limit", "/sys/fs/cgroup=fast"},
        {"run", "--iface", "lo", "--identity", "magic"},
        {"run", "--iface", "lo", "--attach", "xdp"},
        {"run", "--iface", "bad/name"},
        {"probe", "--yaml"},
        {"load"},
        {"check"},
        {"check", "--log-limit", "many", "x.o"},
        {"causes", "--html"},
        {"frobnicate"},
    };
    for (const auto& args : bad) {
        std::string shown;
        for (const auto& a : args) shown += a + " ";
        SCOPED_TRACE(shown);
        std::ostringstream out, err;
        EXPECT_EQ(run_flowattr_cli(args, out, err), 2);
        EXPECT_EQ(out.str(), "");
        EXPECT_EQ(lines_in(err.str()), 1) << err.str();
        EXPECT_EQ(err.str().rfind("flowattr", 0), 0u) << err.str();
        EXPECT_NE(err.str().find("--help shows the usage"), std::string::npos) << err.str();
        EXPECT_EQ(err.str().find("Usage:"), std::string::npos) << "usage text dumped unasked: " << err.str();
    }
}

TEST(FlowattrCliUsage, HelpPrintsTheUsageOnStdout) {
    std::ostringstream out, err;
    EXPECT_EQ(run_flowattr_cli({"--help"}, out, err), 0);
    EXPECT_NE(out.str().find("Usage: flowattr [OPTIONS] [SUBCOMMAND]"), std::string::npos) << out.str();
    EXPECT_NE(out.str().find("Exit codes: 0 ok, 1 failure, 2 usage."), std::string::npos) << out.str();
    EXPECT_EQ(err.str(), "");
}

}  // namespace
