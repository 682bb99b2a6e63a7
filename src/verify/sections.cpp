#include "verify/sections.h"

#include <bpf/libbpf.h>

#include <string>

namespace flowattr::verify {

namespace {

// libbpf's own names of the kernel's enums (what bpftool prints); nullptr past the newest
// value the linked libbpf knows.
template <class Enum>
using EnumNames = const char* (*)(Enum);

template <class Enum>
std::string name_or_number(EnumNames<Enum> names, std::uint32_t value, const char* fallback) {
    const char* name = names(static_cast<Enum>(value));
    return name ? name : std::string(fallback) + std::to_string(value);
}

template <class Enum>
std::optional<std::uint32_t> number_of(EnumNames<Enum> names, std::string_view name) {
    for (std::uint32_t v = 0;; v++) {
        const char* n = names(static_cast<Enum>(v));
        if (!n) return std::nullopt;
        if (name == n) return v;
    }
}

}  // namespace

std::string_view legacy_section_note(std::string_view section) {
    struct Legacy {
        std::string_view name, note;
    };
    static constexpr Legacy kLegacy[] = {
        {"classifier", "legacy name of SEC(\"tc\"); with a TCX link use tcx/ingress or tcx/egress"},
        {"action", "legacy tc action program; flows belong in SEC(\"tc\") or tcx/*"},
        {"cgroup/skb", "legacy name: leaves expected_attach_type 0; use cgroup_skb/ingress or cgroup_skb/egress"},
        {"tc/ingress", "libbpf 1.3+ alias of tcx/ingress: say tcx/ingress"},
        {"tc/egress", "libbpf 1.3+ alias of tcx/egress: say tcx/egress"},
    };
    for (const Legacy& l : kLegacy)
        if (section == l.name) return l.note;
    return {};
}

std::optional<SectionMeaning> section_meaning(std::string_view section_name) {
    // libbpf says why it does not know a name only at debug level: nothing to show or hide.
    const std::string name(section_name);
    bpf_prog_type prog_type{};
    bpf_attach_type attach_type{};
    if (libbpf_prog_type_by_name(name.c_str(), &prog_type, &attach_type) != 0) return std::nullopt;
    SectionMeaning m;
    m.prog_type = prog_type;
    bpf_attach_type attachable_as{};
    m.attachable = libbpf_attach_type_by_name(name.c_str(), &attachable_as) == 0;
    if (attach_type != 0 || m.attachable) m.expected_attach_type = attach_type;
    return m;
}

std::string prog_type_name(std::uint32_t v) { return name_or_number(libbpf_bpf_prog_type_str, v, "prog_type_"); }
std::string attach_type_name(std::uint32_t v) { return name_or_number(libbpf_bpf_attach_type_str, v, "attach_type_"); }
std::string map_type_name(std::uint32_t v) { return name_or_number(libbpf_bpf_map_type_str, v, "map_type_"); }

std::string expected_attach_name(const std::optional<std::uint32_t>& attach_type) {
    return attach_type ? attach_type_name(*attach_type) : "none";
}

std::optional<std::uint32_t> prog_type_from_name(std::string_view name) { return number_of(libbpf_bpf_prog_type_str, name); }

bool expected_attach_from_name(std::string_view name, std::optional<std::uint32_t>& out) {
    if (name == "none") {
        out.reset();
        return true;
    }
    out = number_of(libbpf_bpf_attach_type_str, name);
    return out.has_value();
}

}  // namespace flowattr::verify
