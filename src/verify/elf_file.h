#pragma once
// A bounds-checked reader for 64-bit little-endian ELF files, written for hostile input:
// every offset and size is checked against the file before it is used, and every problem
// becomes a flowattr::Error naming the file and the byte offset. Why not libelf: its errors
// say what ("invalid section header") but never where, and naming the offset is this
// reader's whole job (verify_elf_test pins the messages); a libelf version would repeat
// every bounds check here to word its failures. Everything that needs the object the way
// libbpf reads it, with libelf, asks libbpf itself (bpf_object__open_mem in bpf_object.cpp).
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace flowattr::verify {

inline constexpr std::uint16_t kEmBpf = 247;

inline constexpr std::uint32_t kShtNull = 0;
inline constexpr std::uint32_t kShtSymtab = 2;
inline constexpr std::uint32_t kShtNobits = 8;
inline constexpr std::uint64_t kShfExecinstr = 0x4;

inline constexpr std::uint8_t kSttObject = 1;
inline constexpr std::uint8_t kSttFunc = 2;
inline constexpr std::uint8_t kStbLocal = 0;
inline constexpr std::uint8_t kStbGlobal = 1;
inline constexpr std::uint8_t kStbWeak = 2;

struct ElfSection {
    std::uint32_t index = 0;
    std::string name;
    std::uint32_t type = 0;
    std::uint64_t flags = 0;
    std::uint64_t offset = 0;  // file offset of the contents
    std::uint64_t size = 0;
    std::uint32_t link = 0;
    std::uint32_t info = 0;
    std::uint64_t entsize = 0;
    std::uint64_t header_offset = 0;  // file offset of this section's header, for messages

    bool executable() const { return (flags & kShfExecinstr) != 0; }
};

struct ElfSymbol {
    std::string name;
    std::uint8_t info = 0;
    std::uint8_t other = 0;
    std::uint16_t section_index = 0;
    std::uint64_t value = 0;
    std::uint64_t size = 0;

    std::uint8_t type() const { return info & 0xf; }
    std::uint8_t binding() const { return info >> 4; }
    std::uint8_t visibility() const { return other & 0x3; }
};

class ElfFile {
public:
    // Parses BYTES (kept by the object); DISPLAY_NAME is what errors call the file.
    // Throws flowattr::Error on any malformation, and when the file is not an EM_BPF object.
    ElfFile(std::string display_name, std::string bytes);

    const std::string& display_name() const { return display_name_; }
    const std::string& bytes() const { return bytes_; }
    const std::vector<ElfSection>& sections() const { return sections_; }
    const std::vector<ElfSymbol>& symbols() const { return symbols_; }

    // nullptr when there is no section of that name.
    const ElfSection* find_section(std::string_view name) const;
    // The section's bytes; empty for SHT_NOBITS (.bss has a size but no file contents).
    std::string_view section_data(const ElfSection& section) const;

    // "flow.bpf.o: section header 7 at offset 0x1a40 extends past end of file (size 0x1900)":
    // every error of this reader names the file, the thing, its byte offset and the problem.
    [[noreturn]] void fail(const std::string& subject, std::uint64_t offset, const std::string& problem) const;

private:
    void parse();
    void parse_symbols(const ElfSection& symtab);

    std::string display_name_;
    std::string bytes_;
    std::vector<ElfSection> sections_;
    std::vector<ElfSymbol> symbols_;
};

// "0x1a40": offsets in messages are hexadecimal, as readelf prints them.
std::string hex(std::uint64_t value);

}  // namespace flowattr::verify
