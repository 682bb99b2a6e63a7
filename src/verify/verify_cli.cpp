#include "verify/verify_cli.h"

#include <cstdio>
#include <nlohmann/json.hpp>

#include "agent/embedded_objects.h"
#include "common/cli_parse.h"
#include "common/error.h"
#include "common/file.h"
#include "common/json_text.h"
#include "verify/sections.h"

namespace flowattr::verify {

namespace {

std::string hex_flags(std::uint32_t v) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "0x%x", v);
    return buf;
}

void print_human(const VerifyResult& r, std::ostream& out) {
    for (const ObjectReport& o : r.objects) {
        out << o.source << "\n  sha256 " << o.sha256 << "\n  license " << (o.license.empty() ? "(none)" : o.license)
            << "\n  BTF kernel floor " << o.btf_kernel_floor.str();
        if (!o.kernel_requirements.empty()) {
            const KernelRequirement& newest = o.kernel_requirements.back();
            out << " (" << newest.feature << ", " << newest.type << ")";
        }
        out << "\n";
        for (const ProgramInfo& p : o.programs) {
            out << "  program " << p.name << "  SEC(\"" << p.section << "\")  ";
            if (p.section_known)
                out << prog_type_name(p.prog_type) << ", expected_attach_type "
                    << expected_attach_name(p.expected_attach_type) << "\n";
            else
                out << "unknown to libbpf 1.4.6\n";
            if (auto note = legacy_section_note(p.section); !note.empty()) out << "    note: " << note << "\n";
        }
        for (const MapInfo& m : o.maps)
            out << "  map " << m.name << "  " << map_type_name(m.type) << "  key " << m.key_size << "B"
                << (m.key_type.empty() ? "" : " (" + m.key_type + ")") << "  value " << m.value_size << "B"
                << (m.value_type.empty() ? "" : " (" + m.value_type + ")") << "  max_entries " << m.max_entries
                << "  flags " << hex_flags(m.map_flags) << "\n";
    }
    if (r.findings.empty()) {
        out << "verify: " << r.objects.size() << " objects, no findings\n";
        return;
    }
    out << "\nfindings:\n";
    for (const Finding& f : r.findings) {
        const auto cause = finding_cause(f);
        out << "  [" << f.check << "] " << (cause ? std::string("(") + diagnose::cause_name(*cause) + ") " : "")
            << f.message << "\n";
        if (cause) out << "      fix: " << diagnose::cause_info(*cause).fix << "\n";
        std::size_t start = 0;
        while (start < f.log.size()) {
            const std::size_t end = f.log.find('\n', start);
            out << "      " << f.log.substr(start, end - start) << "\n";
            if (end == std::string::npos) break;
            start = end + 1;
        }
    }
    out << "verify: " << r.findings.size() << " findings in " << r.objects.size() << " objects\n";
}

void print_json(const VerifyResult& r, std::ostream& out) {
    nlohmann::json objects = nlohmann::json::array();
    for (const ObjectReport& o : r.objects) {
        nlohmann::json programs = nlohmann::json::array();
        for (const ProgramInfo& p : o.programs)
            programs.push_back({{"name", p.name},
                                {"section", p.section},
                                {"section_known", p.section_known},
                                {"prog_type", p.section_known ? prog_type_name(p.prog_type) : ""},
                                {"expected_attach_type", expected_attach_name(p.expected_attach_type)},
                                {"libbpf_attachable", p.section_attachable},
                                {"legacy_note", std::string(legacy_section_note(p.section))}});
        nlohmann::json maps = nlohmann::json::array();
        for (const MapInfo& m : o.maps)
            maps.push_back({{"name", m.name},
                            {"type", map_type_name(m.type)},
                            {"key_size", m.key_size},
                            {"value_size", m.value_size},
                            {"max_entries", m.max_entries},
                            {"map_flags", m.map_flags},
                            {"key_type", m.key_type},
                            {"value_type", m.value_type}});
        nlohmann::json requirements = nlohmann::json::array();
        for (const KernelRequirement& k : o.kernel_requirements)
            requirements.push_back({{"version", k.version.str()}, {"feature", k.feature}, {"type", k.type}});
        objects.push_back({{"name", o.name},
                           {"source", o.source},
                           {"sha256", o.sha256},
                           {"license", o.license},
                           {"btf_kernel_floor", o.btf_kernel_floor.str()},
                           {"kernel_requirements", requirements},
                           {"libbpf_fixups", o.fixups},
                           {"programs", programs},
                           {"maps", maps}});
    }
    nlohmann::json findings = nlohmann::json::array();
    for (const Finding& f : r.findings)
        findings.push_back({{"object", f.object},
                            {"check", f.check},
                            {"class", finding_cause(f) ? nlohmann::json(diagnose::cause_name(*finding_cause(f))) : nullptr},
                            {"message", f.message},
                            {"log", f.log}});
    const nlohmann::json doc = {{"ok", r.findings.empty()}, {"objects", objects}, {"findings", findings}};
    out << json_text(doc, 2) << "\n";
}

}  // namespace

std::optional<diagnose::Cause> finding_cause(const Finding& f) {
    if (f.check == "btf" || (f.check == "kernel" && !f.object.empty())) return diagnose::Cause::btf_rejected;
    if (f.check == "embed") return diagnose::Cause::stale_embed;
    return std::nullopt;
}

VerifyResult run_verify(const VerifyOptions& options) {
    VerifyResult result;
    const bool embedded = options.object_paths.empty();
    if (embedded) {
        for (const auto& o : agent::embedded_objects())
            result.objects.push_back(
                inspect_object(o.name, "embedded:" + o.name, std::string(static_cast<const char*>(o.data), o.size)));
    } else {
        for (const std::string& path : options.object_paths) {
            const std::string name = object_name_from_path(path);
            std::string bytes;
            try {
                bytes = flowattr::read_file(path);
            } catch (const flowattr::Error& e) {
                ObjectReport r;
                r.name = name;
                r.source = path;
                r.findings.push_back({name, "elf", e.what(), {}});
                result.objects.push_back(std::move(r));
                continue;
            }
            result.objects.push_back(inspect_object(name, path, std::move(bytes)));
        }
    }
    for (const ObjectReport& r : result.objects)
        result.findings.insert(result.findings.end(), r.findings.begin(), r.findings.end());

    const std::vector<ProgramExpectation> none;
    const auto& expectations = options.expectations ? *options.expectations : none;
    if (options.expectations) {
        auto f = check_expectations(result.objects, expectations, embedded);
        result.findings.insert(result.findings.end(), f.begin(), f.end());
    }
    auto k = check_kernels(result.objects, expectations, options.kernels);
    result.findings.insert(result.findings.end(), k.begin(), k.end());
    if (options.against_dir) {
        std::vector<EmbeddedBlob> blobs;
        for (const auto& o : agent::embedded_objects())
            blobs.push_back({o.name, std::string_view(static_cast<const char*>(o.data), o.size)});
        auto e = check_embedded_against(blobs, *options.against_dir);
        result.findings.insert(result.findings.end(), e.begin(), e.end());
    }
    return result;
}

int run_verify_cli(const std::vector<std::string>& args, std::ostream& out, std::ostream& err,
                   const KernelListReader& kernels_reader) {
    VerifyOptions options;
    bool json = false;
    std::string against, expect_path, kernels_path;
    auto app = cli::make_app("flowattr verify",
                             "Checks BPF objects without loading them: ELF layout, the kernel's BTF checks (after "
                             "libbpf's fix-ups), libbpf 1.4.6 section names, maps, licence, sha256.");
    app->add_option("OBJECT", options.object_paths, "objects to check (default: the objects embedded in this binary)")
        ->type_name("")
        ->default_str("");
    app->add_option("--against", against, "fail when an embedded object differs from DIR/<name>.bpf.o")
        ->type_name("DIR");
    app->add_option("--expect", expect_path, "check programs against an expectations file (bpf/expectations.txt)")
        ->type_name("FILE");
    app->add_option("--kernels", kernels_path, "flag BTF kinds older kernels of the matrix's kernels.txt reject")
        ->type_name("FILE");
    app->add_flag("--json", json, "machine-readable output");
    app->footer("Exit status: 0 clean, 1 findings, 2 usage error.");
    if (auto done = cli::parse(*app, args, out, err)) return *done;
    if (!against.empty()) options.against_dir = against;
    try {
        if (!expect_path.empty()) options.expectations = parse_expectations(flowattr::read_file(expect_path), expect_path);
        if (!kernels_path.empty()) {
            if (!kernels_reader) {
                err << "flowattr verify: --kernels is not available in this build (no kernels.txt reader wired in)\n";
                return cli::kUsageExit;
            }
            options.kernels = kernels_reader(kernels_path);
        }
    } catch (const flowattr::Error& e) {
        err << "flowattr verify: " << e.what() << "\n";
        return cli::kUsageExit;
    }
    const VerifyResult result = run_verify(options);
    if (json)
        print_json(result, out);
    else
        print_human(result, out);
    return result.findings.empty() ? 0 : 1;
}

int run_verify_cli(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
    return run_verify_cli(args, out, err, nullptr);
}

}  // namespace flowattr::verify
