#pragma once
// Turning downloaded artifacts (.deb packages, a bare bzImage, a config file) into what the
// runner boots: one vmlinuz, its config and a flat directory of the modules the agent's tests
// load, decompressed.
#include <map>
#include <string>
#include <vector>

namespace flowattr::matrix {

enum class ArtifactKind { deb, kernel_image, kernel_config, unknown };
// By content, not name: "!<arch>\ndebian-binary" is a .deb, "HdrS" at 0x202 an x86 bzImage,
// "ARM\x64" at 0x38 an arm64 Image,
// "CONFIG_" lines a kernel config.
ArtifactKind detect_artifact(const std::string& path);

// dpkg-deb -x DEB DEST (nothing is installed, no maintainer scripts run). Error carries stderr.
void extract_deb(const std::string& deb, const std::string& dest);

// What a tree of extracted packages holds.
struct KernelTree {
    std::string vmlinuz;                        // boot/vmlinuz-<rel> or (usr/)lib/modules/<rel>/vmlinuz
    std::string config;                         // boot/config-<rel> or (usr/)lib/modules/<rel>/config
    std::string release;                        // <rel>, from wherever it was found
    std::map<std::string, std::string> modules;  // module name ('-' as '_') -> .ko[.xz|.zst|.gz] path
    // (usr/)bin/busybox when the source also names busybox-static: a foreign architecture's
    // VM cannot use the host's busybox.
    std::string busybox;
};
// Throws when the tree holds more than one kernel release (ambiguous source).
KernelTree scan_kernel_tree(const std::string& root);

// The "depends=" list of a module's .modinfo ELF section (empty names dropped).
std::vector<std::string> module_dependencies(const std::string& ko_bytes);
// Module bytes, decompressed with xz/zstd/gzip according to the file name.
std::string read_module(const std::string& path);

// The modules the VM needs for the agent's tests, each with the kernel option that builds it.
struct RequiredModule {
    const char* name;
    const char* option;
};
const std::vector<RequiredModule>& required_modules();

// Value of CONFIG_<option> in a config text: "y", "m", a string, or "" when not set.
std::string config_value(const std::string& config_text, const std::string& option);

// Writes NAME.ko for each of names and, transitively, their dependencies into out_dir.
// Returns the file names written (sorted). Throws naming the module that is missing.
std::vector<std::string> collect_modules(const KernelTree& tree, const std::vector<std::string>& names,
                                         const std::string& out_dir);

}  // namespace flowattr::matrix
