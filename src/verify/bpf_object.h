#pragma once
// Everything `flowattr verify` learns from one BPF object without loading it: its programs
// as libbpf 1.4.6 will see them, its maps, licence and sha256, the kernel's verdict on the
// BTF libbpf 1.4.6 hands it after bpf_object__open_mem, and the oldest kernel its BTF kinds allow.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "verify/btf.h"
#include "verify/elf_file.h"
#include "verify/kernel_floor.h"

namespace flowattr::verify {

// One problem `verify` reports. CHECK says which check found it: "elf", "btf", "section",
// "kernel", "expect", "embed".
struct Finding {
    std::string object;
    std::string check;
    std::string message;  // one line, names the file and (where there is one) the byte offset
    std::string log;  // the kernel's verifier log lines for "btf" findings, verbatim
};

struct ProgramInfo {
    std::string name;
    std::string section;
    bool section_known = false;  // libbpf 1.4.6 recognises the section name
    std::uint32_t prog_type = 0;
    std::optional<std::uint32_t> expected_attach_type;
    bool section_attachable = false;  // libbpf_attach_type_by_name() knows the section name
};

struct MapInfo {
    std::string name;
    std::uint32_t type = 0;
    std::uint32_t key_size = 0;
    std::uint32_t value_size = 0;
    std::uint32_t max_entries = 0;
    std::uint32_t map_flags = 0;
    std::string key_type;  // "struct flow_key", "__u32"; empty when the map has no key type
    std::string value_type;
};

struct ObjectReport {
    std::string name;  // "flow" for flow.bpf.o
    std::string source;  // the path, or "embedded:flow"
    std::string sha256;
    std::string license;
    std::vector<ProgramInfo> programs;
    std::vector<MapInfo> maps;
    std::vector<KernelRequirement> kernel_requirements;
    KernelVersion btf_kernel_floor;
    // What libbpf's open changed in .BTF (DATASEC sizes, VAR offsets and linkage, its ksym
    // dummy), or why libbpf could not open the object; for --json and tests.
    std::vector<std::string> fixups;
    std::vector<Finding> findings;
    std::shared_ptr<const Btf> btf;  // after libbpf's open; null when .BTF is missing or unparseable
};

// "flow" for "/x/y/flow.bpf.o" (and for "flow.o", "flow").
std::string object_name_from_path(const std::string& path);

// Inspects the ELF BYTES, called DISPLAY_NAME in messages. Never throws: a malformed file
// becomes an "elf" finding naming the file and offset.
ObjectReport inspect_object(const std::string& name, const std::string& display_name, std::string bytes);

// Map definitions from the .maps DATASEC (BTF-defined maps, __uint/__type members).
std::vector<MapInfo> btf_maps(const Btf& btf);

// The C-like spelling of type ID ("struct flow_key", "__u32 *") for reports.
std::string btf_type_text(const Btf& btf, std::uint32_t id);

}  // namespace flowattr::verify
