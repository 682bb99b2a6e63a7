#include "verify/expectations.h"

#include <algorithm>
#include <sstream>

#include "common/error.h"
#include "verify/sections.h"

namespace flowattr::verify {

namespace {

const char* const kAttachMethods[] = {"link", "tc-netlink", "none"};

const ProgramExpectation* find_expectation(const std::vector<ProgramExpectation>& expectations,
                                           const std::string& object, const std::string& program) {
    for (const auto& e : expectations)
        if (e.object == object && e.program == program) return &e;
    return nullptr;
}

// What the kernel prints when a feature is missing, for the kernel-list finding.
std::string old_kernel_message(const KernelRequirement& r) {
    if (r.feature == "ENUM kind_flag (signed enum)") return "\"Invalid btf_info kind_flag\"";
    if (r.feature == "global FUNC linkage") return "\"vlen != 0\"";
    for (std::uint32_t kind = 1; kind <= kBtfKindMax; kind++)
        if (r.feature == btf_kind_name(kind)) return "\"Invalid kind:" + std::to_string(kind) + "\"";
    return "a rejection";
}

}  // namespace

std::vector<ProgramExpectation> parse_expectations(const std::string& text, const std::string& file_name) {
    std::vector<ProgramExpectation> out;
    std::istringstream in(text);
    std::string line;
    int number = 0;
    while (std::getline(in, line)) {
        number++;
        const std::string content = line.substr(0, line.find('#'));
        std::istringstream fields(content);
        std::vector<std::string> f;
        for (std::string w; fields >> w;) f.push_back(w);
        if (f.empty()) continue;
        const std::string where = file_name + ":" + std::to_string(number) + ": ";
        if (f.size() != 7)
            throw flowattr::Error(where + "expected 7 fields (object program section prog_type "
                                          "expected_attach_type attach min_kernel), found " +
                                  std::to_string(f.size()));
        ProgramExpectation e;
        e.object = f[0];
        e.program = f[1];
        e.section = f[2];
        const auto prog_type = prog_type_from_name(f[3]);
        if (!prog_type) throw flowattr::Error(where + "unknown program type \"" + f[3] + "\"");
        e.prog_type = *prog_type;
        if (!expected_attach_from_name(f[4], e.expected_attach_type))
            throw flowattr::Error(where + "unknown expected_attach_type \"" + f[4] + "\"");
        if (std::find(std::begin(kAttachMethods), std::end(kAttachMethods), f[5]) == std::end(kAttachMethods))
            throw flowattr::Error(where + "unknown attach method \"" + f[5] + "\" (link, tc-netlink or none)");
        e.attach = f[5];
        const auto version = KernelVersion::parse(f[6]);
        if (!version) throw flowattr::Error(where + "min_kernel \"" + f[6] + "\" is not a version like 5.10");
        e.min_kernel = *version;
        e.line = number;
        if (find_expectation(out, e.object, e.program))
            throw flowattr::Error(where + "second line for " + e.object + " " + e.program);
        out.push_back(std::move(e));
    }
    return out;
}

std::vector<Finding> check_expectations(const std::vector<ObjectReport>& reports,
                                        const std::vector<ProgramExpectation>& expectations, bool all_objects) {
    std::vector<Finding> out;
    const auto add = [&](const std::string& object, std::string message) {
        out.push_back({object, "expect", std::move(message), {}});
    };
    for (const ObjectReport& r : reports) {
        for (const ProgramInfo& p : r.programs) {
            const std::string who = r.source + ": program " + p.name;
            const ProgramExpectation* e = find_expectation(expectations, r.name, p.name);
            if (!e) {
                add(r.name, who + " (section \"" + p.section + "\") has no expectations line");
                continue;
            }
            const std::string at = " (expectations line " + std::to_string(e->line) + ")";
            if (p.section != e->section)
                add(r.name, who + " is in section \"" + p.section + "\", expected \"" + e->section + "\"" + at);
            if (p.section_known && p.prog_type != e->prog_type)
                add(r.name, who + ": libbpf 1.4.6 loads it as " + prog_type_name(p.prog_type) + ", expected " +
                                prog_type_name(e->prog_type) + at);
            if (p.section_known && p.expected_attach_type != e->expected_attach_type)
                add(r.name, who + ": section \"" + p.section + "\" gives expected_attach_type " +
                                expected_attach_name(p.expected_attach_type) + ", expected " +
                                expected_attach_name(e->expected_attach_type) + at);
            if (p.section_known && e->attach == "link" && !p.expected_attach_type)
                add(r.name, who + ": section \"" + p.section +
                                "\" leaves expected_attach_type 0, but the program is attached through a bpf_link; "
                                "the kernel's link_create checks the attach type against it — use a section that "
                                "sets it (e.g. tcx/ingress, cgroup_skb/egress)" + at);
            if (e->min_kernel < r.btf_kernel_floor) {
                const KernelRequirement& newest = r.kernel_requirements.back();
                add(r.name, who + " is expected to load on " + e->min_kernel.str() + " but the object's BTF uses " +
                                newest.feature + " (" + newest.type + "), first accepted by " +
                                newest.version.str() + at);
            }
        }
        for (const ProgramExpectation& e : expectations) {
            if (e.object != r.name) continue;
            const bool present = std::any_of(r.programs.begin(), r.programs.end(),
                                             [&](const ProgramInfo& p) { return p.name == e.program; });
            if (!present)
                add(r.name, r.source + ": expected program " + e.program + " (expectations line " +
                                std::to_string(e.line) + ") is not in the object");
        }
    }
    if (all_objects) {
        std::vector<std::string> reported;
        for (const ProgramExpectation& e : expectations) {
            const bool seen = std::any_of(reports.begin(), reports.end(),
                                          [&](const ObjectReport& r) { return r.name == e.object; });
            if (seen || std::find(reported.begin(), reported.end(), e.object) != reported.end()) continue;
            reported.push_back(e.object);
            add(e.object, "object " + e.object + " (expectations line " + std::to_string(e.line) +
                              ") is not among the verified objects");
        }
    }
    return out;
}

std::vector<Finding> check_kernels(const std::vector<ObjectReport>& reports,
                                   const std::vector<ProgramExpectation>& expectations, const KernelList& kernels) {
    std::vector<Finding> out;
    for (const auto& [kernel_name, kernel_version] : kernels) {
        const auto version = KernelVersion::parse(kernel_version);
        if (!version) {
            out.push_back({"", "kernel",
                           "kernel list entry " + kernel_name + " has version \"" + kernel_version +
                               "\", which is not a version like 6.1",
                           {}});
            continue;
        }
        for (const ObjectReport& r : reports) {
            if (!(*version < r.btf_kernel_floor)) continue;
            bool expected_here = true;
            if (std::any_of(expectations.begin(), expectations.end(), [&](const auto& e) { return e.object == r.name; }))
                expected_here = std::any_of(expectations.begin(), expectations.end(), [&](const auto& e) {
                    return e.object == r.name && !(*version < e.min_kernel);
                });
            if (!expected_here) continue;
            for (const KernelRequirement& req : r.kernel_requirements) {
                if (!(*version < req.version)) continue;
                out.push_back({r.name, "kernel",
                               r.source + ": BTF uses " + req.feature + " (" + req.type + "), first accepted by " +
                                   req.version.str() + "; kernel " + kernel_name + " (" + kernel_version +
                                   ") answers BPF_BTF_LOAD with " + old_kernel_message(req) +
                                   " unless libbpf rewrites the BTF for it (bpf_object__sanitize_btf)",
                               {}});
            }
        }
    }
    return out;
}

}  // namespace flowattr::verify
