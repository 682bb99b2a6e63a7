#include <cstdint>
#include <fstream>

#include "kernel_env.h"

namespace {

// CO-RE relocation needs the running kernel's BTF; every kernel in the matrix must expose it.
TEST(KernelBtf, VmlinuxBtfHasMagic) {
    FA_REQUIRE_FILE("/sys/kernel/btf/vmlinux");
    std::ifstream in("/sys/kernel/btf/vmlinux", std::ios::binary);
    std::uint16_t magic = 0;
    in.read(reinterpret_cast<char*>(&magic), sizeof(magic));
    ASSERT_TRUE(in) << "cannot read /sys/kernel/btf/vmlinux";
    EXPECT_EQ(magic, 0xeB9F);
}

}  // namespace
