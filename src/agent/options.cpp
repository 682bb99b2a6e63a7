#include "agent/options.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <sstream>

#include "agent/probe.h"
#include "common/cli_parse.h"
#include "common/error.h"

namespace flowattr::agent {
namespace {

std::optional<double> parse_seconds(const std::string& text) {
    if (text.empty()) return std::nullopt;
    char* end = nullptr;
    errno = 0;
    double v = std::strtod(text.c_str(), &end);
    if (errno || *end || !std::isfinite(v) || v < 0) return std::nullopt;
    return v;
}

std::optional<std::uint64_t> parse_count(const std::string& text) {
    if (text.empty() || text[0] == '-') return std::nullopt;
    char* end = nullptr;
    errno = 0;
    unsigned long long v = std::strtoull(text.c_str(), &end, 10);
    if (errno || *end) return std::nullopt;
    return v;
}

// The kernel's dev_valid_name(): under IFNAMSIZ, not "." or "..", no '/', ':' or blank.
bool valid_interface_name(const std::string& name) {
    return !name.empty() && name.size() < 16 && name != "." && name != ".." &&
           name.find_first_of("/: \t\n") == std::string::npos;
}

// The `run` options, each filling its field of O.
void add_run_options(CLI::App& run, RunOptions& o) {
    run.add_option_function<std::vector<std::string>>(
           "-i,--iface",
           [&o](const std::vector<std::string>& values) {
               for (const auto& v : values) {
                   InterfaceSpec spec = parse_interface_spec(v);
                   if (!valid_interface_name(spec.name))
                       throw CLI::ValidationError("--iface", v + ": not a valid interface name");
                   o.interfaces.push_back(spec);
               }
           },
           "an interface to watch, repeatable; IF@NETNS: in /run/netns/NETNS or at the path NETNS")
        ->type_name("IF[@NETNS]")
        ->required();
    run.add_option("--cgroup", o.cgroup_root, "the cgroup v2 directory flows are attributed under "
                                              "(default: the cgroup2 mount)")
        ->type_name("PATH")
        ->check(cli::check([](const std::string& v) { return v.empty() ? "needs a cgroup v2 directory" : ""; }));
    run.add_option("--duration", o.duration_s, "seconds to run; 0: until SIGINT or SIGTERM")
        ->type_name("S")
        ->check(cli::check([](const std::string& v) {
            return parse_seconds(v) ? "" : v + ": not a number of seconds";
        }));
    run.add_option("--interval", o.interval_s, "seconds between reports of the flows that changed")
        ->type_name("S")
        ->check(cli::check([](const std::string& v) {
            auto s = parse_seconds(v);
            return s && *s >= 0.1 ? "" : v + ": must be at least 0.1 seconds";
        }));
    cli::add_choice(run, "-o,--output", o.output, {{"json", OutputFormat::json}, {"table", OutputFormat::table}},
                    "one JSON object per flow (docs/OUTPUT.md) or a table")
        ->default_str("json");
    run.add_option("--max-flows", o.max_flows, "flows tracked at once (the flow table's size)")
        ->type_name("N")
        ->check(cli::check([](const std::string& v) {
            auto n = parse_count(v);
            return n && *n >= 16 && *n <= (1u << 24) ? "" : v + ": expected 16 to 16777216";
        }));
    CLI::Option* limit = run.add_option_function<std::vector<std::string>>(
           "--limit",
           [&o](const std::vector<std::string>& values) {
               for (const auto& v : values) {
                   auto eq = v.rfind('=');
                   if (eq == std::string::npos || eq == 0)
                       throw CLI::ValidationError("--limit",
                                                  v + ": expected CGROUP=RATE, e.g. /sys/fs/cgroup/app=10M");
                   auto rate = parse_rate(v.substr(eq + 1));
                   if (!rate || *rate == 0)
                       throw CLI::ValidationError(
                           "--limit", v + ": rate must be bytes/s like 500K, 10M, or bits/s like 8mbit");
                   o.limits.push_back(RateLimitSpec{v.substr(0, eq), *rate});
               }
           },
           "an egress rate limit for one cgroup, repeatable; CGROUP absolute or under --cgroup")
        ->type_name("CGROUP=RATE");
    run.add_flag_callback("--no-cgroup-accounting", [&o] { o.cgroup_accounting = false; },
                          "no cgroup_skb programs: no per-cgroup records, two programs fewer "
                          "on every packet's path")
        ->excludes(limit);
    cli::add_choice(run, "--identity", o.identity,
                    {{"auto", IdentityMode::automatic}, {"lsm", IdentityMode::lsm},
                     {"sock-create", IdentityMode::sock_create}},
                    "how a socket's process is learnt: the LSM hook, cgroup/sock_create, or the probe's pick")
        ->default_str("auto");
    cli::add_choice(run, "--attach", o.attach,
                    {{"auto", AttachMode::automatic}, {"tcx", AttachMode::tcx}, {"clsact", AttachMode::clsact}},
                    "TCX links, or tc filters on a clsact qdisc; auto: TCX where the kernel has it")
        ->default_str("auto");
    run.footer("Prints one JSON object per flow that changed in each interval, and every flow once more at exit.\n"
               "RATE: bytes/s (500K, 10M) or bits/s (8mbit). Exit codes: 0 ok, 1 failure, 2 usage.");
}

// The whole command line of flowattr, every command filling its part of CMD; which command
// was given is read back from the App after the parse.
struct CommandLine {
    std::unique_ptr<CLI::App> app = cli::make_app("flowattr", "flowattr: which process owns each network flow, "
                                                              "from eBPF programs on the interfaces and cgroups.");
    ParsedCommand cmd;
    std::vector<std::pair<CLI::App*, Command>> commands;

    CommandLine() {
        app->add_flag("--version", "print the version");
        app->footer("Exit codes: 0 ok, 1 failure, 2 usage. `flowattr COMMAND --help` shows a command's options.");
        add_run_options(*add(Command::run, "run", "attribute the flows on the interfaces to processes"), cmd.run);

        CLI::App* probe = add(Command::probe, "probe", "the kernel features flowattr depends on");
        probe->add_flag("--json", cmd.probe.json, "one JSON object");

        CLI::App* load = add(Command::load, "load", "load every embedded program, print verifier stats, detach");
        load->add_flag("--check", cmd.load.check, "load, report, detach (the one mode)")->required();
        load->add_flag("--full-log", cmd.load.full_log, "every verifier log, passes too");
        load->add_option("--json-out", cmd.load.json_out,
                         "also write each program's result to FILE, one JSON line each (docs/OUTPUT.md)")
            ->type_name("FILE");
        load->add_option("--features", cmd.load.features,
                         "the kernel's features as `flowattr probe --json` wrote them, instead of probing again")
            ->type_name("FILE")
            ->check(cli::check([](const std::string& v) {
                try {
                    read_features(v);
                    return std::string();
                } catch (const Error& e) {
                    return std::string(e.what());
                }
            }));

        CLI::App* check = add(Command::check, "check", "load and attach any BPF object's programs one at a time");
        check->add_flag("--json", cmd.check.json, "one JSON line per program (docs/OUTPUT.md)");
        check->add_flag("--full-log", cmd.check.full_log, "every verifier log, passes too");
        check->add_flag("--load-only", cmd.check.load_only, "load without attaching");
        check->add_flag("--unprivileged", cmd.check.unprivileged,
                        "as uid 65534 without capabilities, to see what an unprivileged loader gets");
        check->add_flag("--size-maps", cmd.check.size_maps,
                        "give a map the object leaves for its own loader to size (max_entries or value_size 0) a size\n"
                        "of the check's, so its programs reach the verifier");
        check->add_option_function<std::vector<std::string>>(
                  "--section-type",
                  [this](const std::vector<std::string>& values) {
                      for (const auto& v : values) {
                          try {
                              cmd.check.section_types.push_back(parse_section_type(v));
                          } catch (const BadInputError& e) {
                              throw CLI::ValidationError(e.what());
                          }
                      }
                  },
                  "check the programs of section SECTION as libbpf loads a program of section AS (its type and\n"
                  "expected attach type), as their own loader sets them: SEC(\"loadbalancer\") as socket (repeatable)")
            ->type_name("SECTION=AS");
        check->add_option("--log-limit", cmd.check.log_limit, "--json: keep each verifier log within this many bytes")
            ->type_name("BYTES")
            ->check(cli::check([](const std::string& v) { return parse_count(v) ? "" : v + ": not a number of bytes"; }));
        check->add_option("OBJECT", cmd.check.objects,
                          "a .bpf.o, or an executable built for this kernel's architecture embedding BPF objects")
            ->type_name("")
            ->default_str("")
            ->required();
        check->footer("Each program is attached for a moment, then detached: tc, TCX and XDP programs on the loopback of a\n"
                      "network namespace of the check's own, sk_lookup and flow dissector programs linked to that\n"
                      "namespace, cgroup programs on a scratch cgroup, socket filters and sk_reuseport programs on an\n"
                      "unbound socket, perf_event programs on a software clock event, tracing and LSM programs where\n"
                      "libbpf's auto-attach puts them, on this whole machine (--load-only attaches nothing). With\n"
                      "--section-type, a section's programs are loaded and attached as those of section AS. Maps are\n"
                      "created unpinned, whatever the object asks. With --size-maps, a map left at max_entries 0 gets 1\n"
                      "(a ring buffer one page) and a stack-trace map without a value_size 127 frames, each said in the\n"
                      "program's note; a map of maps' inner map stays its loader's. Each failure is named with its class,\n"
                      "cause and fix (docs/TROUBLESHOOTING.md).");

        CLI::App* causes = add(Command::causes, "causes", "the failure classes check names, with cause and fix");
        auto* json = causes->add_flag_callback("--json", [this] { cmd.causes = CausesFormat::json; }, "as JSON");
        causes->add_flag_callback("--markdown", [this] { cmd.causes = CausesFormat::markdown; },
                                  "as docs/TROUBLESHOOTING.md")
            ->excludes(json);

        // verify parses its own options (verify_cli.cpp): everything after the word is handed on.
        CLI::App* verify = add(Command::verify, "verify", "check embedded or given BPF objects offline "
                                                          "(`flowattr verify --help`)");
        verify->set_help_flag();
        verify->prefix_command();

        add(Command::help, "help", "this help");
        add(Command::version, "version", "print the version");
        // A word that is no command is named as such below, not as CLI11's "not expected".
        // Set last: subcommands take the setting their parent has when they are added.
        app->allow_extras();
    }

    CLI::App* add(Command command, const std::string& name, const std::string& description) {
        CLI::App* sub = app->add_subcommand(name, description);
        commands.emplace_back(sub, command);
        return sub;
    }
};

}  // namespace

std::optional<std::uint64_t> parse_rate(const std::string& text) {
    std::size_t digits = 0;
    while (digits < text.size() && (std::isdigit(static_cast<unsigned char>(text[digits])) || text[digits] == '.'))
        digits++;
    if (digits == 0) return std::nullopt;
    char* end = nullptr;
    double number = std::strtod(text.substr(0, digits).c_str(), &end);
    if (*end) return std::nullopt;
    std::string unit = text.substr(digits);
    double bytes;
    if (unit.empty() || unit == "B") bytes = number;
    else if (unit == "K" || unit == "KB" || unit == "KiB") bytes = number * 1024;
    else if (unit == "M" || unit == "MB" || unit == "MiB") bytes = number * 1024 * 1024;
    else if (unit == "G" || unit == "GB" || unit == "GiB") bytes = number * 1024 * 1024 * 1024;
    else if (unit == "bit") bytes = number / 8;
    else if (unit == "kbit") bytes = number * 1000 / 8;
    else if (unit == "mbit") bytes = number * 1000 * 1000 / 8;
    else if (unit == "gbit") bytes = number * 1000 * 1000 * 1000 / 8;
    else return std::nullopt;
    if (bytes < 1 || bytes > 1e15) return std::nullopt;
    return std::uint64_t(bytes);
}

InterfaceSpec parse_interface_spec(const std::string& text) {
    InterfaceSpec spec;
    auto at = text.find('@');
    spec.name = text.substr(0, at);
    if (at != std::string::npos) {
        std::string ns = text.substr(at + 1);
        spec.netns_path = ns.find('/') == std::string::npos ? "/run/netns/" + ns : ns;
    }
    return spec;
}

std::string interface_label(const InterfaceSpec& spec) {
    if (spec.netns_path.empty()) return spec.name;
    const std::string named = "/run/netns/";
    const bool by_name = spec.netns_path.compare(0, named.size(), named) == 0 &&
                         spec.netns_path.find('/', named.size()) == std::string::npos;
    return spec.name + "@" + (by_name ? spec.netns_path.substr(named.size()) : spec.netns_path);
}

ParseResult parse_command_line(const std::vector<std::string>& args) {
    CommandLine line;
    std::ostringstream out, err;
    if (auto done = cli::parse(*line.app, args, out, err)) {
        if (*done != 0) {
            std::string message = err.str();
            if (!message.empty() && message.back() == '\n') message.pop_back();
            return ParseResult{std::nullopt, UsageError{message}};
        }
        line.cmd.command = Command::help;
        line.cmd.help_text = out.str();
        return ParseResult{line.cmd, std::nullopt};
    }
    if (const auto stray = line.app->remaining(); !stray.empty())
        return ParseResult{std::nullopt, UsageError{cli::unknown_command(*line.app, stray.front())}};
    line.cmd.command = Command::help;
    if (line.app->get_option("--version")->count()) line.cmd.command = Command::version;
    for (const auto& [sub, command] : line.commands)
        if (sub->parsed()) line.cmd.command = command;
    if (line.cmd.command == Command::help) line.cmd.help_text = cli::program_help(*line.app);
    if (line.cmd.command == Command::verify) line.cmd.verify_args = line.app->get_subcommand("verify")->remaining();
    return ParseResult{line.cmd, std::nullopt};
}

std::string version_text() { return std::string("flowattr ") + FLOWATTR_VERSION + "\n"; }

}  // namespace flowattr::agent
