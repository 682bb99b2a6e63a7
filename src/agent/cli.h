#pragma once
#include <functional>
#include <ostream>
#include <string>
#include <vector>

namespace flowattr::agent {

// `flowattr verify ARGS...`, supplied by the executable: the verify library sits above the
// agent (it reads the agent's embedded objects), so the agent cannot call it directly.
using VerifyCommand = std::function<int(const std::vector<std::string>& args, std::ostream& out, std::ostream& err)>;

// The whole `flowattr` command: returns the exit code (0 ok, 1 failure, 2 usage or an
// unknown interface/cgroup). Never exits the process itself.
int run_flowattr_cli(const std::vector<std::string>& args, std::ostream& out, std::ostream& err,
                     const VerifyCommand& verify = {});

}  // namespace flowattr::agent
