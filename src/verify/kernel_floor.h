#pragma once
// The oldest kernel whose BPF_BTF_LOAD accepts the BTF kinds an object uses, and the check
// of that floor against the kernels a matrix runs. First kernels, from kernel/bpf/btf.c's
// history: FUNC/FUNC_PROTO 5.0, global FUNC linkage 5.6, VAR/DATASEC 5.2, FLOAT 5.13,
// DECL_TAG 5.16, TYPE_TAG 5.17, ENUM64 and ENUM kind_flag (signedness) 6.0; before those a
// kernel answers e.g. "[19] Invalid kind:19" or "Invalid btf_info kind_flag".
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "verify/btf.h"

namespace flowattr::verify {

struct KernelVersion {
    unsigned major = 0;
    unsigned minor = 0;

    // "6.1", "5.10.223", "6.12.117+deb13-cloud-amd64" → major.minor; nullopt if not "N.N...".
    static std::optional<KernelVersion> parse(std::string_view text);
    std::string str() const { return std::to_string(major) + "." + std::to_string(minor); }
    bool operator<(const KernelVersion& o) const { return major != o.major ? major < o.major : minor < o.minor; }
    bool operator==(const KernelVersion& o) const { return major == o.major && minor == o.minor; }
};

// One reason an object needs a newer kernel: the first type using the feature.
struct KernelRequirement {
    KernelVersion version;
    std::string feature;  // "ENUM64"
    std::string type;  // "[12] ENUM64 flow_dir" — the kernel's way of naming the type
};

// Every feature the BTF uses that some supported kernel lacks, oldest first.
std::vector<KernelRequirement> btf_kernel_requirements(const Btf& btf);
// The newest of the requirements' versions; 4.18 (the first BTF kernel) when there are none.
KernelVersion kernel_floor(const std::vector<KernelRequirement>& requirements);

// The matrix's kernels.txt, as its parser hands it over: (name, version).
using KernelList = std::vector<std::pair<std::string, std::string>>;

}  // namespace flowattr::verify
