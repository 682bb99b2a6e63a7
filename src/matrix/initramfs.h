#pragma once
// Deterministic initramfs for matrix VMs: a cpio "newc" archive written in C++ so the
// same inputs give the same bytes on every machine (sorted entries, one fixed mtime,
// uid/gid 0, inode numbers from the sorted position). Reproducible bytes are what lets
// `kmatrix repro` boot exactly what `kmatrix run` booted, and lets a report name the
// initramfs by its sha256.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "matrix/kernel_list.h"

namespace flowattr::matrix {

class CpioArchive {
public:
    // Paths are archive paths without a leading '/'; missing parent directories are
    // added (mode 0755) when the archive is serialized. Adding a path twice replaces it.
    void add_directory(const std::string& path, std::uint32_t mode = 0755);
    void add_file(const std::string& path, std::string data, std::uint32_t mode = 0644);
    // Reads HOST_PATH now; throws flowattr::Error naming it.
    void add_host_file(const std::string& path, const std::string& host_path, std::uint32_t mode);
    void add_symlink(const std::string& path, const std::string& target);
    void add_char_device(const std::string& path, std::uint32_t major, std::uint32_t minor, std::uint32_t mode);

    std::string serialize(std::uint32_t mtime) const;

private:
    struct Entry {
        std::uint32_t mode;  // including the S_IF* type bits
        std::string data;    // file contents or symlink target
        std::uint32_t rdev_major = 0, rdev_minor = 0;
    };
    std::map<std::string, Entry> entries_;
};

// SOURCE_DATE_EPOCH when set to a valid number, else 0.
std::uint32_t reproducible_mtime();

struct InitramfsInputs {
    std::string init;          // static kmatrix_init: the guest's /init (src/guest/init.h)
    std::string busybox;       // static busybox (Debian's busybox-static: /bin/busybox)
    // Links to busybox in /bin besides the shell's own (shell_applets()): every applet this
    // busybox has (list_busybox_applets), so `kmatrix exec -- true` finds `true`.
    std::vector<std::string> busybox_applets;
    std::string agent;         // static `flowattr`
    std::string kernel_tests;  // static `flowattr_kernel_tests`
    std::string modules_dir;   // flat dir of .ko files to insmod; may be empty
    std::string channel_modules_dir;  // the results channel's .ko files (guest_arch.h); may be empty
    Arch arch = host_arch();   // every binary must be built for it
    // Files a command brought along (`kmatrix check`'s objects): archive path without a
    // leading '/' -> host path. Read as they are, static or not.
    std::map<std::string, std::string> extra_files;
    // Files the host writes for the guest (`kmatrix exec`'s argv): archive path -> contents.
    std::map<std::string, std::string> generated_files;
};

// The archive: /init (kmatrix), /bin/busybox + shell applet links, the two flowattr
// binaries, /lib/modules/kmatrix/*.ko, /dev/console, empty mount points. Throws
// flowattr::Error when an input is missing or is not a static executable (a dynamic one
// would fail inside the VM with a baffling "not found").
CpioArchive assemble_initramfs(const InitramfsInputs& in);
// What `BUSYBOX --list` names; throws flowattr::Error when it does not run or names no `sh`.
std::vector<std::string> list_busybox_applets(const std::string& busybox);
std::string build_initramfs(const InitramfsInputs& in);

// static_exe: a 64-bit little-endian ELF executable without a PT_INTERP program header (what
// runs in the guest, which has no dynamic loader); dynamic_exe: one with it; else not_executable.
enum class ElfLinkage { not_executable, static_exe, dynamic_exe };
ElfLinkage elf_linkage(const std::string& path);
// What a dynamically linked executable needs to run in a guest: its loader first, then every
// shared library, as files of this machine: for this machine's architecture the paths its
// loader resolves them to (its cache and the caller's LD_LIBRARY_PATH included); for the
// other, those its multiarch directories hold (Debian's :arm64 packages). The guest gets each
// at the same path, and their directories as its LD_LIBRARY_PATH (guest::kGuestLibraryPath).
// Throws flowattr::Error for a loader outside the system's directories or of the wrong
// architecture, or a library this machine does not have.
std::vector<std::string> shared_library_closure(const std::string& exe);
// The architecture an ELF file is built for (e_machine); nullopt for anything else.
std::optional<Arch> elf_arch(const std::string& path);

}  // namespace flowattr::matrix
