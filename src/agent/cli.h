#pragma once
#include <functional>
#include <ostream>
#include <string>
#include <vector>

namespace flowattr::agent {

// `flowattr verify ARGS...`, supplied by the executable: the verify library sits above the
// agent (it reads the agent's embedded objects), so the agent cannot call it directly.
using VerifyCommand = std::function<int(const std::vector<std::string>& args, std::ostream& out, std::ostream& err)>;

// The BPF objects in a file (a .bpf.o, or the ones an executable embeds), supplied by the
// executable from the verify library for the same reason. Throws std::exception-derived
// exceptions for bad input (not ELF, not BPF, truncated): `flowattr check` exits 2.
struct FileObject {
    std::string name;
    std::string origin;
    std::string bytes;
};
using ObjectReader = std::function<std::vector<FileObject>(const std::string& path)>;

// The whole `flowattr` command: returns the exit code (0 ok, 1 failure, 2 usage or an
// unknown interface/cgroup). Never exits the process itself.
int run_flowattr_cli(const std::vector<std::string>& args, std::ostream& out, std::ostream& err,
                     const VerifyCommand& verify = {}, const ObjectReader& read_objects = {});

}  // namespace flowattr::agent
