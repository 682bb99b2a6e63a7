#pragma once
// What a kernel's architecture (kernels.txt's arch column) decides for its VM: the QEMU binary
// and machine, the console and results-channel devices, the Debian architecture of its
// packages, the modules the results channel needs, and where its VM binaries are built.
#include <string>
#include <vector>

#include "matrix/deb_extract.h"
#include "matrix/kernel_list.h"

namespace flowattr::matrix {

struct GuestArch {
    Arch arch;
    const char* qemu;          // "qemu-system-x86_64"
    const char* qemu_package;  // the Debian package that has it, for messages
    // Machine and CPU under TCG. aarch64: a Neoverse N1 (Graviton2, Ampere Altra) rather than
    // -cpu max, whose pointer authentication QEMU 7.2 emulates so slowly that a 6.1 kernel
    // takes 6.6 s instead of 1.0 s to reach /init. x86_64: -cpu max without ERMS and FSRM,
    // with which the kernel copies memory (pages, copy_to/from_user) with `rep movsb`, which
    // TCG runs a byte at a time: a 6.12 suite's busy time 14.0-15.9 s with them, 9.6-11.9 s
    // without (docs/PERFORMANCE.md).
    std::vector<std::string> tcg_machine;
    const char* console;      // kernel console= device: "ttyS0", "ttyAMA0"
    // Added to every kernel command line of the architecture. aarch64: kpti=0, because with
    // KASLR on an emulated N1 the kernel unmaps itself on every syscall, about 9x slower
    // under TCG; the VMs run nothing untrusted.
    const char* kernel_args;
    const char* results_tty;  // the results channel inside the guest: "/dev/ttyS1", "/dev/hvc0"
    // QEMU argv that wires chardev "res" to results_tty.
    std::vector<std::string> results_device;
    // Kernel options the results channel needs, loaded from the initramfs before anything
    // else when a kernel builds them as modules (aarch64: virtio-pci and virtio-console,
    // modules in Debian's 5.10 and 6.1 cloud kernels, built in from 6.12).
    std::vector<RequiredModule> channel_modules;
    const char* debian_arch;  // "amd64", "arm64": the :ARCH of its packages
    // Where this architecture's VM binaries are, under a build tree or out/: "" for the host's
    // own, "<arch>" (FLOWATTR_GUEST_ARCHES' cross builds) otherwise.
    std::string artifacts_subdir() const;
    // TCG runs a foreign architecture slower than the host's; every limit is scaled by this.
    double tcg_scale;
    // x86_64: the cache unpacks a bzImage's kernel and QEMU starts it at its PVH entry
    // (bzimage.h); aarch64's QEMU loads the gzip'd Image itself.
    bool pvh_boot;
};

const GuestArch& guest_arch(Arch arch);

}  // namespace flowattr::matrix
