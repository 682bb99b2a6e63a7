#pragma once
// `flowattr load --check`: load every embedded program on its own (no attach), report the
// verifier's statistics or its full log with the errno and the cause-table class, and
// unload again. The engine is object_check's, the same one `flowattr check` runs.
#include <vector>

#include "agent/object_check.h"
#include "agent/probe.h"

namespace flowattr::agent {

std::vector<ProgramCheck> load_check_all(const KernelFeatures& features);

}  // namespace flowattr::agent
