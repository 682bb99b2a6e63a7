#pragma once
// The files `kmatrix exec --file` and `kmatrix repro --shell --file` bring into the guest's
// /exec: which kernels each goes to, what a dynamically linked one brings with it, and how
// the reports name them (exec.json's `files`, docs/OUTPUT.md).
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "matrix/initramfs.h"
#include "matrix/kernel_list.h"

namespace flowattr::matrix {

struct BroughtFile {
    std::string name;  // /exec/<name>
    std::string path;  // on this machine, as given
    // An executable goes to its own architecture's kernels only, so an x86_64 and an aarch64
    // build may share a name; nullopt: a script or a .bpf.o, for every kernel.
    std::optional<Arch> arch;
    std::string sha256;
    // A dynamically linked executable's loader, then its shared libraries (shared_library_closure):
    // host paths, the same paths in the guest.
    std::vector<std::string> libraries;
};

struct BroughtFiles {
    std::vector<BroughtFile> files;
    // One line each, naming the --file: missing, two that would be one /exec/<name>, a
    // dynamic executable whose libraries cannot come along. Nothing boots when there is any.
    std::vector<std::string> errors;
};

// Reads and classifies PATHS in order (their bytes hashed now, what the guest will get).
BroughtFiles bring_files(const std::vector<std::string>& paths);

// Adds FILES to each architecture's initramfs inputs: at /exec/<name> the file of that
// architecture or for every kernel, the libraries at their own paths, and their directories at
// guest::kGuestLibraryPath. Returns a line for each name an architecture gets no build of.
std::vector<std::string> add_brought_files(const std::vector<BroughtFile>& files, std::map<Arch, InitramfsInputs>& binaries);

// A dynamically linked file's company, as the terminal and the reports say it: "this machine's
// /lib64/ld-linux-x86-64.so.2 and 3 shared libraries"; "" for any other file.
std::string libraries_text(const BroughtFile& file);

// exec.json's `files`: [{"name","path","arch","sha256","libraries"}].
nlohmann::json brought_files_json(const std::vector<BroughtFile>& files);

}  // namespace flowattr::matrix
