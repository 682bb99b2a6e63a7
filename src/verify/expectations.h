#pragma once
// bpf/expectations.txt: what each BPF program must be — its section, the program type and
// expected_attach_type libbpf derives from that section, how the agent attaches it, and the
// oldest kernel it must load on — so a renamed SEC() or a BTF kind too new for the matrix
// fails `flowattr verify` instead of a VM run. The format is documented at the top of
// bpf/expectations.txt.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "verify/bpf_object.h"
#include "verify/kernel_floor.h"

namespace flowattr::verify {

struct ProgramExpectation {
    std::string object;  // "flow" for bpf/flow.bpf.c
    std::string program;
    std::string section;
    std::uint32_t prog_type = 0;
    std::optional<std::uint32_t> expected_attach_type;  // nullopt: "none"
    std::string attach;  // "link", "tc-netlink" or "none"
    KernelVersion min_kernel;
    int line = 0;
};

// Parses the file's text; FILE_NAME is used in errors ("expectations.txt:12: ...").
// Throws flowattr::Error on a malformed line.
std::vector<ProgramExpectation> parse_expectations(const std::string& text, const std::string& file_name);

// Compares the objects with the expectations. ALL_OBJECTS says REPORTS are every object the
// agent embeds, so an expected object that is absent is itself a finding.
std::vector<Finding> check_expectations(const std::vector<ObjectReport>& reports,
                                        const std::vector<ProgramExpectation>& expectations, bool all_objects);

// Flags every kernel of KERNELS older than an object's BTF floor on which one of the object's
// programs is expected to load (all of them, without expectations).
std::vector<Finding> check_kernels(const std::vector<ObjectReport>& reports,
                                   const std::vector<ProgramExpectation>& expectations, const KernelList& kernels);

}  // namespace flowattr::verify
