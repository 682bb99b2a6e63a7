// No false positives: the validator over flowattr's own objects, raw and linked (the
// kernels' own BTF is checked in tests/kernel/btf_test.cpp, on the host and in every VM).
#include <dirent.h>
#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <vector>

#include "build_tree.h"
#include "agent/embedded_objects.h"
#include "common/file.h"
#include "verify/bpf_object.h"
#include "verify/btf.h"
#include "verify/expectations.h"

namespace flowattr::verify {
namespace {

std::vector<std::string> files_in(const std::string& dir, const std::string& suffix) {
    std::vector<std::string> out;
    DIR* d = ::opendir(dir.c_str());
    if (!d) return out;
    while (const dirent* e = ::readdir(d)) {
        const std::string name = e->d_name;
        if (name.size() > suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0)
            out.push_back(dir + "/" + name);
    }
    ::closedir(d);
    std::sort(out.begin(), out.end());
    return out;
}

// The objects this build makes (bpf/objects.txt), not every *.bpf.o a reused build tree still
// holds from sources since removed or linked into another object.
TEST(OwnObjects, BuiltObjectsHaveNoFindings) {
    std::istringstream listed(flowattr::read_file(fa::test::build_dir() + "/bpf/objects.txt"));
    std::vector<std::string> objects;
    for (std::string name; std::getline(listed, name);)
        if (!name.empty()) objects.push_back(fa::test::build_dir() + "/bpf/" + name);
    ASSERT_FALSE(objects.empty());
    for (const std::string& path : objects) {
        const ObjectReport r = inspect_object(object_name_from_path(path), path, flowattr::read_file(path));
        EXPECT_TRUE(r.findings.empty()) << r.findings.front().message << "\n" << r.findings.front().log;
        EXPECT_FALSE(r.programs.empty()) << path;
        EXPECT_EQ(r.license, "GPL") << path;
    }
}

// clang's output before `bpftool gen object` links it: DATASEC sizes and VAR offsets are
// still 0, an extern (flow.bpf.c's LINUX_KERNEL_VERSION) is a VAR the kernel refuses, and
// only libbpf's fix-ups at open make it acceptable.
TEST(OwnObjects, RawClangObjectsPassOnlyAfterTheFixups) {
    const auto objects = files_in(fa::test::build_dir() + "/bpf", ".raw.o");
    if (objects.empty()) GTEST_SKIP() << "no raw clang objects in the build tree";
    for (const std::string& path : objects) {
        const std::string bytes = flowattr::read_file(path);
        const ObjectReport r = inspect_object(object_name_from_path(path), path, bytes);
        EXPECT_TRUE(r.findings.empty()) << r.findings.front().message << "\n" << r.findings.front().log;
        EXPECT_FALSE(r.fixups.empty()) << path;
        const ElfFile elf(path, bytes);
        const BtfCheck raw = check_btf(elf.section_data(*elf.find_section(".BTF")));
        ASSERT_FALSE(raw.findings.empty()) << path;
        const std::string& log = raw.findings.front().log;
        EXPECT_TRUE(log.find("size == 0") != std::string::npos || log.find("Linkage not supported") != std::string::npos)
            << log;
    }
}

TEST(OwnObjects, EmbeddedObjectsMatchTheExpectations) {
    std::vector<ObjectReport> reports;
    for (const auto& o : agent::embedded_objects()) {
        reports.push_back(
            inspect_object(o.name, "embedded:" + o.name, std::string(static_cast<const char*>(o.data), o.size)));
        EXPECT_TRUE(reports.back().findings.empty()) << reports.back().findings.front().message;
    }
    ASSERT_FALSE(reports.empty());
    const std::string path = fa::test::source_dir() + "/bpf/expectations.txt";
    const auto expectations = parse_expectations(flowattr::read_file(path), path);
    for (const Finding& f : check_expectations(reports, expectations, true)) ADD_FAILURE() << f.message;
}

}  // namespace
}  // namespace flowattr::verify
