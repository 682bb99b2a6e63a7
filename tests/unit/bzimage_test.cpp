// bzImage payloads unpacked for a PVH boot: each compression the kernel's build writes, built
// here with the compressors' own libraries around a small ELF, and every way it can fail named.
// The real kernels' payloads are unpacked and booted by the matrix (kmatrix_exec_matrix.cpp).
#include <gtest/gtest.h>
#include <lz4.h>
#include <zlib.h>
#include <zstd.h>

#include <cstdint>
#include <cstring>
#include <string>

#include "matrix/bzimage.h"

namespace fm = flowattr::matrix;

namespace {

void put_le(std::string& s, std::size_t at, std::uint64_t v, int bytes) {
    for (int i = 0; i < bytes; i++) s[at + std::size_t(i)] = char(v >> (8 * i) & 0xff);
}

std::string le32(std::uint32_t v) {
    std::string s(4, '\0');
    put_le(s, 0, v, 4);
    return s;
}

// An ELF64 executable whose one program header is a PT_NOTE holding one note, padded with
// FILL bytes so that it compresses into more than one lz4 block when asked.
std::string elf_with_note(const char* name, std::uint32_t type, std::size_t fill = 0) {
    const std::size_t ehdr = 64, phdr = 56, note_at = ehdr + phdr;
    const std::string note_name(name, std::strlen(name) + 1);
    std::string note(12, '\0');
    put_le(note, 0, note_name.size(), 4);
    put_le(note, 4, 4, 4);  // the descriptor: a 32-bit entry address
    put_le(note, 8, type, 4);
    note += note_name + std::string((4 - note_name.size() % 4) % 4, '\0') + le32(0x1000000);
    std::string elf(note_at, '\0');
    std::memcpy(elf.data(), "\x7f" "ELF\x02\x01\x01", 7);
    put_le(elf, 16, 2, 2);      // ET_EXEC
    put_le(elf, 18, 62, 2);     // EM_X86_64
    put_le(elf, 20, 1, 4);      // EV_CURRENT
    put_le(elf, 32, ehdr, 8);   // e_phoff
    put_le(elf, 52, ehdr, 2);   // e_ehsize
    put_le(elf, 54, phdr, 2);   // e_phentsize
    put_le(elf, 56, 1, 2);      // e_phnum
    put_le(elf, ehdr, 4, 4);    // PT_NOTE
    put_le(elf, ehdr + 8, note_at, 8);       // p_offset
    put_le(elf, ehdr + 32, note.size(), 8);  // p_filesz
    put_le(elf, ehdr + 40, note.size(), 8);  // p_memsz
    put_le(elf, ehdr + 48, 4, 8);            // p_align
    elf += note;
    for (std::size_t i = 0; i < fill; i++) elf += char(i * 7 % 251);
    return elf;
}

std::string pvh_elf(std::size_t fill = 0) { return elf_with_note("Xen", 18, fill); }

std::string zstd_of(const std::string& in) {
    std::string out(ZSTD_compressBound(in.size()), '\0');
    out.resize(ZSTD_compress(out.data(), out.size(), in.data(), in.size(), 3));
    return out;
}

std::string gzip_of(const std::string& in) {
    z_stream z{};
    deflateInit2(&z, 9, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
    std::string out(deflateBound(&z, uLong(in.size())) + 32, '\0');
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
    z.avail_in = uInt(in.size());
    z.next_out = reinterpret_cast<Bytef*>(out.data());
    z.avail_out = uInt(out.size());
    deflate(&z, Z_FINISH);
    out.resize(z.total_out);
    deflateEnd(&z);
    return out;
}

// The kernel's lz4 framing (lz4 -l): the magic, then each block after its compressed size.
std::string lz4_legacy_of(const std::string& in, std::size_t block) {
    std::string out = le32(0x184c2102);
    for (std::size_t at = 0; at < in.size(); at += block) {
        const std::string part = in.substr(at, block);
        std::string c(LZ4_compressBound(int(part.size())), '\0');
        c.resize(std::size_t(LZ4_compress_default(part.data(), c.data(), int(part.size()), int(c.size()))));
        out += le32(std::uint32_t(c.size())) + c;
    }
    return out;
}

// A bzImage of boot protocol 2.15 around PAYLOAD, with the size trailer the kernel's build adds.
std::string bzimage(const std::string& payload, std::uint32_t unpacked_size, int setup_sects = 3) {
    const std::size_t payload_offset = 0x40;  // past the start of the protected-mode code
    const std::size_t sects = setup_sects ? std::size_t(setup_sects) : 4;  // 0 means 4 (boot.rst)
    std::string image((sects + 1) * 512 + payload_offset, '\0');
    image[0x1f1] = char(setup_sects);
    std::memcpy(image.data() + 0x202, "HdrS", 4);
    put_le(image, 0x206, 0x020f, 2);
    const std::string with_size = payload + le32(unpacked_size);
    put_le(image, 0x248, payload_offset, 4);
    put_le(image, 0x24c, with_size.size(), 4);
    return image + with_size + std::string(100, '\xee');  // what follows the payload in a real one
}

TEST(BzImage, EachCompressionUnpacksToTheKernelWithItsPvhEntry) {
    const std::string elf = pvh_elf(3000);
    struct Case {
        std::string payload;
        fm::KernelCompression compression;
    };
    for (const auto& c : {Case{lz4_legacy_of(elf, 1024), fm::KernelCompression::lz4},
                          Case{zstd_of(elf), fm::KernelCompression::zstd}, Case{gzip_of(elf), fm::KernelCompression::gzip}}) {
        SCOPED_TRACE(fm::kernel_compression_name(c.compression));
        const std::string image = bzimage(c.payload, std::uint32_t(elf.size()));
        auto payload = fm::find_bzimage_payload(image);
        ASSERT_TRUE(payload);
        EXPECT_EQ(payload->compression, c.compression);
        EXPECT_EQ(payload->offset, 4 * 512 + 0x40u);
        EXPECT_EQ(payload->length, c.payload.size() + 4);
        const fm::PvhKernel k = fm::pvh_kernel_of(image);
        EXPECT_EQ(k.why_not, "");
        EXPECT_EQ(k.elf, elf);
        EXPECT_EQ(k.compression, c.compression);
    }
    // setup_sects 0 means 4 (boot.rst).
    auto zero = fm::find_bzimage_payload(bzimage(zstd_of(elf), std::uint32_t(elf.size()), 0));
    ASSERT_TRUE(zero);
    EXPECT_EQ(zero->offset, 5 * 512 + 0x40u);
}

TEST(BzImage, TheEntryNoteIsXensPhys32Entry) {
    EXPECT_TRUE(fm::elf_has_pvh_entry(pvh_elf()));
    EXPECT_FALSE(fm::elf_has_pvh_entry(elf_with_note("Xen", 17)));
    EXPECT_FALSE(fm::elf_has_pvh_entry(elf_with_note("GNU", 18)));
    EXPECT_FALSE(fm::elf_has_pvh_entry("not an elf at all"));
    const std::string gnu = elf_with_note("GNU", 3);
    const fm::PvhKernel k = fm::pvh_kernel_of(bzimage(zstd_of(gnu), std::uint32_t(gnu.size())));
    EXPECT_EQ(k.why_not, "the kernel has no PVH entry note (CONFIG_PVH is not set)");
    EXPECT_EQ(k.elf, "");
}

TEST(BzImage, WhyAKernelBootsAsItIsIsNamed) {
    const std::string elf = pvh_elf();
    EXPECT_EQ(fm::pvh_kernel_of("a few bytes").why_not, "not a bzImage of boot protocol 2.08 or later");
    std::string old = bzimage(zstd_of(elf), std::uint32_t(elf.size()));
    put_le(old, 0x206, 0x0207, 2);
    EXPECT_FALSE(fm::find_bzimage_payload(old)) << "no payload fields before 2.08";
    std::string beyond = bzimage(zstd_of(elf), std::uint32_t(elf.size()));
    put_le(beyond, 0x24c, beyond.size(), 4);
    EXPECT_FALSE(fm::find_bzimage_payload(beyond)) << "a payload past the file's end";

    const fm::PvhKernel xz = fm::pvh_kernel_of(bzimage(std::string("\xfd" "7zXZ\0rest", 10), 100));
    EXPECT_EQ(xz.compression, fm::KernelCompression::xz);
    EXPECT_EQ(xz.why_not, "a xz payload is not unpacked here (lz4, zstd and gzip are)");

    std::string cut_zstd = zstd_of(elf);
    cut_zstd.resize(cut_zstd.size() - 10);
    EXPECT_NE(fm::pvh_kernel_of(bzimage(cut_zstd, std::uint32_t(elf.size()))).why_not.find("zstd payload: "), std::string::npos);
    EXPECT_EQ(fm::pvh_kernel_of(bzimage(zstd_of(elf), std::uint32_t(elf.size() + 1))).why_not,
              "zstd payload: " + std::to_string(elf.size()) + " bytes unpacked, the trailer says " + std::to_string(elf.size() + 1));
    EXPECT_EQ(fm::pvh_kernel_of(bzimage(lz4_legacy_of(elf, 64), 0)).why_not, "the payload's size trailer says 0 bytes");
    std::string cut_lz4 = lz4_legacy_of(elf, 64);
    cut_lz4.resize(cut_lz4.size() - 10);
    EXPECT_EQ(fm::pvh_kernel_of(bzimage(cut_lz4, std::uint32_t(elf.size()))).why_not,
              "lz4 payload: a block runs past the payload's end");
}

}  // namespace
