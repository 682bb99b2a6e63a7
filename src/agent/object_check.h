#pragma once
// Loads any BPF object's programs one at a time (the object's maps created, as libbpf
// would) and attaches each the way its program type says where this host can provide the
// target, then detaches: the guest half of `kmatrix check` and the engine of
// `flowattr load --check`. Every failure is named through the cause table (src/diagnose).
#include <cstdint>
#include <functional>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "diagnose/check_record.h"

struct bpf_object;
struct bpf_program;

namespace flowattr::agent {

struct ObjectBytes {
    std::string name;    // "flow"
    std::string origin;  // where it came from, for messages ("flow.bpf.o", "embedded:flow")
    std::string_view bytes;
};

using diagnose::CheckStatus;
using diagnose::ProgramCheck;
using diagnose::print_check_report;

// `--section-type SECTION=AS`: the programs of ELF section SECTION are loaded with the program
// type and expected attach type libbpf gives a program of section AS, as the object's own loader
// sets them (bpf_program__set_type) for a section libbpf has no type for (suricata's
// "loadbalancer" socket filter), and attached as a program of AS would be.
struct SectionType {
    std::string section;
    std::string as;
};

// "SECTION=AS" -> SectionType. Throws BadInputError naming what is wrong: no '=', an empty side,
// or an AS libbpf's section table has no program type for.
SectionType parse_section_type(const std::string& spec);

// One line for each of TYPES whose section no program of OBJECTS is in (a misspelt
// --section-type: "--section-type lb=socket: no program of the objects is in section 'lb'"), in
// the order given; the commands refuse them as bad input. An object libbpf cannot open has no
// programs here.
std::vector<std::string> unmatched_section_types(const std::vector<SectionType>& types,
                                                 const std::vector<ObjectBytes>& objects);

struct CheckOptions {
    bool attach = true;  // false: load only (`flowattr load --check`)
    // Give the maps an object leaves for its loader to size a size of the check's own (`--size-maps`):
    // the programs reach the verifier, where loaded as they are the kernel refuses the map.
    bool size_maps = false;
    std::vector<SectionType> section_types;
    // A reason to skip a program of this section on this kernel, without loading it.
    std::function<std::optional<std::string>(const std::string& section)> skip;
};

// Scratch targets shared by all the programs of a run (a cgroup, probe answers), removed
// when it goes away.
class CheckTargets;

class ObjectChecker {
public:
    explicit ObjectChecker(CheckOptions options);
    ~ObjectChecker();
    ObjectChecker(const ObjectChecker&) = delete;
    ObjectChecker& operator=(const ObjectChecker&) = delete;

    std::vector<ProgramCheck> check(const ObjectBytes& object);

private:
    void finish_pass(ProgramCheck& c, bpf_object* obj, bpf_program* prog, const std::string& stats_log,
                     const std::string& libbpf_log);

    CheckOptions options_;
    CheckTargets* targets_;
};

// "processed 123 insns (limit ..." -> 123; 0 when absent.
std::uint64_t parse_insns_processed(const std::string& log);

}  // namespace flowattr::agent
