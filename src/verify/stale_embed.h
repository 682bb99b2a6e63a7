#pragma once
// The stale-embed check: the agent carries its BPF objects inside its skeletons, so a binary
// built before the last BPF edit runs old code without any error. Comparing each embedded
// object with the freshly built <name>.bpf.o catches that.
#include <string>
#include <string_view>
#include <vector>

#include "verify/bpf_object.h"

namespace flowattr::verify {

struct EmbeddedBlob {
    std::string name;  // "flow"
    std::string_view bytes;
};

// One "embed" finding per embedded object that differs from DIR/<name>.bpf.o (naming both
// sha256s) or has no built counterpart there.
std::vector<Finding> check_embedded_against(const std::vector<EmbeddedBlob>& embedded, const std::string& dir);

}  // namespace flowattr::verify
