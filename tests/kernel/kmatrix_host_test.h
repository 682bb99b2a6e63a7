#pragma once
// Shared by the host-side tests that drive the kmatrix binary on real kernels (label
// `matrix`): the environment CMake passes (KMATRIX, KERNELS, ARTIFACTS), a scratch directory,
// and a skip naming what is missing when QEMU is not installed.
#include <gtest/gtest.h>

#include <cstdlib>
#include <memory>
#include <string>

#include "common/env.h"
#include "common/file.h"
#include "common/subprocess.h"

namespace fa::test {

class KmatrixHostTest : public ::testing::Test {
protected:
    // PREFIX names the scratch directory.
    void set_up(const std::string& prefix) {
        kmatrix_ = flowattr::env_or("KMATRIX", "");
        ASSERT_FALSE(kmatrix_.empty()) << "KMATRIX names the kmatrix binary";
        if (flowattr::run_command({"sh", "-c", "command -v qemu-system-x86_64"}).exit_code != 0)
            GTEST_SKIP() << "qemu-system-x86_64 not installed";
        dir_ = std::make_unique<flowattr::TempDir>(prefix);
    }
    std::string kmatrix_;
    std::unique_ptr<flowattr::TempDir> dir_;
};

}  // namespace fa::test
