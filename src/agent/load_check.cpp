#include "agent/load_check.h"

#include <bpf/libbpf.h>

#include <cerrno>
#include <cstdio>
#include <memory>
#include <regex>
#include <sstream>

#include "agent/embedded_objects.h"
#include "agent/libbpf_support.h"
#include "common/error.h"

namespace flowattr::agent {
namespace {

struct ObjectCloser {
    void operator()(bpf_object* obj) const { bpf_object__close(obj); }
};
using ObjectPtr = std::unique_ptr<bpf_object, ObjectCloser>;

ObjectPtr open_embedded(const EmbeddedObject& object) {
    LIBBPF_OPTS(bpf_object_open_opts, opts, .object_name = object.name.c_str());
    bpf_object* obj = bpf_object__open_mem(object.data, object.size, &opts);
    if (!obj) throw Error("cannot open embedded object " + object.name, errno);
    return ObjectPtr(obj);
}

std::string last_line(const std::string& log) {
    std::istringstream in(log);
    std::string line, last;
    while (std::getline(in, line))
        if (!line.empty()) last = line;
    return last;
}

// Loads OBJECT with only PROGRAM enabled, at LOG_LEVEL into a buffer of LOG_SIZE bytes.
int load_one(const EmbeddedObject& object, const std::string& program, std::uint32_t log_level, std::size_t log_size,
             std::string& log_out) {
    ObjectPtr obj = open_embedded(object);
    std::vector<char> buf(log_size, '\0');
    bpf_program* prog;
    bpf_object__for_each_program(prog, obj.get()) {
        bool mine = program == bpf_program__name(prog);
        bpf_program__set_autoload(prog, mine);
        if (mine) {
            bpf_program__set_log_level(prog, log_level);
            bpf_program__set_log_buf(prog, buf.data(), buf.size());
        }
    }
    LibbpfLogCapture capture;
    int ret = bpf_object__load(obj.get());
    log_out = buf.data();
    if (ret < 0 && log_out.empty()) log_out = capture.text();
    return ret;
}

// Programs the agent does without where the kernel lacks what they need (found by the
// probe), and what it does instead: skipped by the load check, not failed.
struct OptionalProgram {
    const char* section_prefix;
    const char* feature;
    const char* what;
    const char* instead;
};
constexpr OptionalProgram kOptionalPrograms[] = {
    {"tcx/", "tcx", "TCX", "the agent attaches the tc pair instead"},
    {"iter/task_file", kFeatureSockFromFile, "bpf_sock_from_file",
     "the agent finds pre-existing sockets through /proc and pidfd_getfd instead"},
};

const OptionalProgram* optional_program(const std::string& section) {
    for (const auto& p : kOptionalPrograms)
        if (section.rfind(p.section_prefix, 0) == 0) return &p;
    return nullptr;
}

}  // namespace

std::uint64_t parse_insns_processed(const std::string& log) {
    static const std::regex pattern(R"(processed (\d+) insns)");
    std::smatch m;
    if (std::regex_search(log, m, pattern)) return std::stoull(m[1]);
    return 0;
}

std::string explain_load_failure(int err, const std::string& log, const std::string& section) {
    static const std::regex unknown_helper(R"(unknown func (bpf_\w+)#(\d+))");
    static const std::regex invalid_helper(R"(invalid func unknown#(\d+))");
    std::smatch m;
    if (std::regex_search(log, m, unknown_helper))
        return "helper " + m[1].str() + " is not available to this program type on this kernel";
    if (std::regex_search(log, m, invalid_helper))
        return "helper #" + m[1].str() + " is unknown to this kernel (newer than the kernel)";
    if (log.find("Invalid type_id") != std::string::npos || log.find("Error loading BTF") != std::string::npos ||
        log.find("BTF is required") != std::string::npos)
        return "the kernel rejected the object's BTF: " + last_line(log);
    if (log.find("failed to find kernel BTF type ID") != std::string::npos)
        return "attach target not found in this kernel's BTF (" + section + ")";
    bool empty_log = last_line(log).empty() || log.find("processed") == std::string::npos;
    if (err == EPERM && empty_log) {
        if (section.rfind("lsm", 0) == 0 || section.rfind("fentry", 0) == 0 || section.rfind("fexit", 0) == 0)
            return "EPERM with an empty verifier log: this kernel's policy (lockdown or a sandbox) refuses " +
                   section + " programs; the verifier never ran";
        return "EPERM with an empty verifier log: missing CAP_BPF/CAP_SYS_ADMIN, or a policy refusal";
    }
    if (err == EINVAL && empty_log)
        return "EINVAL with an empty verifier log: this kernel does not know the program type or the "
               "expected_attach_type that section \"" + section + "\" implies";
    if (err == E2BIG || log.find("BPF program is too large") != std::string::npos)
        return "too complex for this kernel's verifier: " + last_line(log);
    if (err == ENOSPC) return "the verifier log did not fit the buffer";
    return "rejected by the verifier: " + last_line(log);
}

std::vector<ProgramLoadResult> load_check_all(const KernelFeatures& features) {
    std::vector<ProgramLoadResult> results;
    for (const auto& object : embedded_objects()) {
        ObjectPtr listing = open_embedded(object);
        bpf_program* prog;
        bpf_object__for_each_program(prog, listing.get()) {
            ProgramLoadResult r;
            r.object = object.name;
            r.program = bpf_program__name(prog);
            r.section = bpf_program__section_name(prog);
            const OptionalProgram* optional = optional_program(r.section);
            if (optional && !features.has(optional->feature)) {
                r.outcome = LoadOutcome::skipped;
                const FeatureCheck* probed = features.find(optional->feature);
                r.cause = std::string("kernel has no ") + optional->what + " (" +
                          (probed ? probed->detail : std::string("not probed")) + "); " + optional->instead;
                results.push_back(r);
                continue;
            }
            // Statistics only (log level 4): a full log of a passing program is huge.
            int ret = load_one(object, r.program, 4, 1 << 16, r.log);
            if (ret == 0) {
                r.outcome = LoadOutcome::loaded;
                r.insns_processed = parse_insns_processed(r.log);
            } else {
                r.err = -ret;
                std::string full;
                load_one(object, r.program, 1, 16 << 20, full);
                if (!full.empty()) r.log = full;
                r.outcome = LoadOutcome::failed;
                r.cause = explain_load_failure(r.err, r.log, r.section);
            }
            results.push_back(r);
        }
    }
    return results;
}

int print_load_report(const std::vector<ProgramLoadResult>& results, bool full_log, std::ostream& out) {
    int failures = 0;
    char line[512];
    for (const auto& r : results) {
        const char* state = r.outcome == LoadOutcome::loaded ? "ok" : r.outcome == LoadOutcome::skipped ? "skip" : "FAIL";
        std::string detail = r.outcome == LoadOutcome::loaded
                                 ? std::to_string(r.insns_processed) + " insns processed"
                                 : r.outcome == LoadOutcome::skipped ? r.cause
                                                                     : describe_errno("load", r.err) + ": " + r.cause;
        std::snprintf(line, sizeof(line), "%-4s %-14s %-24s %-26s %s\n", state, r.object.c_str(), r.program.c_str(),
                      r.section.c_str(), detail.c_str());
        out << line;
        if (r.outcome == LoadOutcome::failed) {
            failures++;
            out << "---- verifier log: " << r.object << "/" << r.program << " ----\n"
                << (r.log.empty() ? "(empty)\n" : r.log) << "---- end of log ----\n";
        } else if (full_log && !r.log.empty()) {
            out << r.log;
        }
    }
    out << results.size() << " programs: " << (results.size() - std::size_t(failures)) << " loaded or skipped, "
        << failures << " failed\n";
    return failures ? 1 : 0;
}

}  // namespace flowattr::agent
