#pragma once
// One program's result from a check, the record the guest sends and the host parses:
// the same type on both sides of the results port (docs/OUTPUT.md, "check records").
#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

#include "diagnose/cause.h"

namespace flowattr::diagnose {

enum class CheckStatus { pass, fail, skip };
const char* check_status_name(CheckStatus status);
std::optional<CheckStatus> check_status_from_name(const std::string& name);

struct ProgramCheck {
    std::string object;
    std::string program;  // "(object)" when the object itself could not be opened
    std::string section;
    CheckStatus status = CheckStatus::fail;
    std::string attach;  // how it was attached ("tcx ingress on lo"), or empty when loaded only
    std::string note;    // loaded only and why; a BTF the kernel rejected on a pass; a skip's reason
    std::uint64_t insns_processed = 0;
    Stage stage = Stage::load;         // the failing step
    int err = 0;                       // its errno
    std::optional<Diagnosis> diagnosis;  // set on a failure
    std::string log;  // verifier log: statistics on a pass, the full log on a failure
};

// One JSON object on one line: {"object","program","section","status","class","message",
// "cause","fix","stage","errno","attach","note","insns","log"}; class..errno null unless
// the program failed. LOG_LIMIT > 0 keeps the log's head and tail within that many bytes
// (the verifier's reason is at the end), saying how much was cut.
std::string program_check_json(const ProgramCheck& check, std::size_t log_limit = 0);
// nullopt for a line that is not such a record (or names an unknown class or status).
std::optional<ProgramCheck> program_check_from_json(const std::string& line);

// The human report, one line per program and, for each failure, its class, cause, fix and
// log; returns the exit status (0: nothing failed, 1: a failure).
int print_check_report(const std::vector<ProgramCheck>& checks, bool full_log, std::ostream& out);

}  // namespace flowattr::diagnose
