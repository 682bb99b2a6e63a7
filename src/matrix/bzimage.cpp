#include "matrix/bzimage.h"

#include <gelf.h>
#include <libelf.h>
#include <lz4.h>
#include <zlib.h>
#include <zstd.h>

#include <cstdint>
#include <cstring>
#include <memory>

#include "common/error.h"

namespace flowattr::matrix {
namespace {

// Documentation/arch/x86/boot.rst: the setup header's fields used here.
constexpr std::size_t kSetupSects = 0x1f1, kHeaderMagic = 0x202, kVersion = 0x206, kPayloadOffset = 0x248,
                      kPayloadLength = 0x24c;
constexpr std::uint16_t kPayloadFieldsVersion = 0x0208;
// Larger than any kernel a VM here boots; a bigger "size" is a damaged trailer, not a kernel.
constexpr std::uint32_t kMaxKernelSize = 512u << 20;
// include/xen/interface/elfnote.h: the 32-bit PVH entry point QEMU starts the kernel at.
constexpr std::uint32_t kXenElfnotePhys32Entry = 18;

std::uint32_t le32(std::string_view s, std::size_t at) {
    std::uint32_t v = 0;
    for (int i = 3; i >= 0; i--) v = v << 8 | std::uint8_t(s[at + std::size_t(i)]);
    return v;
}

bool starts_with_bytes(std::string_view s, std::string_view magic) { return s.substr(0, magic.size()) == magic; }

KernelCompression compression_of(std::string_view payload) {
    using namespace std::string_view_literals;
    if (starts_with_bytes(payload, "\x1f\x8b"sv)) return KernelCompression::gzip;
    if (starts_with_bytes(payload, "BZh"sv)) return KernelCompression::bzip2;
    if (starts_with_bytes(payload, "\x5d\x00\x00"sv)) return KernelCompression::lzma;
    if (starts_with_bytes(payload, "\xfd" "7zXZ\x00"sv)) return KernelCompression::xz;
    if (starts_with_bytes(payload, "\x89LZO"sv)) return KernelCompression::lzo;
    if (starts_with_bytes(payload, "\x02\x21\x4c\x18"sv)) return KernelCompression::lz4;
    if (starts_with_bytes(payload, "\x28\xb5\x2f\xfd"sv)) return KernelCompression::zstd;
    return KernelCompression::unknown;
}

// lib/decompress_unlz4.c's framing (lz4 -l): the magic, then blocks each prefixed by its
// compressed size, each unpacking to at most 8 MiB. liblz4's frame API reads only the newer
// framing, so the blocks go through its block decoder one by one. Returns the bytes unpacked.
std::size_t unpack_lz4_legacy(std::string_view in, std::string& out) {
    constexpr std::size_t kBlock = 8u << 20;
    std::size_t at = 4, produced = 0;
    while (at + 4 <= in.size() && produced < out.size()) {
        const std::uint32_t size = le32(in, at);
        at += 4;
        if (size == 0x184c2102) continue;  // a second stream's magic
        if (size > in.size() - at) throw Error("lz4 payload: a block runs past the payload's end");
        const int n = LZ4_decompress_safe(in.data() + at, out.data() + produced, int(size),
                                          int(std::min(kBlock, out.size() - produced)));
        if (n < 0) throw Error("lz4 payload: damaged block at byte " + std::to_string(at));
        produced += std::size_t(n);
        at += size;
    }
    return produced;
}

std::size_t unpack_zstd(std::string_view in, std::string& out) {
    const std::size_t n = ZSTD_decompress(out.data(), out.size(), in.data(), in.size());
    if (ZSTD_isError(n)) throw Error(std::string("zstd payload: ") + ZSTD_getErrorName(n));
    return n;
}

std::size_t unpack_gzip(std::string_view in, std::string& out) {
    z_stream z{};
    if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK) throw Error("gzip payload: inflateInit2 failed");
    std::unique_ptr<z_stream, int (*)(z_stream*)> owner(&z, inflateEnd);
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
    z.avail_in = uInt(in.size());
    z.next_out = reinterpret_cast<Bytef*>(out.data());
    z.avail_out = uInt(out.size());
    const int rc = inflate(&z, Z_FINISH);
    if (rc != Z_STREAM_END) throw Error(std::string("gzip payload: ") + (z.msg ? z.msg : "inflate did not finish"));
    return z.total_out;
}

}  // namespace

const char* kernel_compression_name(KernelCompression compression) {
    switch (compression) {
        case KernelCompression::gzip: return "gzip";
        case KernelCompression::bzip2: return "bzip2";
        case KernelCompression::lzma: return "lzma";
        case KernelCompression::xz: return "xz";
        case KernelCompression::lzo: return "lzo";
        case KernelCompression::lz4: return "lz4";
        case KernelCompression::zstd: return "zstd";
        case KernelCompression::unknown: break;
    }
    return "unknown";
}

std::optional<BzImagePayload> find_bzimage_payload(std::string_view image) {
    if (image.size() < kPayloadLength + 4 || image.substr(kHeaderMagic, 4) != "HdrS") return std::nullopt;
    const std::uint16_t version = std::uint16_t(std::uint8_t(image[kVersion]) | std::uint8_t(image[kVersion + 1]) << 8);
    if (version < kPayloadFieldsVersion) return std::nullopt;
    const std::size_t setup_sects = std::uint8_t(image[kSetupSects]) ? std::uint8_t(image[kSetupSects]) : 4;
    BzImagePayload p;
    p.offset = (setup_sects + 1) * 512 + le32(image, kPayloadOffset);
    p.length = le32(image, kPayloadLength);
    if (p.offset > image.size() || p.length > image.size() - p.offset || p.length < 8) return std::nullopt;
    p.compression = compression_of(image.substr(p.offset, p.length));
    return p;
}

std::string unpack_bzimage_payload(std::string_view image, const BzImagePayload& payload) {
    // The kernel's build appends the unpacked size to every payload (size_append), little-endian.
    std::string_view in = image.substr(payload.offset, payload.length);
    const std::uint32_t size = le32(in, in.size() - 4);
    if (size == 0 || size > kMaxKernelSize) throw Error("the payload's size trailer says " + std::to_string(size) + " bytes");
    std::string out(size, '\0');
    const std::string_view stream = in.substr(0, in.size() - 4);
    std::size_t produced = 0;
    switch (payload.compression) {
        case KernelCompression::lz4: produced = unpack_lz4_legacy(stream, out); break;
        case KernelCompression::zstd: produced = unpack_zstd(stream, out); break;
        case KernelCompression::gzip: produced = unpack_gzip(stream, out); break;
        default:
            throw Error(std::string("a ") + kernel_compression_name(payload.compression) +
                        " payload is not unpacked here (lz4, zstd and gzip are)");
    }
    if (produced != out.size())
        throw Error(std::string(kernel_compression_name(payload.compression)) + " payload: " + std::to_string(produced) +
                    " bytes unpacked, the trailer says " + std::to_string(out.size()));
    return out;
}

bool elf_has_pvh_entry(std::string_view elf) {
    elf_version(EV_CURRENT);
    Elf* e = elf_memory(const_cast<char*>(elf.data()), elf.size());
    if (!e) return false;
    std::unique_ptr<Elf, int (*)(Elf*)> owner(e, elf_end);
    std::size_t count = 0;
    if (elf_kind(e) != ELF_K_ELF || elf_getphdrnum(e, &count) != 0) return false;
    for (std::size_t i = 0; i < count; i++) {
        GElf_Phdr ph;
        if (!gelf_getphdr(e, int(i), &ph) || ph.p_type != PT_NOTE) continue;
        Elf_Data* data = elf_getdata_rawchunk(e, off_t(ph.p_offset), ph.p_filesz, ELF_T_NHDR);
        if (!data) continue;
        GElf_Nhdr note;
        std::size_t at = 0, name_at = 0, desc_at = 0;
        while ((at = gelf_getnote(data, at, &note, &name_at, &desc_at)) > 0) {
            const char* name = static_cast<const char*>(data->d_buf) + name_at;
            if (note.n_type == kXenElfnotePhys32Entry && note.n_namesz == 4 && std::memcmp(name, "Xen", 4) == 0) return true;
        }
    }
    return false;
}

PvhKernel pvh_kernel_of(std::string_view image) {
    PvhKernel k;
    std::optional<BzImagePayload> payload = find_bzimage_payload(image);
    if (!payload) {
        k.why_not = "not a bzImage of boot protocol 2.08 or later";
        return k;
    }
    k.compression = payload->compression;
    try {
        k.elf = unpack_bzimage_payload(image, *payload);
    } catch (const Error& e) {
        k.why_not = e.what();
        return k;
    }
    if (!elf_has_pvh_entry(k.elf)) {
        k.elf.clear();
        k.why_not = "the kernel has no PVH entry note (CONFIG_PVH is not set)";
    }
    return k;
}

}  // namespace flowattr::matrix
