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

struct CheckOptions {
    bool attach = true;  // false: load only (`flowattr load --check`)
    // Give the maps an object leaves for its loader to size a size of the check's own (`--size-maps`):
    // the programs reach the verifier, where loaded as they are the kernel refuses the map.
    bool size_maps = false;
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
