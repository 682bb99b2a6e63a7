#include "verify/kernel_floor.h"

#include <algorithm>
#include <cctype>

namespace flowattr::verify {

std::optional<KernelVersion> KernelVersion::parse(std::string_view text) {
    std::size_t i = 0;
    const auto number = [&](unsigned& out) {
        const std::size_t start = i;
        unsigned long v = 0;
        while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i])) && i - start < 6)
            v = v * 10 + unsigned(text[i++] - '0');
        out = static_cast<unsigned>(v);
        return i > start;
    };
    KernelVersion v;
    if (!number(v.major) || i >= text.size() || text[i] != '.') return std::nullopt;
    i++;
    if (!number(v.minor)) return std::nullopt;
    return v;
}

std::vector<KernelRequirement> btf_kernel_requirements(const Btf& btf) {
    struct Rule {
        const char* feature;
        KernelVersion version;
        bool (*applies)(const BtfType&);
    };
    static const Rule rules[] = {
        {"FUNC", {5, 0}, [](const BtfType& t) { return t.kind() == BtfKind::Func; }},
        {"FUNC_PROTO", {5, 0}, [](const BtfType& t) { return t.kind() == BtfKind::FuncProto; }},
        {"VAR", {5, 2}, [](const BtfType& t) { return t.kind() == BtfKind::Var; }},
        {"DATASEC", {5, 2}, [](const BtfType& t) { return t.kind() == BtfKind::Datasec; }},
        {"global FUNC linkage", {5, 6},
         [](const BtfType& t) { return t.kind() == BtfKind::Func && t.vlen() == kBtfFuncGlobal; }},
        {"FLOAT", {5, 13}, [](const BtfType& t) { return t.kind() == BtfKind::Float; }},
        {"DECL_TAG", {5, 16}, [](const BtfType& t) { return t.kind() == BtfKind::DeclTag; }},
        {"TYPE_TAG", {5, 17}, [](const BtfType& t) { return t.kind() == BtfKind::TypeTag; }},
        {"ENUM64", {6, 0}, [](const BtfType& t) { return t.kind() == BtfKind::Enum64; }},
        {"ENUM kind_flag (signed enum)", {6, 0},
         [](const BtfType& t) { return t.kind() == BtfKind::Enum && t.kflag(); }},
    };
    std::vector<KernelRequirement> out;
    for (const Rule& rule : rules) {
        const auto it = std::find_if(btf.types().begin(), btf.types().end(), rule.applies);
        if (it == btf.types().end()) continue;
        out.push_back({rule.version, rule.feature,
                       "[" + std::to_string(it->id) + "] " + btf_kind_name(it->kind_raw()) + " " +
                           btf.log_name(it->name_off)});
    }
    std::stable_sort(out.begin(), out.end(),
                     [](const KernelRequirement& a, const KernelRequirement& b) { return a.version < b.version; });
    return out;
}

KernelVersion kernel_floor(const std::vector<KernelRequirement>& requirements) {
    KernelVersion floor{4, 18};
    for (const auto& r : requirements)
        if (floor < r.version) floor = r.version;
    return floor;
}

}  // namespace flowattr::verify
