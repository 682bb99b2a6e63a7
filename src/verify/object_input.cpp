#include "verify/object_input.h"

#include <cstring>
#include <fstream>

#include "common/error.h"
#include "common/file.h"
#include "verify/bpf_object.h"
#include "verify/elf_file.h"

namespace flowattr::verify {
namespace {

constexpr char kElfMagic[] = "\x7f" "ELF";
constexpr std::size_t kElf64HeaderSize = 64;

std::uint16_t u16(const std::string& b, std::size_t off) {
    return std::uint16_t(std::uint8_t(b[off]) | std::uint8_t(b[off + 1]) << 8);
}
std::uint64_t u64(const std::string& b, std::size_t off) {
    std::uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = v << 8 | std::uint8_t(b[off + std::size_t(i)]);
    return v;
}

bool elf_at(const std::string& b, std::size_t off) {
    return b.size() >= off + kElf64HeaderSize && b.compare(off, 4, kElfMagic, 4) == 0;
}

// An embedded BPF ELF ends with its section header table (clang, bpftool gen object and
// libbpf's linker all put it last); its size is e_shoff + e_shnum * e_shentsize. Hand-read
// because libelf reads whole files, not ELF images at an offset inside another one.
std::size_t embedded_size(const std::string& b, std::size_t off) {
    if (std::uint8_t(b[off + 4]) != 2 || std::uint8_t(b[off + 5]) != 1) return 0;  // ELFCLASS64, little-endian
    if (u16(b, off + 18) != kEmBpf) return 0;
    std::uint64_t shoff = u64(b, off + 40);
    std::uint64_t end = shoff + std::uint64_t(u16(b, off + 60)) * u16(b, off + 58);
    if (shoff < kElf64HeaderSize || end > b.size() - off) return 0;
    return std::size_t(end);
}

// uname -m's name of the machine an ELF header at the start of BYTES is built for.
std::string machine_of(const std::string& bytes) {
    if (!elf_at(bytes, 0) || std::uint8_t(bytes[4]) != 2 || std::uint8_t(bytes[5]) != 1) return "";  // ELFCLASS64, LSB
    switch (u16(bytes, 18)) {
        case 62: return "x86_64";    // EM_X86_64
        case 183: return "aarch64";  // EM_AARCH64
    }
    return "";
}

}  // namespace

std::vector<InputObject> bpf_objects_in(const std::string& display, const std::string& bytes) {
    if (bytes.size() < 4 || bytes.compare(0, 4, kElfMagic, 4) != 0)
        throw InputError(display + ": not an ELF file (no \\x7fELF magic)");
    if (bytes.size() < kElf64HeaderSize) throw InputError(display + ": truncated ELF header (" + std::to_string(bytes.size()) + " bytes)");
    std::string name = object_name_from_path(display);
    if (u16(bytes, 18) == kEmBpf) {
        try {
            ElfFile elf(display, bytes);
        } catch (const Error& e) {
            throw InputError(std::string("malformed BPF object: ") + e.what());
        }
        return {InputObject{name, display, bytes}};
    }
    std::vector<InputObject> found;
    std::size_t pos = 1;
    while ((pos = bytes.find(kElfMagic, pos, 4)) != std::string::npos) {
        std::size_t size = elf_at(bytes, pos) ? embedded_size(bytes, pos) : 0;
        if (size == 0) {
            pos++;
            continue;
        }
        std::string blob = bytes.substr(pos, size);
        std::string origin = display + "@" + hex(pos);
        try {
            ElfFile elf(origin, blob);
        } catch (const Error&) {
            pos++;  // four bytes that only look like a header
            continue;
        }
        found.push_back(InputObject{name, origin, std::move(blob)});
        pos += size;
    }
    if (found.empty()) {
        const std::string machine = machine_of(bytes);
        throw InputError(display + ": " +
                         (machine.empty() ? "an ELF file for e_machine " + std::to_string(u16(bytes, 18))
                                          : "an " + machine + " ELF file") +
                         ", not a BPF object, and it embeds none");
    }
    if (found.size() > 1)
        for (std::size_t i = 0; i < found.size(); i++) found[i].name = name + "." + std::to_string(i + 1);
    return found;
}

namespace {

std::string read_input(const std::string& path) {
    try {
        return read_file(path);
    } catch (const Error& e) {
        throw InputError(e.what());
    }
}

}  // namespace

std::string elf_machine(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::string header(kElf64HeaderSize, '\0');
    if (!in.read(header.data(), std::streamsize(header.size()))) return "";
    return machine_of(header);
}

std::vector<InputObject> read_bpf_objects(const std::string& path) { return bpf_objects_in(path, read_input(path)); }

std::vector<InputObject> read_bpf_objects_for(const std::string& path, const std::string& machine) {
    const std::string bytes = read_input(path);
    const std::string built_for = machine_of(bytes);
    if (!built_for.empty() && built_for != machine)
        throw InputError(path + " is an " + built_for + " executable and this kernel is " + machine +
                         ": the BPF objects it embeds were compiled for " + built_for +
                         " (a kprobe's register reads, the syscall wrappers it names); check it on an " + built_for +
                         " kernel (kmatrix check)");
    return bpf_objects_in(path, bytes);
}

}  // namespace flowattr::verify
