#include "verify/elf_file.h"

#include <cstdio>

#include "common/error.h"
#include "verify/byte_reader.h"

namespace flowattr::verify {

namespace {

constexpr std::uint64_t kEhdrSize = 64;
constexpr std::uint64_t kShdrSize = 64;
constexpr std::uint64_t kSymSize = 24;
constexpr std::uint16_t kShnXindex = 0xffff;

}  // namespace

std::string hex(std::uint64_t value) {
    char buf[24];
    std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(value));
    return buf;
}

ElfFile::ElfFile(std::string display_name, std::string bytes)
    : display_name_(std::move(display_name)), bytes_(std::move(bytes)) {
    parse();
}

void ElfFile::fail(const std::string& subject, std::uint64_t offset, const std::string& problem) const {
    throw flowattr::Error(display_name_ + ": " + subject + " at offset " + hex(offset) + " " + problem);
}

const ElfSection* ElfFile::find_section(std::string_view name) const {
    for (const auto& s : sections_)
        if (s.name == name) return &s;
    return nullptr;
}

std::string_view ElfFile::section_data(const ElfSection& section) const {
    if (section.type == kShtNobits || section.type == kShtNull) return {};
    return std::string_view(bytes_).substr(section.offset, section.size);
}

void ElfFile::parse() {
    const std::string_view b = bytes_;
    const std::uint64_t size = b.size();
    if (size < kEhdrSize)
        fail("ELF header", 0, "needs " + std::to_string(kEhdrSize) + " bytes but the file has " + std::to_string(size));
    if (b.substr(0, 4) != std::string_view("\x7f" "ELF", 4)) fail("ELF magic", 0, "is wrong: not an ELF file");
    if (b[4] != 2)
        fail("EI_CLASS", 4, "is " + std::to_string(int(std::uint8_t(b[4]))) + ": not a 64-bit ELF file");
    if (b[5] != 1)
        fail("EI_DATA", 5, "is " + std::to_string(int(std::uint8_t(b[5]))) + ": not a little-endian ELF file");
    const std::uint16_t machine = load_le16(b, 18);
    if (machine != kEmBpf)
        fail("e_machine", 18, "is " + std::to_string(machine) + ", expected " + std::to_string(kEmBpf) +
                                  " (EM_BPF): not a BPF object");

    const std::uint64_t shoff = load_le64(b, 40);
    const std::uint16_t shentsize = load_le16(b, 58);
    std::uint64_t shnum = load_le16(b, 60);
    std::uint32_t shstrndx = load_le16(b, 62);
    if (shoff == 0) {
        if (shnum != 0) fail("e_shoff", 40, "is 0 but e_shnum is " + std::to_string(shnum));
        return;  // no section headers at all: nothing more to read
    }
    if (shentsize != kShdrSize)
        fail("e_shentsize", 58, "is " + std::to_string(shentsize) + ", expected " + std::to_string(kShdrSize));
    if (!range_ok(size, shoff, kShdrSize))
        fail("section header 0", shoff, "extends past end of file (size " + hex(size) + ")");
    // Extended numbering (ELF gABI): counts that do not fit 16 bits live in section 0.
    if (shnum == 0) shnum = load_le64(b, shoff + 32);
    if (shstrndx == kShnXindex) shstrndx = load_le32(b, shoff + 40);

    for (std::uint64_t i = 0; i < shnum; i++) {
        // Checked before the multiplication so a huge e_shnum cannot wrap the offset.
        if (i > size / kShdrSize || !range_ok(size, shoff + i * kShdrSize, kShdrSize))
            fail("section header " + std::to_string(i), shoff + i * kShdrSize,
                 "extends past end of file (size " + hex(size) + ")");
        const std::uint64_t at = shoff + i * kShdrSize;
        ElfSection s;
        s.index = static_cast<std::uint32_t>(i);
        s.header_offset = at;
        s.type = load_le32(b, at + 4);
        s.flags = load_le64(b, at + 8);
        s.offset = load_le64(b, at + 24);
        s.size = load_le64(b, at + 32);
        s.link = load_le32(b, at + 40);
        s.info = load_le32(b, at + 44);
        s.entsize = load_le64(b, at + 56);
        if (s.type != kShtNobits && s.type != kShtNull && !range_ok(size, s.offset, s.size))
            fail("section " + std::to_string(i) + " contents", s.offset,
                 "(size " + hex(s.size) + ") extend past end of file (size " + hex(size) + ")");
        sections_.push_back(std::move(s));
    }
    if (sections_.empty()) return;
    if (shstrndx >= sections_.size())
        fail("e_shstrndx", 62, "is " + std::to_string(shstrndx) + " but there are only " +
                                   std::to_string(sections_.size()) + " sections");
    const ElfSection& shstr = sections_[shstrndx];
    const std::string_view names = section_data(shstr);
    for (std::size_t i = 0; i < sections_.size(); i++) {
        const std::uint32_t name_off = load_le32(b, sections_[i].header_offset);
        if (name_off == 0 && names.empty()) continue;
        if (name_off >= names.size())
            fail("section header " + std::to_string(i), sections_[i].header_offset,
                 "has name offset " + std::to_string(name_off) + " outside the section name table (size " +
                     hex(names.size()) + ")");
        const std::size_t end = names.find('\0', name_off);
        if (end == std::string_view::npos)
            fail("section " + std::to_string(i) + " name", shstr.offset + name_off, "is not NUL-terminated");
        sections_[i].name = std::string(names.substr(name_off, end - name_off));
    }
    for (const auto& s : sections_)
        if (s.type == kShtSymtab) {
            parse_symbols(s);
            break;
        }
}

void ElfFile::parse_symbols(const ElfSection& symtab) {
    const std::string_view b = bytes_;
    if (symtab.entsize != kSymSize)
        fail("symbol table header", symtab.header_offset,
             "has entry size " + std::to_string(symtab.entsize) + ", expected " + std::to_string(kSymSize));
    if (symtab.link >= sections_.size())
        fail("symbol table header", symtab.header_offset,
             "links to string section " + std::to_string(symtab.link) + ", which does not exist");
    const ElfSection& strtab = sections_[symtab.link];
    const std::string_view strings = section_data(strtab);
    const std::uint64_t count = symtab.size / kSymSize;
    symbols_.reserve(count);
    for (std::uint64_t i = 0; i < count; i++) {
        const std::uint64_t at = symtab.offset + i * kSymSize;
        ElfSymbol sym;
        const std::uint32_t name_off = load_le32(b, at);
        sym.info = std::uint8_t(b[at + 4]);
        sym.other = std::uint8_t(b[at + 5]);
        sym.section_index = load_le16(b, at + 6);
        sym.value = load_le64(b, at + 8);
        sym.size = load_le64(b, at + 16);
        if (name_off != 0) {
            if (name_off >= strings.size())
                fail("symbol " + std::to_string(i), at,
                     "has name offset " + std::to_string(name_off) + " outside the string table (size " +
                         hex(strings.size()) + ")");
            const std::size_t end = strings.find('\0', name_off);
            if (end == std::string_view::npos)
                fail("symbol " + std::to_string(i) + " name", strtab.offset + name_off, "is not NUL-terminated");
            sym.name = std::string(strings.substr(name_off, end - name_off));
        }
        symbols_.push_back(std::move(sym));
    }
}

}  // namespace flowattr::verify
