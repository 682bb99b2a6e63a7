#pragma once
// Command-line model of `flowattr`: parsing and validation only (declared with CLI11, the
// help generated from the same definitions), no side effects, so the unit tests can pin
// every accepted and rejected argument.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "agent/object_check.h"

namespace flowattr::agent {

enum class OutputFormat { json, table };
enum class IdentityMode { automatic, lsm, sock_create };
// How the flow programs attach: TCX links where the probe finds them (auto), or forced.
enum class AttachMode { automatic, tcx, clsact };

// An interface to watch, optionally inside another network namespace
// ("veth0@/run/netns/blue" or "veth0@blue" for /run/netns/blue).
struct InterfaceSpec {
    std::string name;
    std::string netns_path;  // empty: the agent's own namespace
};

// "--limit CGROUP=RATE": an egress rate limit for one cgroup.
struct RateLimitSpec {
    std::string cgroup;  // absolute, or relative to the watched cgroup root
    std::uint64_t bytes_per_sec = 0;
};

struct RunOptions {
    std::vector<InterfaceSpec> interfaces;
    std::string cgroup_root;  // empty: the cgroup2 mount found in /proc/self/mounts
    double duration_s = 0;    // 0: until SIGINT/SIGTERM
    double interval_s = 5;
    // How long an ended TCP flow stays in the table after its last packet: TCP's TIME_WAIT
    // (60 s in Linux), in which the last ACKs and retransmitted FINs still arrive.
    double ended_grace_s = 60;
    OutputFormat output = OutputFormat::json;
    std::uint32_t max_flows = 65536;
    std::vector<RateLimitSpec> limits;
    // false (--no-cgroup-accounting): no cgroup_skb programs, so no "cgroup" records and no
    // --limit, and two fewer programs on every packet's path.
    bool cgroup_accounting = true;
    IdentityMode identity = IdentityMode::automatic;
    AttachMode attach = AttachMode::automatic;
};

struct ProbeOptions {
    bool json = false;
};

struct LoadOptions {
    bool check = false;
    bool full_log = false;  // print the whole verifier log even on success
    std::string features;   // `flowattr probe --json`'s output to use instead of probing again ("": probe)
    std::string json_out;   // also each program's result as a JSON line to this file ("": none)
};

// `flowattr check OBJECT...`: load and attach any BPF object's programs one at a time.
struct CheckCommandOptions {
    bool json = false;       // one JSON line per program (docs/OUTPUT.md) instead of the report
    bool full_log = false;   // every verifier log, passes too
    bool load_only = false;  // no attach
    bool unprivileged = false;  // drop to uid/gid 65534 and no capabilities after reading the objects
    bool size_maps = false;     // size the maps an object leaves for its loader (CheckOptions::size_maps)
    std::vector<SectionType> section_types;  // --section-type SECTION=AS (CheckOptions::section_types)
    std::size_t log_limit = 0;  // --json: keep each log within this many bytes (0: whole)
    std::vector<std::string> objects;
};

// `flowattr causes`: the cause table, as text, JSON or the docs/TROUBLESHOOTING.md Markdown.
enum class CausesFormat { text, json, markdown };

enum class Command { run, probe, load, check, causes, verify, help, version };

struct ParsedCommand {
    Command command = Command::help;
    RunOptions run;
    ProbeOptions probe;
    LoadOptions load;
    CheckCommandOptions check;
    CausesFormat causes = CausesFormat::text;
    std::vector<std::string> verify_args;  // handed to the verify library untouched
    std::string help_text;                  // Command::help: the help asked for
};

// A rejected command line; the message is one line naming the command and the offending
// argument.
struct UsageError {
    std::string message;
};

// Returns the command or a UsageError; never throws for bad input.
struct ParseResult {
    std::optional<ParsedCommand> command;
    std::optional<UsageError> error;
};
ParseResult parse_command_line(const std::vector<std::string>& args);

// "10M" (bytes/s, powers of 1024), "8mbit" (bits/s, powers of 1000), "1500".
std::optional<std::uint64_t> parse_rate(const std::string& text);
InterfaceSpec parse_interface_spec(const std::string& text);
// The interface as a person names it, IF or IF@NETNS as --iface takes it (a namespace under
// /run/netns by its name): what the table and the messages show, so that two same-named
// interfaces in two namespaces stay apart there as they do in JSON (netns).
std::string interface_label(const InterfaceSpec& spec);

// "flowattr 0.1.0": the version of CMake's project().
std::string version_text();

}  // namespace flowattr::agent
