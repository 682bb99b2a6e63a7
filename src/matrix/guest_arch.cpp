#include "matrix/guest_arch.h"

namespace flowattr::matrix {

std::string GuestArch::artifacts_subdir() const { return arch == host_arch() ? "" : arch_name(arch); }

const GuestArch& guest_arch(Arch arch) {
    // The second 16550 UART is the results channel on a PC. The virt machine has one PL011
    // for the non-secure world, so aarch64 reports through a virtio console.
    static const GuestArch x86_64{Arch::x86_64,
                                  "qemu-system-x86_64",
                                  "qemu-system-x86",
                                  {"-cpu", "max,-erms,-fsrm"},
                                  "ttyS0",
                                  "",
                                  "/dev/ttyS1",
                                  {"-serial", "chardev:res"},
                                  {},
                                  "amd64",
                                  1.0,
                                  true};
    static const GuestArch aarch64{Arch::aarch64,
                                   "qemu-system-aarch64",
                                   "qemu-system-arm",
                                   {"-machine", "virt", "-cpu", "neoverse-n1"},
                                   "ttyAMA0",
                                   "kpti=0",
                                   "/dev/hvc0",
                                   {"-device", "virtio-serial-pci", "-device", "virtconsole,chardev=res"},
                                   {{"virtio_pci", "VIRTIO_PCI"}, {"virtio_console", "VIRTIO_CONSOLE"}},
                                   "arm64",
                                   2.0,
                                   false};
    return arch == Arch::aarch64 ? aarch64 : x86_64;
}

}  // namespace flowattr::matrix
