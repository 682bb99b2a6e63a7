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

#include "diagnose/cause.h"

namespace flowattr::agent {

struct ObjectBytes {
    std::string name;    // "flow"
    std::string origin;  // where it came from, for messages ("flow.bpf.o", "embedded:flow")
    std::string_view bytes;
};

enum class CheckStatus { pass, fail, skip };
const char* check_status_name(CheckStatus status);

struct ProgramCheck {
    std::string object;
    std::string program;  // "(object)" when the object itself could not be opened
    std::string section;
    CheckStatus status = CheckStatus::fail;
    std::string attach;  // how it was attached ("tcx ingress on lo"), or empty when loaded only
    std::string note;    // loaded only and why; a BTF the kernel rejected on a pass; a skip's reason
    std::uint64_t insns_processed = 0;
    diagnose::Stage stage = diagnose::Stage::load;  // the failing step
    int err = 0;                                      // its errno
    std::optional<diagnose::Diagnosis> diagnosis;     // set on a failure
    std::string log;  // verifier log: statistics on a pass, the full log on a failure
};

struct CheckOptions {
    bool attach = true;  // false: load only (`flowattr load --check`)
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
    CheckOptions options_;
    CheckTargets* targets_;
};

// One JSON object per line: {"object","program","section","status","class","message",
// "cause","fix","stage","errno","attach","note","insns","log"} (docs/OUTPUT.md).
std::string program_check_json(const ProgramCheck& check);
std::optional<ProgramCheck> program_check_from_json(const std::string& line);

// The human report; returns the exit status (0: nothing failed, 1: a failure).
int print_check_report(const std::vector<ProgramCheck>& checks, bool full_log, std::ostream& out);

// "processed 123 insns (limit ..." -> 123; 0 when absent.
std::uint64_t parse_insns_processed(const std::string& log);

}  // namespace flowattr::agent
