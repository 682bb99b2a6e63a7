#pragma once
// The kernel inside an x86 bzImage, unpacked for QEMU's PVH boot. An ELF vmlinux with a PVH
// entry note (CONFIG_PVH) is started there directly: no real-mode setup and no decompressor
// in the guest, which under TCG spends 0.2-0.8 s of every boot unpacking a 50 MB kernel.
// The bytes QEMU runs are the pinned vmlinuz's own kernel, unpacked on the host.
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace flowattr::matrix {

// The compressions a kernel build may choose (CONFIG_KERNEL_*), told apart by their magic.
enum class KernelCompression { gzip, bzip2, lzma, xz, lzo, lz4, zstd, unknown };
const char* kernel_compression_name(KernelCompression compression);

// Where a bzImage keeps its compressed kernel (boot protocol 2.08+: payload_offset and
// payload_length in the setup header).
struct BzImagePayload {
    std::size_t offset = 0, length = 0;  // in the file
    KernelCompression compression = KernelCompression::unknown;
};
// nullopt when IMAGE is not a bzImage of boot protocol 2.08 or later, or its payload lies
// outside the file.
std::optional<BzImagePayload> find_bzimage_payload(std::string_view image);

// The payload unpacked; lz4 (the kernel's legacy framing), zstd and gzip. Throws Error for
// another compression or a damaged stream.
std::string unpack_bzimage_payload(std::string_view image, const BzImagePayload& payload);

// Whether ELF carries the PVH entry note (Xen's XEN_ELFNOTE_PHYS32_ENTRY, which QEMU reads).
bool elf_has_pvh_entry(std::string_view elf);

// IMAGE's ELF vmlinux for a PVH boot, or why there is none (not a bzImage, a compression
// not unpacked here, a kernel built without CONFIG_PVH).
struct PvhKernel {
    std::string elf;      // empty when why_not says why
    std::string why_not;
    KernelCompression compression = KernelCompression::unknown;
};
PvhKernel pvh_kernel_of(std::string_view image);

}  // namespace flowattr::matrix
