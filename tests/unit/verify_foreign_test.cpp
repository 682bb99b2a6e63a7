// No false positives on objects this project did not write: the BPF objects Debian's
// libbpf-tools (docker/packages.lock) embed in its binaries through their skeletons load
// on real kernels, so the validator must find nothing in any of them. The kernels' own BTF
// is checked in tests/kernel/btf_test.cpp.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "common/file.h"
#include "verify/bpf_object.h"

namespace flowattr::verify {
namespace {

constexpr const char* kPackageList = "/var/lib/dpkg/info/libbpf-tools.list";
constexpr std::uint16_t kEmBpf = 247;

template <typename T>
T read_at(const std::string& bytes, std::size_t off) {
    T v{};
    if (off + sizeof(T) <= bytes.size()) std::memcpy(&v, bytes.data() + off, sizeof(T));
    return v;
}

// The BPF ELF images inside a binary: every "\x7fELF" past offset 0 whose header says
// 64-bit little-endian EM_BPF, cut where its last section or section header ends.
std::vector<std::string> embedded_bpf_objects(const std::string& binary) {
    std::vector<std::string> out;
    for (std::size_t at = binary.find("\x7f" "ELF", 1); at != std::string::npos; at = binary.find("\x7f" "ELF", at + 1)) {
        const std::string head = binary.substr(at, 64);
        if (head.size() < 64 || head[4] != 2 || head[5] != 1 || read_at<std::uint16_t>(head, 0x12) != kEmBpf) continue;
        const auto shoff = read_at<std::uint64_t>(head, 0x28);
        const auto shentsize = read_at<std::uint16_t>(head, 0x3a);
        const auto shnum = read_at<std::uint16_t>(head, 0x3c);
        std::uint64_t end = shoff + std::uint64_t(shentsize) * shnum;
        for (std::uint16_t i = 0; i < shnum; i++) {
            const std::size_t sh = at + shoff + std::size_t(i) * shentsize;
            const auto type = read_at<std::uint32_t>(binary, sh + 4);
            const auto offset = read_at<std::uint64_t>(binary, sh + 0x18), size = read_at<std::uint64_t>(binary, sh + 0x20);
            if (type != 8 /* SHT_NOBITS */ && offset + size > end) end = offset + size;
        }
        if (end > binary.size() - at) continue;
        out.push_back(binary.substr(at, end));
    }
    return out;
}

TEST(ForeignObjects, DebianLibbpfToolsHaveNoFindings) {
    std::ifstream list(kPackageList);
    if (!list) GTEST_SKIP() << "libbpf-tools is not installed (" << kPackageList << "); make check installs it";
    int binaries = 0, objects = 0;
    std::string path;
    while (std::getline(list, path)) {
        if (path.rfind("/usr/sbin/", 0) != 0) continue;
        const std::string binary = flowattr::read_file(path);
        int here = 0;
        for (const std::string& object : embedded_bpf_objects(binary)) {
            const ObjectReport r = inspect_object(path.substr(10), path + "#" + std::to_string(here), object);
            EXPECT_TRUE(r.findings.empty()) << path << " object " << here << ": " << r.findings.front().message
                                            << "\n" << r.findings.front().log;
            EXPECT_FALSE(r.programs.empty()) << path << " object " << here;
            here++;
        }
        objects += here;
        binaries += here > 0;
    }
    std::printf("[ foreign  ] %d BPF objects from %d libbpf-tools binaries\n", objects, binaries);
    EXPECT_GE(objects, 50) << "libbpf-tools 0.26 embeds about 60 objects: the scan missed some";
}

}  // namespace
}  // namespace flowattr::verify
