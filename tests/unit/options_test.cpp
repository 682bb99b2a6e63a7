#include <gtest/gtest.h>

#include <regex>
#include <set>
#include <sstream>
#include <string>

#include "agent/options.h"
#include "build_tree.h"
#include "common/file.h"

namespace {

using flowattr::agent::Command;
using flowattr::agent::IdentityMode;
using flowattr::agent::OutputFormat;
using flowattr::agent::parse_command_line;
using flowattr::agent::parse_rate;

TEST(Options, RunWithEveryOption) {
    auto r = parse_command_line({"run", "--iface", "eth0", "-i", "veth1@blue", "--cgroup", "/sys/fs/cgroup",
                                 "--duration", "2.5", "--interval", "0.5", "--output", "table", "--max-flows", "1024",
                                 "--limit", "app=10M", "--limit", "/sys/fs/cgroup/b=8mbit", "--identity", "sock-create",
                                 "--attach", "clsact"});
    ASSERT_FALSE(r.error) << r.error->message;
    const auto& o = r.command->run;
    EXPECT_EQ(r.command->command, Command::run);
    ASSERT_EQ(o.interfaces.size(), 2u);
    EXPECT_EQ(o.interfaces[0].name, "eth0");
    EXPECT_EQ(o.interfaces[0].netns_path, "");
    EXPECT_EQ(o.interfaces[1].name, "veth1");
    EXPECT_EQ(o.interfaces[1].netns_path, "/run/netns/blue");
    EXPECT_EQ(o.cgroup_root, "/sys/fs/cgroup");
    EXPECT_DOUBLE_EQ(o.duration_s, 2.5);
    EXPECT_DOUBLE_EQ(o.interval_s, 0.5);
    EXPECT_EQ(o.output, OutputFormat::table);
    EXPECT_EQ(o.max_flows, 1024u);
    ASSERT_EQ(o.limits.size(), 2u);
    EXPECT_EQ(o.limits[0].cgroup, "app");
    EXPECT_EQ(o.limits[0].bytes_per_sec, 10u * 1024 * 1024);
    EXPECT_EQ(o.limits[1].cgroup, "/sys/fs/cgroup/b");
    EXPECT_EQ(o.limits[1].bytes_per_sec, 1000000u);
    EXPECT_EQ(o.identity, IdentityMode::sock_create);
    EXPECT_EQ(o.attach, flowattr::agent::AttachMode::clsact);
}

TEST(Options, Defaults) {
    auto r = parse_command_line({"run", "--iface", "lo"});
    ASSERT_FALSE(r.error);
    EXPECT_EQ(r.command->run.output, OutputFormat::json);
    EXPECT_EQ(r.command->run.max_flows, 65536u);
    EXPECT_DOUBLE_EQ(r.command->run.interval_s, 5);
    EXPECT_DOUBLE_EQ(r.command->run.duration_s, 0);
    EXPECT_EQ(r.command->run.identity, IdentityMode::automatic);
    EXPECT_EQ(r.command->run.attach, flowattr::agent::AttachMode::automatic);
    EXPECT_TRUE(r.command->run.cgroup_accounting);
}

TEST(Options, NoCgroupAccounting) {
    auto r = parse_command_line({"run", "--iface", "lo", "--no-cgroup-accounting"});
    ASSERT_FALSE(r.error) << r.error->message;
    EXPECT_FALSE(r.command->run.cgroup_accounting);
    EXPECT_TRUE(r.command->run.limits.empty());
}

TEST(Options, NetnsPathKeptWhenAbsolute) {
    auto r = parse_command_line({"run", "--iface", "eth0@/proc/42/ns/net"});
    ASSERT_FALSE(r.error);
    EXPECT_EQ(r.command->run.interfaces[0].netns_path, "/proc/42/ns/net");
}

// The label is what --iface takes back: a namespace under /run/netns by its name, any other
// path whole, no namespace no '@'.
TEST(Options, InterfaceLabelIsWhatIfaceTakes) {
    using flowattr::agent::interface_label;
    using flowattr::agent::parse_interface_spec;
    for (const std::string given : {"eth0", "veth0@blue", "veth0@/proc/42/ns/net", "veth0@/run/netns/a/b"}) {
        const auto spec = parse_interface_spec(given);
        EXPECT_EQ(interface_label(spec), given);
        const auto again = parse_interface_spec(interface_label(spec));
        EXPECT_EQ(again.name, spec.name);
        EXPECT_EQ(again.netns_path, spec.netns_path);
    }
    EXPECT_EQ(interface_label(parse_interface_spec("veth0@/run/netns/blue")), "veth0@blue");
}

struct BadArgs {
    std::vector<std::string> args;
    std::string message_part;
};

// The command line itself, not a dump of the struct's bytes, in test names and failures.
void PrintTo(const BadArgs& b, std::ostream* os) {
    *os << "flowattr";
    for (const auto& a : b.args) *os << " " << a;
}

class OptionsRejects : public ::testing::TestWithParam<BadArgs> {};

TEST_P(OptionsRejects, WithMessageNamingTheArgument) {
    auto r = parse_command_line(GetParam().args);
    ASSERT_TRUE(r.error.has_value());
    EXPECT_FALSE(r.command.has_value());
    EXPECT_NE(r.error->message.find(GetParam().message_part), std::string::npos) << r.error->message;
}

INSTANTIATE_TEST_SUITE_P(
    BadCommandLines, OptionsRejects,
    ::testing::Values(BadArgs{{"frobnicate"}, "unknown command 'frobnicate'"},
                      BadArgs{{"run"}, "--iface is required"},
                      BadArgs{{"run", "--iface"}, "--iface: 1 required IF[@NETNS] missing"},
                      BadArgs{{"run", "--iface", "averyveryverylongname0"}, "not a valid interface name"},
                      BadArgs{{"run", "--iface", "bad/name"}, "not a valid interface name"},
                      BadArgs{{"run", "--iface", "a:b"}, "not a valid interface name"},
                      BadArgs{{"run", "--iface", ".."}, "not a valid interface name"},
                      BadArgs{{"run", "--iface", "lo", "--duration", "soon"}, "--duration: soon: not a number"},
                      BadArgs{{"run", "--iface", "lo", "--duration", "-1"}, "--duration: -1: not a number"},
                      BadArgs{{"run", "--iface", "lo", "--interval", "0"}, "at least 0.1"},
                      BadArgs{{"run", "--iface", "lo", "--output", "xml"}, "expected json or table"},
                      BadArgs{{"run", "--iface", "lo", "--max-flows", "3"}, "expected 16 to"},
                      BadArgs{{"run", "--iface", "lo", "--max-flows", "lots"}, "--max-flows: lots: expected 16 to"},
                      BadArgs{{"run", "--iface", "lo", "--limit", "app"}, "expected CGROUP=RATE"},
                      BadArgs{{"run", "--iface", "lo", "--limit", "app=fast"}, "rate must be"},
                      BadArgs{{"run", "--iface", "lo", "--limit", "app=0"}, "rate must be"},
                      BadArgs{{"run", "--iface", "lo", "--no-cgroup-accounting", "--limit", "app=1M"},
                              "--limit excludes --no-cgroup-accounting"},
                      BadArgs{{"run", "--iface", "lo", "--identity", "magic"}, "expected auto, lsm"},
                      BadArgs{{"run", "--iface", "lo", "--attach", "xdp"}, "--attach: xdp: expected auto, tcx or clsact"},
                      BadArgs{{"run", "--iface", "lo", "--attach"}, "--attach: 1 required auto|tcx|clsact missing"},
                      BadArgs{{"run", "--iface", "lo", "--bogus"}, "flowattr run: The following argument was not expected: --bogus"},
                      BadArgs{{"run", "--iface", "lo", "stray"}, "not expected: stray"},
                      BadArgs{{"--bogus"}, "unknown command '--bogus'"},
                      BadArgs{{"causes", "--json", "--markdown"}, "--json excludes --markdown"},
                      BadArgs{{"check"}, "OBJECT is required"},
                      BadArgs{{"check", "--log-limit", "big", "x.o"}, "--log-limit: big: not a number of bytes"},
                      BadArgs{{"check", "--section-type", "lb", "x.o"}, "--section-type lb: want SECTION=AS"},
                      BadArgs{{"check", "--section-type", "=socket", "x.o"}, "want SECTION=AS"},
                      BadArgs{{"check", "--section-type", "lb=sockt", "x.o"},
                              "--section-type lb=sockt: libbpf has no program type for section 'sockt'"},
                      BadArgs{{"probe", "--yaml"}, "not expected: --yaml"},
                      BadArgs{{"load"}, "--check is required"}));

TEST(Options, Rates) {
    EXPECT_EQ(parse_rate("1500"), 1500u);
    EXPECT_EQ(parse_rate("500K"), 500u * 1024);
    EXPECT_EQ(parse_rate("1.5M"), std::uint64_t(1.5 * 1024 * 1024));
    EXPECT_EQ(parse_rate("1G"), 1024ull * 1024 * 1024);
    EXPECT_EQ(parse_rate("8mbit"), 1000000u);
    EXPECT_EQ(parse_rate("800kbit"), 100000u);
    EXPECT_FALSE(parse_rate("").has_value());
    EXPECT_FALSE(parse_rate("M").has_value());
    EXPECT_FALSE(parse_rate("10X").has_value());
    EXPECT_FALSE(parse_rate("4bit").has_value());  // half a byte per second
}

TEST(Options, SubcommandsParse) {
    auto probe = parse_command_line({"probe", "--json"});
    ASSERT_FALSE(probe.error);
    EXPECT_EQ(probe.command->command, Command::probe);
    EXPECT_TRUE(probe.command->probe.json);
    auto load = parse_command_line({"load", "--check", "--full-log"});
    ASSERT_FALSE(load.error);
    EXPECT_TRUE(load.command->load.check);
    EXPECT_TRUE(load.command->load.full_log);
    auto verify = parse_command_line({"verify", "--against", "dir", "x.bpf.o"});
    ASSERT_FALSE(verify.error);
    EXPECT_EQ(verify.command->verify_args, (std::vector<std::string>{"--against", "dir", "x.bpf.o"}));
    EXPECT_EQ(parse_command_line({}).command->command, Command::help);
    auto check = parse_command_line({"check", "--json", "--log-limit", "4096", "a.bpf.o", "b"});
    ASSERT_FALSE(check.error) << check.error->message;
    EXPECT_EQ(check.command->check.log_limit, 4096u);
    EXPECT_EQ(check.command->check.objects, (std::vector<std::string>{"a.bpf.o", "b"}));
    // AS is any section libbpf's table has a type for, a target included.
    check = parse_command_line(
        {"check", "--section-type", "loadbalancer=socket", "--section-type", "probe_open=kprobe/do_sys_open", "a.bpf.o"});
    ASSERT_FALSE(check.error) << check.error->message;
    ASSERT_EQ(check.command->check.section_types.size(), 2u);
    EXPECT_EQ(check.command->check.section_types[0].section, "loadbalancer");
    EXPECT_EQ(check.command->check.section_types[0].as, "socket");
    EXPECT_EQ(check.command->check.section_types[1].section, "probe_open");
    EXPECT_EQ(check.command->check.section_types[1].as, "kprobe/do_sys_open");
    EXPECT_EQ(parse_command_line({"causes", "--markdown"}).command->causes, flowattr::agent::CausesFormat::markdown);
    EXPECT_EQ(parse_command_line({"--version"}).command->command, Command::version);
}

// --help anywhere prints that command's help, generated from the definitions the parser uses.
TEST(Options, HelpComesFromTheDefinitions) {
    auto run = parse_command_line({"run", "--help"});
    ASSERT_FALSE(run.error);
    EXPECT_EQ(run.command->command, Command::help);
    for (const char* flag : {"--iface", "--cgroup", "--duration", "--interval", "--output", "--max-flows", "--limit",
                             "--identity", "--attach", "auto|tcx|clsact", "--max-flows N=65536", "--no-cgroup-accounting"})
        EXPECT_NE(run.command->help_text.find(flag), std::string::npos) << flag << " not in:\n" << run.command->help_text;
    auto top = parse_command_line({"help"});
    ASSERT_FALSE(top.error);
    EXPECT_EQ(top.command->help_text, parse_command_line({"--help"}).command->help_text);
    EXPECT_NE(top.command->help_text.find("Usage: flowattr"), std::string::npos) << top.command->help_text;
}

// The README's usage of `flowattr run` names every option the parser has, and no other.
TEST(Options, ReadmeUsageNamesEveryRunOption) {
    const std::string help = parse_command_line({"run", "--help"}).command->help_text;
    const std::string readme = flowattr::read_file(fa::test::source_dir() + "/README.md");
    const std::size_t from = readme.find("flowattr run --iface"), to = readme.find("flowattr probe", from);
    ASSERT_NE(from, std::string::npos);
    ASSERT_NE(to, std::string::npos);
    const std::string usage = readme.substr(from, to - from);
    auto options_in = [](const std::string& text) {
        std::set<std::string> out;
        const std::regex option("--[a-z][a-z-]*");
        for (std::sregex_iterator it(text.begin(), text.end(), option), end; it != end; ++it) out.insert(it->str());
        return out;
    };
    std::set<std::string> parsed;
    // The help's option column only: its descriptions name options too ("no --limit").
    std::istringstream lines(help);
    for (std::string line; std::getline(lines, line);)
        if (line.rfind("  -", 0) == 0) {
            const auto first = options_in(line.substr(0, line.find(' ', line.find("--"))));
            parsed.insert(first.begin(), first.end());
        }
    parsed.erase("--help");
    EXPECT_EQ(options_in(usage), parsed) << usage;
}

}  // namespace
