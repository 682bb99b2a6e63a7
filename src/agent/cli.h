#pragma once
#include <ostream>
#include <string>
#include <vector>

namespace flowattr::agent {

// The whole `flowattr` command: returns the exit code (0 ok, 1 failure, 2 usage or an
// unknown interface/cgroup). Never exits the process itself.
int run_flowattr_cli(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

}  // namespace flowattr::agent
