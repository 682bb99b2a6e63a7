// The BTF checks against hand-built blobs: each kernel rule, the header and string section,
// split BTF, the libbpf DATASEC fix-up, and the kernel floor.
#include <gtest/gtest.h>

#include <algorithm>

#include "verify/bpf_object.h"
#include "verify/btf.h"
#include "verify/expectations.h"
#include "verify/kernel_floor.h"
#include "verify_btf_cases.h"
#include "verify_builders.h"

namespace flowattr::verify {
namespace {

using testing::BtfBuilder;
using testing::ElfBuilder;

class KernelCheck : public ::testing::TestWithParam<testing::BtfCase> {};

TEST_P(KernelCheck, FirstFindingIsTheKernelsLog) {
    const testing::BtfCase& c = GetParam();
    const BtfCheck result = check_btf(c.blob);
    if (c.expected.empty()) {
        EXPECT_TRUE(result.findings.empty()) << result.findings.front().log;
        return;
    }
    ASSERT_FALSE(result.findings.empty());
    EXPECT_EQ(result.findings.front().log, c.expected);
}

INSTANTIATE_TEST_SUITE_P(Cases, KernelCheck, ::testing::ValuesIn(testing::btf_cases()),
                         [](const auto& info) { return info.param.name; });

TEST(BtfCheck, RustEnumIsExactlyTheTwoKernelLines) {
    BtfBuilder b;
    for (int i = 0; i < 44; i++) b.add_int("i" + std::to_string(i), 4, 32);
    b.add_struct("Result", 4, {{"", 0, 0}});
    const BtfCheck result = check_btf(b.build());
    ASSERT_EQ(result.findings.size(), 1u);
    EXPECT_EQ(result.findings[0].type_id, 45u);
    EXPECT_EQ(result.findings[0].log, "[45] STRUCT Result size=4 vlen=1\n\t(anon) type_id=0 bits_offset=0 Invalid type_id");
}

TEST(BtfCheck, MetaPhaseReportsEveryBadRecord) {
    BtfBuilder b;
    b.add_int("int", 4, 32);
    b.add_struct("A", 4, {{"", 0, 0}});
    b.add_float("f", 3);
    const BtfCheck result = check_btf(b.build());
    ASSERT_EQ(result.findings.size(), 2u);
    EXPECT_EQ(result.findings[1].log, "[3] FLOAT f size=3 Invalid type_size");
    ASSERT_TRUE(result.btf);
    EXPECT_EQ(result.btf->types().size(), 3u);
}

TEST(BtfCheck, FindingOffsetPointsAtTheRecord) {
    BtfBuilder b;
    b.add_int("int", 4, 32);  // 16 bytes
    b.add_float("f", 3);
    const BtfCheck result = check_btf(b.build());
    ASSERT_EQ(result.findings.size(), 1u);
    EXPECT_EQ(result.findings[0].btf_offset, 24u + 16u);
}

TEST(BtfCheck, EveryPrefixOfABlobIsAFindingNotACrash) {
    const std::string blob = testing::btf_cases()[2].blob;  // every_kind_valid
    ASSERT_TRUE(check_btf(blob).ok());
    for (std::size_t n = 0; n < blob.size(); n++) EXPECT_FALSE(check_btf(blob.substr(0, n)).ok()) << n;
}

TEST(BtfCheck, SplitBtfUsesBaseIdsAndStrings) {
    BtfBuilder base;
    base.add_int("int", 4, 32);
    const BtfCheck base_check = check_btf(base.build());
    ASSERT_TRUE(base_check.ok());

    // Split BTF: ids continue after the base's (void + 1 type), string offsets after its strings.
    const std::string base_blob = base.build();
    const std::uint32_t base_str_len = std::uint32_t(base_blob.size() - 24 - 16);
    std::string split;
    testing::put16(split, 0xeB9F);
    split += std::string("\x01\x00", 2);
    testing::put32(split, 24);
    testing::put32(split, 0);
    testing::put32(split, 12);
    testing::put32(split, 12);
    testing::put32(split, 2);
    testing::put32(split, base_str_len);  // name: "p" at the split's offset 0
    testing::put32(split, 2u << 24);
    testing::put32(split, 1);  // PTR to base's int
    split += std::string("p\0", 2);
    const BtfCheck c = check_btf(split, base_check.btf);
    ASSERT_TRUE(c.btf);
    EXPECT_EQ(c.btf->start_id(), 2u);
    ASSERT_FALSE(c.findings.empty());  // a named PTR is rejected in split BTF as well
    EXPECT_EQ(c.findings[0].log, "[2] PTR p type_id=1 Invalid name");
}

// A .maps DATASEC as clang leaves it (size 0, offsets 0) in an object whose ELF has the
// section and symbols libbpf fills them from.
std::string object_with_raw_maps(bool with_maps_section) {
    BtfBuilder b;
    const auto u32 = b.add_int("unsigned int", 4, 32, 0);
    const auto arr1 = b.add_array(u32, u32, 1);  // __uint(type, 1): BPF_MAP_TYPE_HASH
    const auto arr16 = b.add_array(u32, u32, 16);  // __uint(max_entries, 16)
    const auto p1 = b.add_ptr(arr1);
    const auto p16 = b.add_ptr(arr16);
    const auto pk = b.add_ptr(u32);
    const auto def = b.add_struct("", 32, {{"type", p1, 0}, {"max_entries", p16, 64}, {"key", pk, 128}, {"value", pk, 192}});
    const auto a = b.add_var("map_a", def);
    const auto m = b.add_var("map_b", def);
    b.add_datasec(".maps", 0, {{a, 0, 32}, {m, 0, 32}});
    ElfBuilder elf;
    if (with_maps_section) elf.section(".maps", std::string(64, '\0'));
    elf.section(".BTF", b.build(), false, 1);
    elf.symbol({"map_b", with_maps_section ? ".maps" : "", 0, 1, 1, 32});
    elf.symbol({"map_a", with_maps_section ? ".maps" : "", 32, 1, 1, 32});
    return elf.build();
}

TEST(LibbpfFixups, RawDatasecIsFilledFromTheElf) {
    const ObjectReport r = inspect_object("maps", "maps.bpf.o", object_with_raw_maps(true));
    EXPECT_TRUE(r.findings.empty()) << r.findings.front().message << "\n" << r.findings.front().log;
    ASSERT_FALSE(r.fixups.empty());
    EXPECT_EQ(r.fixups[0], "DATASEC .maps: size 0 -> 64");
    ASSERT_EQ(r.maps.size(), 2u);
    EXPECT_EQ(r.maps[0].name, "map_b");  // sorted by the symbol offsets, as libbpf does
    EXPECT_EQ(r.maps[0].type, 1u);
    EXPECT_EQ(r.maps[0].max_entries, 16u);
    EXPECT_EQ(r.maps[0].key_size, 4u);
    EXPECT_EQ(r.maps[0].key_type, "unsigned int");
}

TEST(LibbpfFixups, WithoutTheElfSectionTheKernelSeesSizeZero) {
    const ObjectReport r = inspect_object("maps", "maps.bpf.o", object_with_raw_maps(false));
    ASSERT_EQ(r.findings.size(), 1u);
    EXPECT_EQ(r.findings[0].check, "btf");
    EXPECT_EQ(r.findings[0].log, "[10] DATASEC .maps size=0 vlen=2 size == 0");
    EXPECT_NE(r.findings[0].message.find("maps.bpf.o: .BTF type [10] at offset 0x"), std::string::npos)
        << r.findings[0].message;
}

// __kconfig and __ksym externs: clang leaves them extern with size-0 sections; libbpf's open
// lays .kconfig out itself and turns every ksym into a 4-byte slot (functions via a dummy VAR).
std::string object_with_externs() {
    BtfBuilder b;
    const auto i32 = b.add_int("int", 4, 32);
    const auto chr = b.add_int("char", 1, 8, 2);
    const auto version = b.add_var("LINUX_KERNEL_VERSION", i32, 2);
    const auto cookie = b.add_var("LINUX_HAS_BPF_COOKIE", chr, 2);
    const auto ksym_var = b.add_var("bpf_prog_active", i32, 2);
    const auto proto = b.add_func_proto(i32, {{"", i32}});
    const auto kfunc = b.add_func("bpf_kfunc_example", proto, 2);
    b.add_datasec(".kconfig", 0, {{cookie, 0, 1}, {version, 0, 4}});
    b.add_datasec(".ksyms", 0, {{kfunc, 0, 0}, {ksym_var, 0, 4}});
    ElfBuilder elf;
    elf.section(".BTF", b.build());
    // As clang emits them: undefined, global, no type; libbpf finds its externs by these.
    for (const char* name : {"LINUX_KERNEL_VERSION", "LINUX_HAS_BPF_COOKIE", "bpf_prog_active", "bpf_kfunc_example"})
        elf.symbol({name, "", 0, 0, 1, 0});
    return elf.build();
}

TEST(LibbpfFixups, KconfigAndKsymExterns) {
    const ObjectReport r = inspect_object("ext", "ext.bpf.o", object_with_externs());
    EXPECT_TRUE(r.findings.empty()) << r.findings.front().log;
    ASSERT_TRUE(r.btf);
    const BtfType* kconfig = r.btf->type_by_id(8);
    ASSERT_TRUE(kconfig);
    EXPECT_EQ(kconfig->size(), 5u);  // int at 0, char at 4
    ASSERT_EQ(kconfig->secinfos.size(), 2u);
    EXPECT_EQ(kconfig->secinfos[0].type, 3u);
    EXPECT_EQ(kconfig->secinfos[1].offset, 4u);
    const BtfType* ksyms = r.btf->type_by_id(9);
    ASSERT_TRUE(ksyms);
    EXPECT_EQ(ksyms->size(), 8u);
    const BtfType* dummy = r.btf->type_by_id(10);
    ASSERT_TRUE(dummy);
    EXPECT_EQ(dummy->kind(), BtfKind::Var);
    EXPECT_NE(std::find(r.fixups.begin(), r.fixups.end(), "[3] VAR LINUX_KERNEL_VERSION: linkage extern -> global"), r.fixups.end());
    EXPECT_NE(std::find(r.fixups.begin(), r.fixups.end(), "DATASEC .kconfig: size 0 -> 5"), r.fixups.end());
}

TEST(LibbpfFixups, ExternsAsClangLeavesThemAreRejectedByTheKernel) {
    const ElfFile elf("ext.bpf.o", object_with_externs());
    const BtfCheck raw = check_btf(elf.section_data(*elf.find_section(".BTF")));
    ASSERT_FALSE(raw.findings.empty());
    EXPECT_EQ(raw.findings[0].log, "[3] VAR LINUX_KERNEL_VERSION type_id=1 linkage=2 Linkage not supported");
}

TEST(KernelFloor, FeaturesAndTheirFirstKernels) {
    BtfBuilder b;
    const auto i = b.add_int("int", 4, 32);
    b.add_enum64("big", 8, {{"HUGE", 1ull << 40}});
    b.add_float("double", 8);
    b.add_enum("sgn", 4, {{"NEG", std::uint32_t(-1)}}, true);
    b.add_type_tag("user", i);
    const BtfCheck c = check_btf(b.build());
    ASSERT_TRUE(c.ok()) << c.findings.front().log;
    const auto req = btf_kernel_requirements(*c.btf);
    ASSERT_EQ(req.size(), 4u);
    EXPECT_EQ(req[0].feature, "FLOAT");
    EXPECT_EQ(req[0].version.str(), "5.13");
    EXPECT_EQ(req[1].feature, "TYPE_TAG");
    EXPECT_EQ(req[2].feature, "ENUM64");
    EXPECT_EQ(req[2].type, "[2] ENUM64 big");
    EXPECT_EQ(req[3].feature, "ENUM kind_flag (signed enum)");
    EXPECT_EQ(kernel_floor(req).str(), "6.0");
}

TEST(KernelFloor, Enum64IsFlaggedAgainstA515Kernel) {
    BtfBuilder b;
    b.add_enum64("big", 8, {{"HUGE", 1ull << 40}});
    ObjectReport r;
    r.name = "big";
    r.source = "big.bpf.o";
    r.kernel_requirements = btf_kernel_requirements(*check_btf(b.build()).btf);
    r.btf_kernel_floor = kernel_floor(r.kernel_requirements);
    const KernelList kernels = {{"ubuntu-5.15", "5.15.0-91-generic"}, {"debian-6.1", "6.1.176"}};
    const auto findings = check_kernels({r}, {}, kernels);
    ASSERT_EQ(findings.size(), 1u);
    EXPECT_EQ(findings[0].check, "kernel");
    EXPECT_NE(findings[0].message.find("ENUM64 ([1] ENUM64 big), first accepted by 6.0; kernel ubuntu-5.15"),
              std::string::npos)
        << findings[0].message;
    EXPECT_NE(findings[0].message.find("\"Invalid kind:19\""), std::string::npos);
}

TEST(KernelFloor, KernelsBelowEveryExpectationAreNotFlagged) {
    ObjectReport r;
    r.name = "big";
    r.kernel_requirements = {{{6, 0}, "ENUM64", "[1] ENUM64 big"}};
    r.btf_kernel_floor = {6, 0};
    ProgramExpectation e;
    e.object = "big";
    e.min_kernel = {6, 6};
    EXPECT_TRUE(check_kernels({r}, {e}, {{"ubuntu-5.15", "5.15"}}).empty());
    e.min_kernel = {5, 10};
    EXPECT_EQ(check_kernels({r}, {e}, {{"ubuntu-5.15", "5.15"}}).size(), 1u);
}

TEST(KernelFloor, VersionParsing) {
    EXPECT_EQ(KernelVersion::parse("6.12.117+deb13-cloud-amd64")->str(), "6.12");
    EXPECT_EQ(KernelVersion::parse("5.10")->str(), "5.10");
    EXPECT_FALSE(KernelVersion::parse("six"));
    EXPECT_FALSE(KernelVersion::parse("6"));
    EXPECT_TRUE(*KernelVersion::parse("5.9") < *KernelVersion::parse("5.10"));
}

}  // namespace
}  // namespace flowattr::verify
