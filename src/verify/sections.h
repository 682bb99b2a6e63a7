#pragma once
// libbpf 1.4.6's reading of ELF section names (section_defs[] in src/libbpf.c, v1.4.6):
// which program type and expected_attach_type a SEC("...") gives a program, with the flags
// libbpf keeps private (SEC_ATTACH_BTF, sleepable, ...), so that `flowattr verify` can show
// and check what libbpf will pass to BPF_PROG_LOAD without opening the object with it.
// libbpf_prog_type_by_name() is the public half of the same table; the tests hold every
// entry against it. The enums' names are libbpf's (libbpf_bpf_*_type_str). Custom handlers
// (libbpf_register_prog_handler) are not modelled.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace flowattr::verify {

// Flags of a section definition (libbpf's enum sec_def_flags).
enum SectionFlag : std::uint32_t {
    kSecNone = 0,
    kSecExpAttachOpt = 1,  // expected_attach_type is dropped on kernels that reject it
    kSecAttachable = 2,  // libbpf_attach_type_by_name() knows it
    kSecAttachableOpt = kSecAttachable | kSecExpAttachOpt,
    kSecAttachBtf = 4,  // "lsm/<hook>", "iter/<target>": the rest of the name is a BTF target
    kSecSleepable = 8,
    kSecXdpFrags = 16,
    kSecUsdt = 32,
};

struct SectionDef {
    std::string_view pattern;  // "tc", "kprobe+", "cgroup_skb/ingress"... as in section_defs[]
    std::uint32_t prog_type;  // enum bpf_prog_type value
    // enum bpf_attach_type value; nullopt where libbpf's table has 0 meaning "none" (tc,
    // classifier, cgroup/skb, action, kprobe, ...). BPF_CGROUP_INET_INGRESS is also 0, so the
    // distinction cannot be made from the number alone.
    std::optional<std::uint32_t> expected_attach_type;
    std::uint32_t flags;
};

// The whole table in section_defs[] order, so tests can hold every entry against the
// libbpf the project links.
const std::vector<SectionDef>& section_defs();

// find_sec_def(): the first definition matching SECTION_NAME, or nullptr.
// "x/" patterns need a prefix match, "x+" exact or "x/...", others exact.
const SectionDef* find_section_def(std::string_view section_name);

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
