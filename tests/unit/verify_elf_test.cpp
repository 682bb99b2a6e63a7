// The ELF reader and object inspection on hostile and hand-built input: every prefix of a
// real object, non-BPF and BTF-less files, bad headers, and program sections.
#include <gtest/gtest.h>

#include "build_tree.h"
#include "common/error.h"
#include "common/file.h"
#include "verify/bpf_object.h"
#include "verify/elf_file.h"
#include "verify/expectations.h"
#include "verify/sections.h"
#include "verify_builders.h"

namespace flowattr::verify {
namespace {

using testing::BtfBuilder;
using testing::ElfBuilder;

std::string built_object(const std::string& name) {
    return flowattr::read_file(fa::test::build_dir() + "/bpf/" + name + ".bpf.o");
}

std::string minimal_btf() {
    BtfBuilder b;
    b.add_int("int", 4, 32);
    return b.build();
}

TEST(ElfFile, EveryPrefixOfARealObjectIsOneClearError) {
    const std::string object = built_object("noop");
    ASSERT_TRUE(inspect_object("noop", "noop.bpf.o", object).findings.empty());
    for (std::size_t n = 0; n < object.size(); n++) {
        const ObjectReport r = inspect_object("noop", "noop.bpf.o", object.substr(0, n));
        ASSERT_EQ(r.findings.size(), 1u) << "prefix " << n;
        EXPECT_EQ(r.findings[0].check, "elf") << "prefix " << n;
        EXPECT_EQ(r.findings[0].message.rfind("noop.bpf.o: ", 0), 0u) << r.findings[0].message;
        EXPECT_NE(r.findings[0].message.find(" at offset 0x"), std::string::npos) << r.findings[0].message;
    }
}

TEST(ElfFile, SectionHeaderPastTheEndNamesFileAndOffset) {
    ElfBuilder b;
    b.section(".BTF", minimal_btf());
    std::string elf = b.build();
    const std::uint16_t shnum = std::uint16_t(std::uint8_t(elf[60]) | std::uint8_t(elf[61]) << 8);
    elf.resize(elf.size() - 10);  // cut into the last section header
    try {
        ElfFile("flow.bpf.o", elf);
        FAIL() << "truncated section headers accepted";
    } catch (const flowattr::Error& e) {
        const std::uint64_t shoff = elf.size() + 10 - 64u * shnum;
        EXPECT_EQ(std::string(e.what()), "flow.bpf.o: section header " + std::to_string(shnum - 1) + " at offset " +
                                             hex(shoff + 64u * (shnum - 1)) + " extends past end of file (size " +
                                             hex(elf.size()) + ")");
    }
}

TEST(ElfFile, NonBpfElfIsRejectedClearly) {
    const std::string self = flowattr::read_file("/proc/self/exe");
    try {
        ElfFile("/proc/self/exe", self);
        FAIL() << "host executable accepted as a BPF object";
    } catch (const flowattr::Error& e) {
        EXPECT_EQ(std::string(e.what()), "/proc/self/exe: e_machine at offset 0x12 is 62, expected 247 (EM_BPF): not a BPF object");
    }
}

TEST(ElfFile, NotElfAtAll) {
    const ObjectReport r = inspect_object("x", "x.bpf.o", "#!/bin/sh\n" + std::string(100, '#') + "\n");
    ASSERT_EQ(r.findings.size(), 1u);
    EXPECT_EQ(r.findings[0].message, "x.bpf.o: ELF magic at offset 0x0 is wrong: not an ELF file");
}

TEST(ElfFile, SectionContentsPastTheEnd) {
    ElfBuilder b;
    b.section(".BTF", minimal_btf());
    std::string elf = b.build();
    // Section 1's header: its sh_size (at +32) grows past the file.
    const std::uint64_t shoff = std::uint64_t(std::uint8_t(elf[40])) | std::uint64_t(std::uint8_t(elf[41])) << 8;
    testing::set32(elf, shoff + 64 + 32, 0x100000);
    try {
        ElfFile("flow.bpf.o", elf);
        FAIL();
    } catch (const flowattr::Error& e) {
        EXPECT_NE(std::string(e.what()).find("flow.bpf.o: section 1 contents at offset 0x40 (size 0x100000) extend past end of file"),
                  std::string::npos)
            << e.what();
    }
}

TEST(BpfObject, WithoutBtfIsAFinding) {
    ElfBuilder b;
    b.section("tc", std::string(16, '\0'), true);
    b.symbol({"prog", "tc", 0, 2, 1, 16});
    const ObjectReport r = inspect_object("nobtf", "nobtf.bpf.o", b.build());
    ASSERT_EQ(r.findings.size(), 1u);
    EXPECT_EQ(r.findings[0].check, "elf");
    EXPECT_EQ(r.findings[0].message.rfind("nobtf.bpf.o: no .BTF section among the 5 section headers at offset 0x", 0), 0u)
        << r.findings[0].message;
    ASSERT_EQ(r.programs.size(), 1u);  // what could be read is still reported
}

TEST(BpfObject, BtfInsideTheElfWithOverlappingSections) {
    std::string btf = minimal_btf();
    testing::set32(btf, testing::kBtfStrOff, 8);
    ElfBuilder b;
    b.section(".BTF", btf);
    const ObjectReport r = inspect_object("o", "o.bpf.o", b.build());
    ASSERT_EQ(r.findings.size(), 1u);
    EXPECT_EQ(r.findings[0].log, "Section overlap found");
    EXPECT_EQ(r.findings[0].message, "o.bpf.o: .BTF header at offset 0x50 (.BTF+0x10) is rejected by the kernel's BTF checks");
}

TEST(BpfObject, UnterminatedStringSectionNamesFileAndOffset) {
    std::string btf = minimal_btf();
    btf.back() = 'x';
    ElfBuilder b;
    b.section(".BTF", btf);
    const ObjectReport r = inspect_object("o", "o.bpf.o", b.build());
    ASSERT_EQ(r.findings.size(), 1u);
    EXPECT_EQ(r.findings[0].log, "Invalid string section");
    // The last byte of the string section: .BTF starts at 0x40, the byte is at .BTF+0x2c.
    EXPECT_EQ(r.findings[0].message,
              "o.bpf.o: .BTF string section at offset 0x6c (.BTF+0x2c) is rejected by the kernel's BTF checks");
}

TEST(BpfObject, CgroupSkbLegacyAndModernSections) {
    ElfBuilder b;
    b.section("cgroup/skb", std::string(16, '\0'), true);
    b.section("cgroup_skb/ingress", std::string(16, '\0'), true);
    b.section(".text", std::string(8, '\0'), true);
    b.section("license", std::string("GPL\0", 4));
    b.section(".BTF", minimal_btf());
    b.symbol({"legacy", "cgroup/skb", 0, 2, 1, 16});
    b.symbol({"modern", "cgroup_skb/ingress", 0, 2, 1, 16});
    b.symbol({"helper", ".text", 0, 2, 0, 8});  // a subprogram, not a program
    const ObjectReport r = inspect_object("skb", "skb.bpf.o", b.build());
    EXPECT_TRUE(r.findings.empty()) << r.findings.front().message;
    EXPECT_EQ(r.license, "GPL");
    ASSERT_EQ(r.programs.size(), 2u);
    EXPECT_EQ(r.programs[0].name, "legacy");
    EXPECT_EQ(prog_type_name(r.programs[0].prog_type), "cgroup_skb");
    EXPECT_EQ(expected_attach_name(r.programs[0].expected_attach_type), "none");
    EXPECT_EQ(r.programs[1].name, "modern");
    EXPECT_EQ(prog_type_name(r.programs[1].prog_type), "cgroup_skb");
    EXPECT_EQ(expected_attach_name(r.programs[1].expected_attach_type), "cgroup_inet_ingress");

    // Attached through a link, the legacy section is flagged.
    const auto expectations = parse_expectations(
        "skb legacy cgroup/skb cgroup_skb none link 5.10\n"
        "skb modern cgroup_skb/ingress cgroup_skb cgroup_inet_ingress link 5.10\n",
        "exp.txt");
    const auto findings = check_expectations({r}, expectations, false);
    ASSERT_EQ(findings.size(), 1u);
    EXPECT_NE(findings[0].message.find("program legacy: section \"cgroup/skb\" leaves expected_attach_type 0, but the "
                                       "program is attached through a bpf_link"),
              std::string::npos)
        << findings[0].message;
}

TEST(BpfObject, SeveralProgramsInOneSectionAndUnknownSections) {
    ElfBuilder b;
    b.section("tc", std::string(32, '\0'), true);
    b.section("bogus/section", std::string(8, '\0'), true);
    b.section(".BTF", minimal_btf());
    b.symbol({"first", "tc", 0, 2, 1, 16});
    b.symbol({"second", "tc", 16, 2, 1, 16});
    b.symbol({"odd", "bogus/section", 0, 2, 1, 8});
    const ObjectReport r = inspect_object("multi", "multi.bpf.o", b.build());
    ASSERT_EQ(r.programs.size(), 3u);
    EXPECT_EQ(r.programs[1].name, "second");
    EXPECT_EQ(r.programs[1].section, "tc");
    ASSERT_EQ(r.findings.size(), 1u);
    EXPECT_EQ(r.findings[0].check, "section");
    EXPECT_NE(r.findings[0].message.find("\"bogus/section\", which libbpf 1.4.6 does not recognise"), std::string::npos);
}

TEST(BpfObject, StaticAndOversizedProgramsAreRefusedLikeLibbpf) {
    ElfBuilder b;
    b.section("tc", std::string(16, '\0'), true);
    b.section(".BTF", minimal_btf());
    b.symbol({"hidden", "tc", 0, 2, 0, 8});  // STB_LOCAL
    b.symbol({"too_long", "tc", 8, 2, 1, 16});  // ends 8 bytes past the section
    const ObjectReport r = inspect_object("s", "s.bpf.o", b.build());
    ASSERT_EQ(r.findings.size(), 2u);
    EXPECT_EQ(r.findings[0].message,
              "s.bpf.o: sec 'tc': program 'hidden' is static and not supported (libbpf 1.4.6 refuses the object)");
    EXPECT_EQ(r.findings[1].message, "s.bpf.o: sec 'tc': program 'too_long' at offset 8 crosses section boundary "
                                     "(libbpf 1.4.6 refuses the object)");
}

TEST(BpfObject, ObjectNames) {
    EXPECT_EQ(object_name_from_path("/a/b/flow.bpf.o"), "flow");
    EXPECT_EQ(object_name_from_path("flow.o"), "flow");
    EXPECT_EQ(object_name_from_path("flow"), "flow");
}

}  // namespace
}  // namespace flowattr::verify
