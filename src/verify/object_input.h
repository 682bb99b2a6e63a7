#pragma once
// What a user hands `flowattr check` / `kmatrix check`: a BPF object (.bpf.o), or an ELF
// executable that embeds BPF objects (libbpf skeletons, bpftool gen object blobs). Both
// sides read it the same way: the host to refuse bad input before any VM boots, the guest
// to load what it found.
#include <stdexcept>
#include <string>
#include <vector>

namespace flowattr::verify {

// Bad input (not ELF, not BPF, truncated, embeds nothing): a usage error, exit 2. The
// message is one line naming the file and what is wrong with it.
class InputError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

struct InputObject {
    std::string name;     // "flow" for flow.bpf.o; "biolatency" (or "biolatency.2") for an embed
    std::string origin;   // "flow.bpf.o", or "/usr/sbin/biolatency@0x3a2f0" for an embed
    std::string bytes;
};

// Every BPF object in the file at PATH, in file order. Throws InputError.
std::vector<InputObject> read_bpf_objects(const std::string& path);
// read_bpf_objects for a check on a kernel of MACHINE (uname -m: "x86_64", "aarch64"): an
// executable built for the other is refused, naming both. Its objects were compiled for its
// own architecture (a kprobe's register reads, the syscall wrappers it names); here they would
// load, attach and read as working. A .bpf.o (EM_BPF) does not say, and is read as it is.
std::vector<InputObject> read_bpf_objects_for(const std::string& path, const std::string& machine);
// uname -m's name of the machine the ELF file at PATH is built for ("x86_64", "aarch64"),
// from its header alone; empty for a BPF object, another machine, or a file that is not
// 64-bit little-endian ELF.
std::string elf_machine(const std::string& path);
// The same for bytes already read; DISPLAY names the file in messages.
std::vector<InputObject> bpf_objects_in(const std::string& display, const std::string& bytes);

}  // namespace flowattr::verify
