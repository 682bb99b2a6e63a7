#include "agent/cli.h"

#include <linux/magic.h>
#include <signal.h>
#include <sys/stat.h>
#include <grp.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>

#include <nlohmann/json.hpp>

#include "agent/agent.h"
#include "agent/libbpf_support.h"
#include "agent/load_check.h"
#include "agent/object_check.h"
#include "agent/probe.h"
#include "common/cli_parse.h"
#include "common/error.h"
#include "common/file.h"
#include "common/json_text.h"
#include "diagnose/cause.h"

namespace flowattr::agent {
namespace {

std::atomic<bool> stop_requested{false};

void request_stop(int) { stop_requested.store(true); }

void install_stop_handlers() {
    struct sigaction sa {};
    sa.sa_handler = request_stop;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;  // no SA_RESTART: the ring-buffer poll returns at once
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);
    // A closed stdout must end the run through the normal path (detach, remove filters),
    // not kill the process with filters still attached.
    signal(SIGPIPE, SIG_IGN);
}

bool is_cgroup2_dir(const std::string& path) {
    struct statfs fs {};
    struct stat st {};
    return statfs(path.c_str(), &fs) == 0 && fs.f_type == CGROUP2_SUPER_MAGIC && stat(path.c_str(), &st) == 0 &&
           S_ISDIR(st.st_mode);
}

// Unknown interfaces and cgroups are usage errors (exit 2), found before anything loads. A
// directory that exists but is not in a cgroup v2 hierarchy is as unknown as a missing one.
std::string check_targets(const RunOptions& o) {
    if (!o.cgroup_root.empty() && !is_cgroup2_dir(o.cgroup_root))
        return "unknown cgroup " + o.cgroup_root + " (not a cgroup v2 directory)";
    const std::string root = o.cgroup_root.empty() ? find_cgroup2_mount() : o.cgroup_root;
    for (const auto& limit : o.limits) {
        if (limit.cgroup[0] != '/' && root.empty())
            return "unknown cgroup " + limit.cgroup + " (no cgroup v2 mount to resolve it against)";
        std::string path = limit.cgroup[0] == '/' ? limit.cgroup : root + "/" + limit.cgroup;
        if (!is_cgroup2_dir(path)) return "unknown cgroup " + path + " (not a cgroup v2 directory)";
    }
    return {};
}

int run_agent(const RunOptions& options, std::ostream& out, std::ostream& err) {
    if (auto missing = missing_privileges()) {
        err << "flowattr: " << *missing << "\n";
        return 1;
    }
    if (auto bad = check_targets(options); !bad.empty()) {
        err << "flowattr: " << bad << "\n";
        return 2;
    }
    install_stop_handlers();
    try {
        Agent agent(options);
        err << agent.status_text() << std::flush;
        agent.run(out, stop_requested);
        err << "flowattr: " << counters_to_text(agent.counters()) << "\n";
        return 0;
    } catch (const Error& e) {
        err << "flowattr: " << e.what() << "\n";
        if (!e.log().empty()) err << e.log() << (e.log().back() == '\n' ? "" : "\n");
        return dynamic_cast<const BadInputError*>(&e) ? 2 : 1;
    }
}

std::string causes_text(CausesFormat format) {
    if (format == CausesFormat::markdown) return diagnose::troubleshooting_markdown();
    if (format == CausesFormat::json) {
        nlohmann::json rows = nlohmann::json::array();
        for (const auto& c : diagnose::cause_table())
            rows.push_back({{"class", diagnose::cause_name(c.cause)}, {"title", c.title}, {"matched_on", c.signature},
                            {"cause", c.cause_text}, {"fix", c.fix}, {"offline", c.offline}});
        return json_text(rows, 2) + "\n";
    }
    std::string text;
    for (const auto& c : diagnose::cause_table())
        text += std::string(diagnose::cause_name(c.cause)) + std::string(26 - std::min<std::size_t>(25, std::strlen(diagnose::cause_name(c.cause))), ' ') + c.title + "\n";
    return text;
}

// Bad input is refused whole before anything loads: one line naming the file, exit 2.
int run_check(const CheckCommandOptions& o, const ObjectReader& read_objects, std::ostream& out, std::ostream& err) {
    if (!read_objects) {
        err << "flowattr: check is not part of this binary\n";
        return 1;
    }
    if (auto twice = repeated_path(o.objects)) {
        err << "flowattr check: " << twice->message(o.objects) << "\n";
        return 2;
    }
    std::vector<FileObject> objects;
    // Two files of one name (x86/probe.bpf.o, arm/probe.bpf.o) would report under one
    // object name; each is named with the directories that tell it apart instead.
    const std::vector<std::string> dirs = distinguishing_dirs(o.objects);
    for (std::size_t i = 0; i < o.objects.size(); i++) {
        try {
            auto found = read_objects(o.objects[i]);
            for (auto& object : found) object.name = dirs[i] + object.name;
            objects.insert(objects.end(), found.begin(), found.end());
        } catch (const std::exception& e) {
            err << "flowattr check: " << e.what() << "\n";
            return 2;
        }
    }
    {
        std::vector<ObjectBytes> listed;
        for (const auto& object : objects) listed.push_back(ObjectBytes{object.name, object.origin, object.bytes});
        const std::vector<std::string> unmatched = unmatched_section_types(o.section_types, listed);
        for (const auto& line : unmatched) err << "flowattr check: " << line << "\n";
        if (!unmatched.empty()) return 2;
    }
    if (o.unprivileged) {
        // Every capability goes with the switch from uid 0 to a non-zero uid (no keep-caps).
        if (::setgroups(0, nullptr) != 0 || ::setresgid(65534, 65534, 65534) != 0 || ::setresuid(65534, 65534, 65534) != 0) {
            err << "flowattr check: " << describe_errno("cannot drop to uid 65534", errno) << "\n";
            return 1;
        }
    }
    if (auto missing = missing_privileges())
        err << "flowattr: " << *missing << "; loads below will fail for that reason (class not-permitted)\n";
    CheckOptions options;
    options.attach = !o.load_only;
    options.size_maps = o.size_maps;
    options.section_types = o.section_types;
    ObjectChecker checker(options);
    std::vector<ProgramCheck> results;
    for (const auto& object : objects) {
        auto r = checker.check(ObjectBytes{object.name, object.origin, object.bytes});
        if (o.json)
            for (const auto& c : r) out << diagnose::program_check_json(c, o.log_limit) << "\n" << std::flush;
        results.insert(results.end(), r.begin(), r.end());
    }
    if (!o.json) return print_check_report(results, o.full_log, out);
    return std::any_of(results.begin(), results.end(), [](const ProgramCheck& c) { return c.status == CheckStatus::fail; })
               ? 1 : 0;
}

}  // namespace

int run_flowattr_cli(const std::vector<std::string>& args, std::ostream& out, std::ostream& err,
                     const VerifyCommand& verify, const ObjectReader& read_objects) {
    ParseResult parsed = parse_command_line(args);
    if (parsed.error) {
        // One line: the usage text is for --help, not to bury what was wrong.
        err << parsed.error->message << "\n";
        return cli::kUsageExit;
    }
    const ParsedCommand& cmd = *parsed.command;
    install_libbpf_logging(false);
    switch (cmd.command) {
    case Command::help:
        out << cmd.help_text;
        return 0;
    case Command::version:
        out << version_text();
        return 0;
    case Command::run:
        return run_agent(cmd.run, out, err);
    case Command::probe: {
        if (auto missing = missing_privileges()) err << "flowattr: " << *missing << "; probes below may fail for that reason\n";
        KernelFeatures f = probe_kernel_features();
        out << (cmd.probe.json ? features_to_json(f) + "\n" : features_to_text(f));
        return 0;
    }
    case Command::load: {
        if (auto missing = missing_privileges()) {
            err << "flowattr: " << *missing << "\n";
            return 1;
        }
        try {
            const std::vector<ProgramCheck> results = load_check_all(
                cmd.load.features.empty() ? probe_kernel_features() : read_features(cmd.load.features));
            if (!cmd.load.json_out.empty()) {
                std::string lines;
                for (const auto& r : results) lines += diagnose::program_check_json(r) + "\n";
                // Whole or not at all: a reader never sees a check cut short.
                write_file_atomic(cmd.load.json_out, lines);
            }
            return print_check_report(results, cmd.load.full_log, out);
        } catch (const Error& e) {
            err << "flowattr: " << e.what() << "\n";
            return 1;
        }
    }
    case Command::check:
        return run_check(cmd.check, read_objects, out, err);
    case Command::causes:
        out << causes_text(cmd.causes);
        return 0;
    case Command::verify:
        if (!verify) {
            err << "flowattr: verify is not part of this binary\n";
            return 1;
        }
        return verify(cmd.verify_args, out, err);
    }
    return 1;
}

}  // namespace flowattr::agent
