#pragma once
// `flowattr verify [--against DIR] [--expect FILE] [--kernels FILE] [--json] [OBJECT.bpf.o ...]`
// as a library function, so the flowattr main only dispatches to it and tests can run it.
#include <functional>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "diagnose/cause.h"
#include "verify/bpf_object.h"
#include "verify/expectations.h"
#include "verify/kernel_floor.h"
#include "verify/stale_embed.h"

namespace flowattr::verify {

// Reads the matrix's kernels.txt into (name, version) pairs; throws flowattr::Error.
using KernelListReader = std::function<KernelList(const std::string& path)>;

struct VerifyOptions {
    std::vector<std::string> object_paths;  // empty: the objects embedded in this binary
    std::optional<std::string> against_dir;  // stale-embed check against DIR/<name>.bpf.o
    std::optional<std::vector<ProgramExpectation>> expectations;
    KernelList kernels;
};

struct VerifyResult {
    std::vector<ObjectReport> objects;
    std::vector<Finding> findings;  // every object's own findings, then the cross checks
};

// The cause-table class of an offline finding: the kernel's BTF verdict ("btf") and a BTF
// kind newer than a listed kernel ("kernel") are btf-rejected, an outdated embed
// ("embed") is stale-embed; ELF, section and expectation findings have none.
std::optional<diagnose::Cause> finding_cause(const Finding& finding);

// Runs every check. Unreadable or malformed objects are findings, not exceptions.
VerifyResult run_verify(const VerifyOptions& options);

// The whole command: exit status 0 when clean, 1 with findings, 2 on a usage error (bad
// option, unreadable --expect/--kernels file). KERNELS_READER parses --kernels FILE; without
// one, --kernels is a usage error saying so.
int run_verify_cli(const std::vector<std::string>& args, std::ostream& out, std::ostream& err,
                   const KernelListReader& kernels_reader);
int run_verify_cli(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

}  // namespace flowattr::verify
