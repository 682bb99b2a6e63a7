#include "verify/bpf_object.h"

#include <algorithm>

#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include "agent/libbpf_support.h"
#include "common/error.h"
#include "diagnose/cause.h"
#include "common/sha256.h"
#include "verify/byte_reader.h"
#include "verify/sections.h"

namespace flowattr::verify {

namespace {

constexpr int kMaxTypeDepth = 32;  // like the kernel's MAX_RESOLVE_DEPTH: stops cycles

bool is_modifier(BtfKind k) {
    return k == BtfKind::Typedef || k == BtfKind::Volatile || k == BtfKind::Const || k == BtfKind::Restrict ||
           k == BtfKind::TypeTag;
}

// Follows modifiers (and typedefs) to the type that carries the meaning.
const BtfType* skip_modifiers(const Btf& btf, std::uint32_t id) {
    const BtfType* t = btf.type_by_id(id);
    for (int depth = 0; t && is_modifier(t->kind()) && depth < kMaxTypeDepth; depth++) t = btf.type_by_id(t->type());
    return t;
}

std::uint64_t type_size(const Btf& btf, std::uint32_t id, int depth = 0) {
    const BtfType* t = btf.type_by_id(id);
    if (!t || depth > kMaxTypeDepth) return 0;
    switch (t->kind()) {
    case BtfKind::Int:
    case BtfKind::Struct:
    case BtfKind::Union:
    case BtfKind::Enum:
    case BtfKind::Enum64:
    case BtfKind::Float:
    case BtfKind::Datasec:
        return t->size();
    case BtfKind::Ptr:
        return 8;
    case BtfKind::Array:
        return std::uint64_t(t->array_nelems) * type_size(btf, t->array_type, depth + 1);
    case BtfKind::Var:
        return type_size(btf, t->type(), depth + 1);
    default:
        return is_modifier(t->kind()) ? type_size(btf, t->type(), depth + 1) : 0;
    }
}

// btf__align_of(): what libbpf lays .kconfig externs out by.
std::string type_text(const Btf& btf, std::uint32_t id, int depth) {
    if (id == 0) return "void";
    const BtfType* t = btf.type_by_id(id);
    if (!t) return "<bad type id " + std::to_string(id) + ">";
    if (depth > kMaxTypeDepth) return "...";
    const std::string name = btf.name(t->name_off);
    const std::string or_anon = name.empty() ? "(anon)" : name;
    switch (t->kind()) {
    case BtfKind::Struct:
        return "struct " + or_anon;
    case BtfKind::Union:
        return "union " + or_anon;
    case BtfKind::Enum:
    case BtfKind::Enum64:
        return "enum " + or_anon;
    case BtfKind::Fwd:
        return (t->kflag() ? "union " : "struct ") + or_anon;
    case BtfKind::Ptr:
        return type_text(btf, t->type(), depth + 1) + " *";
    case BtfKind::Const:
        return "const " + type_text(btf, t->type(), depth + 1);
    case BtfKind::Volatile:
        return "volatile " + type_text(btf, t->type(), depth + 1);
    case BtfKind::Restrict:
    case BtfKind::TypeTag:
        return type_text(btf, t->type(), depth + 1);
    case BtfKind::Array:
        return type_text(btf, t->array_type, depth + 1) + "[" + std::to_string(t->array_nelems) + "]";
    case BtfKind::FuncProto:
        return "function";
    default:
        return or_anon;
    }
}

// __uint(name, N) is encoded as "int (*name)[N]": a pointer to an array of N elements.
std::optional<std::uint32_t> uint_member(const Btf& btf, const BtfMember& m) {
    const BtfType* ptr = btf.type_by_id(m.type);
    if (!ptr || ptr->kind() != BtfKind::Ptr) return std::nullopt;
    const BtfType* arr = btf.type_by_id(ptr->type());
    if (!arr || arr->kind() != BtfKind::Array) return std::nullopt;
    return arr->array_nelems;
}

std::string section_license(const ElfFile& elf) {
    const ElfSection* s = elf.find_section("license");
    if (!s) return {};
    const std::string_view d = elf.section_data(*s);
    return std::string(d.substr(0, d.find('\0')));
}

// Which part of a BTF blob OFFSET falls in, for findings not about one type.
std::string btf_region(std::string_view btf, std::uint64_t offset) {
    if (btf.size() < 24) return "header";
    const std::uint64_t hdr_len = load_le32(btf, 4);
    const std::uint64_t str_start = hdr_len + load_le32(btf, 16);
    if (offset < hdr_len) return "header";
    return offset >= str_start ? "string section" : "type section";
}

// Programs as bpf_object__add_programs() finds them; what libbpf refuses there becomes a
// "section" finding worded as libbpf's own warning.
std::vector<ProgramInfo> find_programs(const ElfFile& elf, const std::string& object, std::vector<Finding>& findings) {
    std::vector<ProgramInfo> out;
    for (const ElfSymbol& sym : elf.symbols()) {
        if (sym.type() != kSttFunc || sym.section_index == 0 || sym.section_index >= elf.sections().size()) continue;
        const ElfSection& sec = elf.sections()[sym.section_index];
        // Functions in .text are subprograms; every function in another executable section
        // is an entry point of its own, which is how libbpf splits a section into programs.
        if (!sec.executable() || sec.name == ".text") continue;
        const std::string where = elf.display_name() + ": sec '" + sec.name + "': program '" + sym.name + "'";
        if (sym.value > sec.size || sym.size > sec.size - sym.value)
            findings.push_back({object, "section", where + " at offset " + std::to_string(sym.value) +
                                                       " crosses section boundary (libbpf 1.4.6 refuses the object)",
                                {}});
        if (sym.binding() == kStbLocal)
            findings.push_back(
                {object, "section", where + " is static and not supported (libbpf 1.4.6 refuses the object)", {}});
        ProgramInfo p;
        p.name = sym.name;
        p.section = sec.name;
        if (const auto meaning = section_meaning(sec.name)) {
            p.section_known = true;
            p.prog_type = meaning->prog_type;
            p.expected_attach_type = meaning->expected_attach_type;
            p.section_attachable = meaning->attachable;
        }
        out.push_back(std::move(p));
    }
    return out;
}

}  // namespace

std::string btf_type_text(const Btf& btf, std::uint32_t id) { return type_text(btf, id, 0); }

std::string object_name_from_path(const std::string& path) {
    std::string base = path.substr(path.find_last_of('/') == std::string::npos ? 0 : path.find_last_of('/') + 1);
    for (const char* suffix : {".bpf.o", ".o"}) {
        const std::string s = suffix;
        if (base.size() > s.size() && base.compare(base.size() - s.size(), s.size(), s) == 0) {
            base.resize(base.size() - s.size());
            break;
        }
    }
    return base;
}

std::vector<MapInfo> btf_maps(const Btf& btf) {
    std::vector<MapInfo> out;
    for (const BtfType& sec : btf.types()) {
        if (sec.kind() != BtfKind::Datasec || btf.name(sec.name_off) != ".maps") continue;
        for (const BtfVarSecinfo& vsi : sec.secinfos) {
            const BtfType* var = btf.type_by_id(vsi.type);
            if (!var || var->kind() != BtfKind::Var) continue;
            MapInfo map;
            map.name = btf.name(var->name_off);
            const BtfType* def = skip_modifiers(btf, var->type());
            if (!def || def->kind() != BtfKind::Struct) {
                out.push_back(std::move(map));
                continue;
            }
            for (const BtfMember& m : def->members) {
                const std::string field = btf.name(m.name_off);
                if (field == "key" || field == "value") {
                    const BtfType* ptr = btf.type_by_id(m.type);
                    if (!ptr || ptr->kind() != BtfKind::Ptr) continue;
                    const std::uint32_t size = static_cast<std::uint32_t>(type_size(btf, ptr->type()));
                    (field == "key" ? map.key_size : map.value_size) = size;
                    (field == "key" ? map.key_type : map.value_type) = btf_type_text(btf, ptr->type());
                    continue;
                }
                const auto v = uint_member(btf, m);
                if (!v) continue;
                if (field == "type") map.type = *v;
                else if (field == "max_entries") map.max_entries = *v;
                else if (field == "map_flags") map.map_flags = *v;
                else if (field == "key_size") map.key_size = *v;
                else if (field == "value_size") map.value_size = *v;
            }
            out.push_back(std::move(map));
        }
    }
    return out;
}

// The .BTF libbpf hands the kernel, or nullopt with WHY when libbpf cannot open the object.
std::optional<std::string> libbpf_opened_btf(const std::string& name, std::string_view bytes, std::string& why) {
    agent::LibbpfLogCapture log;
    agent::BpfObject obj = agent::open_bpf_object(name, bytes);
    if (!obj) {
        const int err = errno;
        why = describe_errno("libbpf 1.4.6 cannot open it", err);
        if (!log.text().empty()) why += ": " + diagnose::libbpf_log_one_line(log.text());
        return std::nullopt;
    }
    const struct btf* btf = bpf_object__btf(obj.get());
    if (!btf) {
        why = "libbpf 1.4.6 opened it without BTF";
        return std::nullopt;
    }
    __u32 size = 0;
    const void* data = btf__raw_data(btf, &size);
    if (!data) {
        why = "libbpf 1.4.6 cannot serialise its BTF";
        return std::nullopt;
    }
    return std::string(static_cast<const char*>(data), size);
}

std::vector<std::string> btf_changes(const Btf& before, const Btf& after) {
    std::vector<std::string> notes;
    const auto linkage = [](std::uint32_t l) -> std::string {
        switch (l) {
            case kBtfVarStatic: return "static";
            case kBtfVarGlobalAllocated: return "global";
            case kBtfVarGlobalExtern: return "extern";
        }
        return std::to_string(l);
    };
    for (const BtfType& t : after.types()) {
        const std::string label = "[" + std::to_string(t.id) + "] " + btf_kind_name(t.kind_raw()) + " " + after.name(t.name_off);
        const BtfType* old = before.type_by_id(t.id);
        if (!old || t.id >= before.end_id()) {
            notes.push_back(label + ": added by libbpf");
            continue;
        }
        if (t.kind() == BtfKind::Var && t.var_linkage != old->var_linkage)
            notes.push_back(label + ": linkage " + linkage(old->var_linkage) + " -> " + linkage(t.var_linkage));
        if (t.kind() == BtfKind::Var && t.type() != old->type())
            notes.push_back(label + ": type [" + std::to_string(old->type()) + "] -> [" + std::to_string(t.type()) + "]");
        if (t.kind() == BtfKind::Func && t.vlen() != old->vlen())
            notes.push_back(label + ": linkage " + linkage(old->vlen()) + " -> " + linkage(t.vlen()));
        if (t.kind() != BtfKind::Datasec) continue;
        const std::string sec = "DATASEC " + after.name(t.name_off);
        if (t.size() != old->size()) notes.push_back(sec + ": size " + std::to_string(old->size()) + " -> " + std::to_string(t.size()));
        std::size_t moved = 0;
        for (std::size_t v = 0; v < t.secinfos.size() && v < old->secinfos.size(); v++)
            moved += t.secinfos[v].offset != old->secinfos[v].offset || t.secinfos[v].type != old->secinfos[v].type ||
                     t.secinfos[v].size != old->secinfos[v].size;
        if (moved) notes.push_back(sec + ": offsets of " + std::to_string(moved) + " variable(s) set");
    }
    return notes;
}

ObjectReport inspect_object(const std::string& name, const std::string& display_name, std::string bytes) {
    ObjectReport report;
    report.name = name;
    report.source = display_name;
    report.sha256 = flowattr::sha256_hex(bytes);
    const auto fail = [&](std::string message) {
        report.findings.push_back({name, "elf", std::move(message), {}});
        return report;
    };
    std::optional<ElfFile> elf;
    try {
        elf.emplace(display_name, std::move(bytes));
    } catch (const flowattr::Error& e) {
        return fail(e.what());
    }
    report.license = section_license(*elf);
    report.programs = find_programs(*elf, name, report.findings);
    for (const ProgramInfo& p : report.programs)
        if (!p.section_known)
            report.findings.push_back({name, "section",
                                       display_name + ": program " + p.name + " is in section \"" + p.section +
                                           "\", which libbpf 1.4.6 does not recognise (no section_defs[] entry)",
                                       {}});

    const ElfSection* btf_sec = elf->find_section(".BTF");
    if (!btf_sec)
        return fail(display_name + ": no .BTF section among the " + std::to_string(elf->sections().size()) +
                    " section headers at offset " + hex(elf->sections().empty() ? 0 : elf->sections()[0].header_offset) +
                    " (libbpf needs BTF for BTF-defined maps and CO-RE)");
    const std::string_view raw = elf->section_data(*btf_sec);
    BtfCheck check = check_btf(raw);
    // What the kernel is handed is libbpf's BTF after open (bpf_object__open_mem fills in
    // DATASEC sizes and VAR offsets from the ELF and lays out the .kconfig/.ksyms externs),
    // so that is what the kernel's checks judge. An object libbpf cannot open is judged raw.
    std::string why_raw;
    if (const auto opened = libbpf_opened_btf(name, elf->bytes(), why_raw)) {
        BtfCheck opened_check = check_btf(*opened);
        if (opened_check.btf) {
            if (check.btf) report.fixups = btf_changes(*check.btf, *opened_check.btf);
            check = std::move(opened_check);
        }
    } else {
        report.fixups.push_back(why_raw + "; the raw .BTF is checked");
    }
    for (const BtfFinding& f : check.findings) {
        const std::string what = f.type_id ? "type [" + std::to_string(f.type_id) + "]" : btf_region(raw, f.btf_offset);
        report.findings.push_back({name, "btf",
                                   display_name + ": .BTF " + what + " at offset " + hex(btf_sec->offset + f.btf_offset) +
                                       " (.BTF+" + hex(f.btf_offset) + ") is rejected by the kernel's BTF checks",
                                   f.log});
    }
    report.btf = check.btf;
    if (check.btf) {
        report.maps = btf_maps(*check.btf);
        report.kernel_requirements = btf_kernel_requirements(*check.btf);
    }
    report.btf_kernel_floor = kernel_floor(report.kernel_requirements);
    return report;
}

}  // namespace flowattr::verify
