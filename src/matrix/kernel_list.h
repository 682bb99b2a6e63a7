#pragma once
// kernels.txt: the kernels the matrix boots, one per line, each pinned by sha256.
#include <optional>
#include <string>
#include <vector>

#include "common/error.h"

namespace flowattr::matrix {

// kernels.txt is missing, unreadable or malformed: bad input, which commands report as a
// usage error (exit 2) before anything is fetched or booted.
class KernelListError : public BadInputError {
public:
    using BadInputError::BadInputError;
};

// One artifact of a source: kind "deb" (spec "PKG=VER"), "url" (spec the URL) or "file" (spec the path).
// Where one artifact of a kernel comes from: a Debian package through a private apt, a URL
// through libcurl, or a local file.
enum class SourceKind { deb, url, file };
const char* source_kind_name(SourceKind kind);  // "deb", "url", "file": as kernels.txt spells it

struct SourceItem {
    SourceKind kind = SourceKind::file;
    std::string spec;  // PKG=VER, the URL, or the absolute path
    std::string sha256;
    std::string text() const { return std::string(source_kind_name(kind)) + ":" + spec; }  // "deb:PKG=VER"
};

// The architecture a kernel is built for: it picks the QEMU machine, the console and results
// devices, the Debian architecture of its packages and the VM binaries (matrix/guest_arch.h).
enum class Arch { x86_64, aarch64 };
const char* arch_name(Arch arch);  // "x86_64", "aarch64": as kernels.txt spells it
std::optional<Arch> parse_arch(const std::string& name);
// The architecture this program was built for.
Arch host_arch();

struct KernelEntry {
    std::string name;     // unique, e.g. "6.1", "5.10-nolsm"
    std::string version;  // e.g. "6.1.176"
    std::vector<SourceItem> sources;  // each artifact with its sha256, in source order; empty for "none"
    std::string cmdline;  // extra kernel command line; "" for none (the file's "-")
    Arch arch = Arch::x86_64;
    std::string file;
    int line = 0;

    std::string where() const { return file + ":" + std::to_string(line); }
    // The source and sha256 fields as kernels.txt spells them (file: paths made absolute):
    // what the cache key hashes and `kmatrix list` shows. "none" and "-" without a source.
    std::string source_text() const;
    std::string sha256_text() const;
};

// Parses the text of a kernels.txt. Fields are separated by blanks; a field may be written in
// double quotes to hold blanks (the cmdline: "lsm=... quiet"). '#' starts a comment outside quotes.
// Throws KernelListError "FILE:LINE: <what was expected>" on the first malformed line and on
// a duplicate name (naming both lines).
std::vector<KernelEntry> parse_kernel_list(const std::string& text, const std::string& file);
std::vector<KernelEntry> load_kernel_list(const std::string& path);

}  // namespace flowattr::matrix
