#pragma once
// `flowattr load --check`: load every embedded program on its own, report the verifier's
// statistics or its full log with the errno and the cause named, and unload again.
#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "agent/probe.h"

namespace flowattr::agent {

enum class LoadOutcome { loaded, skipped, failed };

struct ProgramLoadResult {
    std::string object;   // "flow"
    std::string program;  // "fa_tcx_ingress"
    std::string section;  // "tcx/ingress"
    LoadOutcome outcome = LoadOutcome::failed;
    std::uint64_t insns_processed = 0;
    int err = 0;             // errno of a failed load
    std::string cause;       // failed: the cause named; skipped: why
    std::string log;         // verifier log (stats on success, full log on failure)
};

std::vector<ProgramLoadResult> load_check_all(const KernelFeatures& features);

// Names the likely cause of a failed load from errno, the verifier log and the section.
std::string explain_load_failure(int err, const std::string& log, const std::string& section);
// "processed 123 insns (limit ..." -> 123; 0 when absent.
std::uint64_t parse_insns_processed(const std::string& log);

// Prints the report; returns the exit code (0: all loaded or skipped, 1: any failure).
int print_load_report(const std::vector<ProgramLoadResult>& results, bool full_log, std::ostream& out);

}  // namespace flowattr::agent
