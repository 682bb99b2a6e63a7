// No false positives against BTF this project did not write: the running kernel's own
// vmlinux BTF and every module's split BTF must pass the offline validator (src/verify),
// which is what makes its findings on our objects believable. Runs on the host and inside
// every matrix VM, so each kernel of kernels.txt checks its own BTF. CO-RE needs that BTF.
#include <dirent.h>

#include <string>

#include "common/file.h"
#include "kernel_env.h"
#include "verify/btf.h"

namespace {

using flowattr::verify::BtfCheck;
using flowattr::verify::check_btf;

std::string first_finding(const BtfCheck& c) { return c.findings.empty() ? "" : c.findings.front().log; }

TEST(KernelBtf, VmlinuxPassesTheOfflineValidator) {
    FA_REQUIRE_FILE("/sys/kernel/btf/vmlinux");
    const BtfCheck c = check_btf(flowattr::read_file("/sys/kernel/btf/vmlinux"));
    EXPECT_TRUE(c.ok()) << first_finding(c);
    ASSERT_TRUE(c.btf);
    EXPECT_GT(c.btf->types().size(), 1000u);
}

TEST(KernelBtf, EveryModuleBtfPassesAsSplitBtf) {
    FA_REQUIRE_FILE("/sys/kernel/btf/vmlinux");
    const BtfCheck base = check_btf(flowattr::read_file("/sys/kernel/btf/vmlinux"));
    ASSERT_TRUE(base.btf) << first_finding(base);
    int modules = 0;
    DIR* d = ::opendir("/sys/kernel/btf");
    ASSERT_NE(d, nullptr);
    while (const dirent* e = ::readdir(d)) {
        const std::string name = e->d_name;
        if (name == "." || name == ".." || name == "vmlinux") continue;
        const BtfCheck c = check_btf(flowattr::read_file("/sys/kernel/btf/" + name), base.btf);
        EXPECT_TRUE(c.ok()) << name << ": " << first_finding(c);
        modules++;
    }
    ::closedir(d);
    if (modules == 0) GTEST_SKIP() << "this kernel exposes no module BTF (no modules loaded, or no DEBUG_INFO_BTF_MODULES)";
    RecordProperty("modules_checked", modules);
}

}  // namespace
