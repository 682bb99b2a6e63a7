#include "verify/bpf_object.h"

#include <algorithm>

#include "common/error.h"
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
std::uint64_t type_align(const Btf& btf, std::uint32_t id, int depth = 0) {
    const BtfType* t = btf.type_by_id(id);
    if (!t || depth > kMaxTypeDepth) return 1;
    switch (t->kind()) {
    case BtfKind::Int:
    case BtfKind::Enum:
    case BtfKind::Enum64:
    case BtfKind::Float:
        return std::min<std::uint64_t>(t->size(), 8);
    case BtfKind::Ptr:
        return 8;
    case BtfKind::Array:
        return type_align(btf, t->array_type, depth + 1);
    case BtfKind::Struct:
    case BtfKind::Union: {
        std::uint64_t align = 1;
        for (const BtfMember& m : t->members) align = std::max(align, type_align(btf, m.type, depth + 1));
        return align;
    }
    default:
        return is_modifier(t->kind()) ? type_align(btf, t->type(), depth + 1) : 1;
    }
}

void write_secinfos(std::string& out, const BtfType& datasec, std::vector<BtfVarSecinfo> vars) {
    std::stable_sort(vars.begin(), vars.end(),
                     [](const BtfVarSecinfo& a, const BtfVarSecinfo& b) { return a.offset < b.offset; });
    std::uint64_t at = datasec.btf_offset + 12;
    for (const BtfVarSecinfo& v : vars) {
        store_le32(out, at, v.type);
        store_le32(out, at + 4, v.offset);
        store_le32(out, at + 8, v.size);
        at += 12;
    }
}

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
        if (const SectionDef* def = find_section_def(sec.name)) {
            p.section_known = true;
            p.prog_type = def->prog_type;
            p.expected_attach_type = def->expected_attach_type;
            p.section_flags = def->flags;
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

std::string apply_libbpf_btf_fixups(std::string_view raw, const Btf& raw_btf, const ElfFile& elf,
                                    std::vector<std::string>& notes) {
    std::string out(raw);
    std::uint32_t dummy_id = 0, dummy_name = 0, int_id = 0;
    const auto ksym_int_id = [&] {
        if (!int_id)
            for (const BtfType& t : raw_btf.types())
                if (t.kind() == BtfKind::Int && (t.int_data & 0xff) == 32) {
                    int_id = t.id;
                    break;
                }
        return int_id;
    };
    // libbpf appends one dummy VAR (named after the first kfunc here; libbpf's own name does
    // not matter to the kernel) that every extern function's .ksyms slot points at.
    const auto dummy_var_id = [&](std::uint32_t name_off) {
        if (!dummy_id) {
            dummy_id = raw_btf.end_id();
            dummy_name = name_off;
        }
        return dummy_id;
    };
    const auto find_var_symbol = [&](const std::string& name) -> const ElfSymbol* {
        for (const ElfSymbol& s : elf.symbols())
            if (s.type() == kSttObject && (s.binding() == kStbGlobal || s.binding() == kStbWeak) && s.name == name)
                return &s;
        return nullptr;
    };
    for (const BtfType& t : raw_btf.types()) {
        if (t.kind() == BtfKind::Var && t.var_linkage == kBtfVarGlobalExtern) {
            store_le32(out, t.btf_offset + 12, kBtfVarGlobalAllocated);
            notes.push_back("[" + std::to_string(t.id) + "] VAR " + raw_btf.name(t.name_off) +
                            ": extern linkage made global, as libbpf does for __kconfig/__ksym externs");
        }
        if (t.kind() == BtfKind::Func && t.vlen() == kBtfFuncExtern) {
            store_le32(out, t.btf_offset + 4, (t.info & ~0xffffu) | kBtfFuncGlobal);
            notes.push_back("[" + std::to_string(t.id) + "] FUNC " + raw_btf.name(t.name_off) +
                            ": extern linkage made global, as libbpf does for __ksym functions");
        }
        if (t.kind() != BtfKind::Datasec) continue;
        const std::string sec_name = raw_btf.name(t.name_off);
        // Extern-backing sections get their layout from libbpf's extern handling
        // (bpf_object__collect_externs), not from the ELF.
        if (sec_name == ".kconfig") {
            // Sorted by alignment (descending), size, then name, and packed in that order.
            struct Kcfg {
                BtfVarSecinfo* vsi;
                std::uint64_t align, size;
                std::string name;
            };
            std::vector<BtfVarSecinfo> vars = t.secinfos;
            std::vector<Kcfg> externs;
            for (BtfVarSecinfo& v : vars)
                if (const BtfType* var = raw_btf.type_by_id(v.type); var && var->kind() == BtfKind::Var)
                    externs.push_back({&v, std::max<std::uint64_t>(1, type_align(raw_btf, var->type())),
                                       type_size(raw_btf, var->type()), raw_btf.name(var->name_off)});
            std::sort(externs.begin(), externs.end(), [](const Kcfg& a, const Kcfg& b) {
                if (a.align != b.align) return a.align > b.align;
                if (a.size != b.size) return a.size < b.size;
                return a.name < b.name;
            });
            std::uint64_t off = 0;
            for (Kcfg& k : externs) {
                off = (off + k.align - 1) / k.align * k.align;
                k.vsi->offset = static_cast<std::uint32_t>(off);
                off += k.size;
            }
            store_le32(out, t.btf_offset + 8, static_cast<std::uint32_t>(off));
            write_secinfos(out, t, vars);
            notes.push_back("DATASEC .kconfig: laid out as libbpf does, size " + std::to_string(off));
            continue;
        }
        if (sec_name == ".ksyms") {
            // Every ksym becomes a 4-byte slot; variables are retyped to a 32-bit int and
            // functions are replaced by a dummy int variable libbpf appends to the BTF.
            std::vector<BtfVarSecinfo> vars = t.secinfos;
            for (std::size_t i = 0; i < vars.size(); i++) {
                const BtfType* var = raw_btf.type_by_id(vars[i].type);
                if (var && var->kind() == BtfKind::Var) {
                    store_le32(out, var->btf_offset + 8, ksym_int_id());
                } else if (var && var->kind() == BtfKind::Func) {
                    vars[i].type = dummy_var_id(var->name_off);
                    // The kernel wants named parameters; libbpf lends them the dummy's name.
                    if (const BtfType* proto = raw_btf.type_by_id(var->type());
                        proto && proto->kind() == BtfKind::FuncProto)
                        for (std::size_t p = 0; p < proto->members.size(); p++)
                            if (proto->members[p].type && !proto->members[p].name_off)
                                store_le32(out, proto->btf_offset + 12 + 8 * p, dummy_name);
                }
                vars[i].offset = static_cast<std::uint32_t>(4 * i);
                vars[i].size = 4;
            }
            store_le32(out, t.btf_offset + 8, static_cast<std::uint32_t>(4 * vars.size()));
            write_secinfos(out, t, vars);
            notes.push_back("DATASEC .ksyms: " + std::to_string(vars.size()) + " ksyms as 4-byte slots, as libbpf does");
            continue;
        }
        std::vector<BtfVarSecinfo> vars = t.secinfos;
        bool fixup_offsets = false;
        if (t.size() == 0) {
            const ElfSection* s = elf.find_section(sec_name);
            if (!s || s->size == 0 || s->size > 0xffffffffu) {
                notes.push_back("DATASEC " + sec_name + ": no ELF section size to fill in; libbpf 1.4.6 stops here "
                                                        "(\"failed to determine size from ELF\")");
                continue;
            }
            store_le32(out, t.btf_offset + 8, static_cast<std::uint32_t>(s->size));
            notes.push_back("DATASEC " + sec_name + ": size 0 -> " + std::to_string(s->size) + " from the ELF section");
            fixup_offsets = true;
        }
        for (BtfVarSecinfo& v : vars) {
            const BtfType* var = raw_btf.type_by_id(v.type);
            if (!var || var->kind() != BtfKind::Var) continue;
            if (var->var_linkage == kBtfVarStatic || var->var_linkage == kBtfVarGlobalExtern) continue;
            const std::string var_name = raw_btf.name(var->name_off);
            const ElfSymbol* sym = find_var_symbol(var_name);
            if (!sym) {
                notes.push_back("DATASEC " + sec_name + ": no ELF symbol for variable " + var_name +
                                "; libbpf 1.4.6 stops here");
                continue;
            }
            if (fixup_offsets) v.offset = static_cast<std::uint32_t>(sym->value);
            // Hidden globals become static: libbpf then neither shares nor mmaps them.
            if (sym->visibility() == 2 || sym->visibility() == 1)
                store_le32(out, var->btf_offset + 12, kBtfVarStatic);
        }
        write_secinfos(out, t, vars);
    }
    if (dummy_id) {
        // Appended after the last type; the string section moves up by one record.
        const BtfHeader& h = raw_btf.header();
        const std::uint64_t types_end = std::uint64_t(h.hdr_len) + h.type_off + h.type_len;
        std::string record;
        for (std::uint32_t w : {dummy_name, std::uint32_t(BtfKind::Var) << 24, ksym_int_id(), kBtfVarGlobalAllocated})
            for (int i = 0; i < 4; i++) record.push_back(char((w >> (8 * i)) & 0xff));
        out.insert(types_end, record);
        store_le32(out, 12, h.type_len + 16);
        if (h.str_off >= h.type_off + h.type_len) store_le32(out, 16, h.str_off + 16);
        notes.push_back("[" + std::to_string(dummy_id) + "] VAR " + raw_btf.name(dummy_name) +
                        ": libbpf's dummy ksym variable standing in for extern functions");
    }
    return out;
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
    if (check.btf) {
        const std::string fixed = apply_libbpf_btf_fixups(raw, *check.btf, *elf, report.fixups);
        BtfCheck fixed_check = check_btf(fixed);
        if (fixed_check.btf) check = std::move(fixed_check);
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
