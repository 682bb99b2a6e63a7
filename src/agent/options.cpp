#include "agent/options.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>

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

ParseResult usage(std::string message) { return ParseResult{std::nullopt, UsageError{std::move(message)}}; }

ParseResult parse_run(const std::vector<std::string>& args) {
    ParsedCommand cmd;
    cmd.command = Command::run;
    RunOptions& o = cmd.run;
    for (std::size_t i = 1; i < args.size(); i++) {
        const std::string& a = args[i];
        auto value = [&](std::string& out) {
            if (i + 1 >= args.size()) return false;
            out = args[++i];
            return true;
        };
        std::string v;
        if (a == "--iface" || a == "-i") {
            if (!value(v) || v.empty()) return usage("--iface needs an interface name");
            InterfaceSpec spec = parse_interface_spec(v);
            // The kernel's dev_valid_name(): under IFNAMSIZ, not "." or "..", no '/', ':' or blank.
            if (spec.name.empty() || spec.name.size() >= 16 || spec.name == "." || spec.name == ".." ||
                spec.name.find_first_of("/: \t\n") != std::string::npos)
                return usage("--iface " + v + ": not a valid interface name");
            o.interfaces.push_back(spec);
        } else if (a == "--cgroup") {
            if (!value(v) || v.empty()) return usage("--cgroup needs a cgroup v2 directory");
            o.cgroup_root = v;
        } else if (a == "--duration") {
            if (!value(v)) return usage("--duration needs seconds");
            auto s = parse_seconds(v);
            if (!s) return usage("--duration " + v + ": not a number of seconds");
            o.duration_s = *s;
        } else if (a == "--interval") {
            if (!value(v)) return usage("--interval needs seconds");
            auto s = parse_seconds(v);
            if (!s || *s < 0.1) return usage("--interval " + v + ": must be at least 0.1 seconds");
            o.interval_s = *s;
        } else if (a == "--output" || a == "-o") {
            if (!value(v)) return usage("--output needs json or table");
            if (v == "json") o.output = OutputFormat::json;
            else if (v == "table") o.output = OutputFormat::table;
            else return usage("--output " + v + ": expected json or table");
        } else if (a == "--max-flows") {
            if (!value(v)) return usage("--max-flows needs a number");
            auto n = parse_count(v);
            if (!n || *n < 16 || *n > (1u << 24))
                return usage("--max-flows " + v + ": expected 16 to 16777216");
            o.max_flows = std::uint32_t(*n);
        } else if (a == "--limit") {
            if (!value(v)) return usage("--limit needs CGROUP=RATE");
            auto eq = v.rfind('=');
            if (eq == std::string::npos || eq == 0)
                return usage("--limit " + v + ": expected CGROUP=RATE, e.g. /sys/fs/cgroup/app=10M");
            auto rate = parse_rate(v.substr(eq + 1));
            if (!rate || *rate == 0)
                return usage("--limit " + v + ": rate must be bytes/s like 500K, 10M, or bits/s like 8mbit");
            o.limits.push_back(RateLimitSpec{v.substr(0, eq), *rate});
        } else if (a == "--identity") {
            if (!value(v)) return usage("--identity needs auto, lsm or sock-create");
            if (v == "auto") o.identity = IdentityMode::automatic;
            else if (v == "lsm") o.identity = IdentityMode::lsm;
            else if (v == "sock-create") o.identity = IdentityMode::sock_create;
            else return usage("--identity " + v + ": expected auto, lsm or sock-create");
        } else if (a == "--attach") {
            if (!value(v)) return usage("--attach needs auto, tcx or clsact");
            if (v == "auto") o.attach = AttachMode::automatic;
            else if (v == "tcx") o.attach = AttachMode::tcx;
            else if (v == "clsact") o.attach = AttachMode::clsact;
            else return usage("--attach " + v + ": expected auto, tcx or clsact");
        } else {
            return usage("run: unknown argument " + a);
        }
    }
    if (o.interfaces.empty()) return usage("run: at least one --iface is required");
    return ParseResult{cmd, std::nullopt};
}

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

ParseResult parse_command_line(const std::vector<std::string>& args) {
    if (args.empty() || args[0] == "help" || args[0] == "--help" || args[0] == "-h") {
        ParsedCommand cmd;
        cmd.command = Command::help;
        return ParseResult{cmd, std::nullopt};
    }
    const std::string& sub = args[0];
    if (sub == "--version" || sub == "version") {
        ParsedCommand cmd;
        cmd.command = Command::version;
        return ParseResult{cmd, std::nullopt};
    }
    if (sub == "run") return parse_run(args);
    if (sub == "probe") {
        ParsedCommand cmd;
        cmd.command = Command::probe;
        for (std::size_t i = 1; i < args.size(); i++) {
            if (args[i] == "--json") cmd.probe.json = true;
            else return usage("probe: unknown argument " + args[i]);
        }
        return ParseResult{cmd, std::nullopt};
    }
    if (sub == "load") {
        ParsedCommand cmd;
        cmd.command = Command::load;
        for (std::size_t i = 1; i < args.size(); i++) {
            if (args[i] == "--check") cmd.load.check = true;
            else if (args[i] == "--full-log") cmd.load.full_log = true;
            else return usage("load: unknown argument " + args[i]);
        }
        if (!cmd.load.check) return usage("load: only --check is supported (load, report, detach)");
        return ParseResult{cmd, std::nullopt};
    }
    if (sub == "check") {
        ParsedCommand cmd;
        cmd.command = Command::check;
        for (std::size_t i = 1; i < args.size(); i++) {
            if (args[i] == "--json") cmd.check.json = true;
            else if (args[i] == "--full-log") cmd.check.full_log = true;
            else if (args[i] == "--load-only") cmd.check.load_only = true;
            else if (args[i] == "--unprivileged") cmd.check.unprivileged = true;
            else if (args[i] == "--log-limit") {
                char* end = nullptr;
                const char* v = i + 1 < args.size() ? args[++i].c_str() : "";
                unsigned long long n = std::strtoull(v, &end, 10);
                if (!*v || *end) return usage("check: --log-limit wants a number of bytes");
                cmd.check.log_limit = std::size_t(n);
            }
            else if (!args[i].empty() && args[i][0] == '-') return usage("check: unknown argument " + args[i]);
            else cmd.check.objects.push_back(args[i]);
        }
        if (cmd.check.objects.empty()) return usage("check: which BPF object? (OBJECT.bpf.o or an executable embedding one)");
        return ParseResult{cmd, std::nullopt};
    }
    if (sub == "causes") {
        ParsedCommand cmd;
        cmd.command = Command::causes;
        for (std::size_t i = 1; i < args.size(); i++) {
            if (args[i] == "--json") cmd.causes = CausesFormat::json;
            else if (args[i] == "--markdown") cmd.causes = CausesFormat::markdown;
            else return usage("causes: unknown argument " + args[i]);
        }
        return ParseResult{cmd, std::nullopt};
    }
    if (sub == "verify") {
        ParsedCommand cmd;
        cmd.command = Command::verify;
        cmd.verify_args.assign(args.begin() + 1, args.end());
        return ParseResult{cmd, std::nullopt};
    }
    return usage("unknown command " + sub + " (expected run, probe, load, check, causes, verify)");
}

std::string usage_text() {
    return "usage: flowattr COMMAND [OPTIONS]\n"
           "\n"
           "  run    --iface IF[@NETNS]... [--cgroup PATH] [--duration S] [--interval S]\n"
           "         [--output json|table] [--max-flows N] [--limit CGROUP=RATE]...\n"
           "         [--identity auto|lsm|sock-create] [--attach auto|tcx|clsact]\n"
           "         attribute the flows on IF to processes; one JSON object per flow that changed\n"
           "         in each interval (default 5 s), and every flow once more at exit;\n"
           "         --duration 0 (the default): run until SIGINT or SIGTERM\n"
           "  probe  [--json]          kernel features flowattr depends on\n"
           "  load   --check [--full-log]  load every embedded program, print verifier stats, detach\n"
           "  check  [--json] [--full-log] [--load-only] [--unprivileged] [--log-limit BYTES] OBJECT...  load and attach any BPF object's\n"
           "         programs one at a time (OBJECT: a .bpf.o or an executable embedding objects);\n"
           "         each failure named with its class, cause and fix (docs/TROUBLESHOOTING.md);\n"
           "         --unprivileged: as uid 65534 without capabilities, to see what an unprivileged loader gets\n"
           "  causes [--json|--markdown]  the failure classes check names, with cause and fix\n"
           "  verify [--against DIR] [OBJECT.bpf.o...]  check embedded or given BPF objects offline\n"
           "\n"
           "RATE: bytes/s (500K, 10M) or bits/s (8mbit). Exit codes: 0 ok, 1 failure, 2 usage.\n";
}

}  // namespace flowattr::agent
