#pragma once
// What libbpf makes of an ELF section name: the program type and expected_attach_type a
// SEC("...") gives a program, asked of the libbpf this binary links (1.4.6) through its public
// libbpf_prog_type_by_name() and libbpf_attach_type_by_name(), so `flowattr verify` shows
// what libbpf will pass to BPF_PROG_LOAD without opening the object. Custom handlers
// (libbpf_register_prog_handler) are not consulted. The enums' names are libbpf's
// (libbpf_bpf_*_type_str).
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace flowattr::verify {

struct SectionMeaning {
    std::uint32_t prog_type = 0;  // enum bpf_prog_type value
    // enum bpf_attach_type value; nullopt where libbpf leaves 0 meaning "none" (tc,
    // classifier, cgroup/skb, kprobe, ...). BPF_CGROUP_INET_INGRESS is also 0: it is the
    // attach type only where libbpf calls the section attachable (cgroup_skb/ingress).
    std::optional<std::uint32_t> expected_attach_type;
    bool attachable = false;  // libbpf_attach_type_by_name() knows it (libbpf's SEC_ATTACHABLE)
};

// libbpf's reading of SECTION_NAME, or nullopt when libbpf does not recognise it.
std::optional<SectionMeaning> section_meaning(std::string_view section_name);

// Why a section name is a legacy spelling and what replaces it, or empty. Not a finding (the
// object loads), a note in every report: these are the names that leave expected_attach_type
// 0 or that newer libbpf renamed.
std::string_view legacy_section_note(std::string_view section_name);

// Lower-case names of the kernel enums without their prefixes ("sched_cls", "tcx_ingress",
// "lru_hash"), libbpf's; "prog_type_<n>" etc. for values newer than the linked libbpf.
std::string prog_type_name(std::uint32_t prog_type);
std::string attach_type_name(std::uint32_t attach_type);
std::string map_type_name(std::uint32_t map_type);
// Text for an expected attach type as reports and expectations spell it: "none" when unset.
std::string expected_attach_name(const std::optional<std::uint32_t>& attach_type);
// Inverses for the expectations file; nullopt for unknown names.
std::optional<std::uint32_t> prog_type_from_name(std::string_view name);
// "none" sets OUT to nullopt; false for an unknown name.
bool expected_attach_from_name(std::string_view name, std::optional<std::uint32_t>& out);

}  // namespace flowattr::verify
