#pragma once
// Shared preconditions for kernel tests: skip, naming what is missing, rather than fail
// or pass silently when the machine cannot run the test.
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>

#define FA_REQUIRE_ROOT()                                                              \
    do {                                                                               \
        if (geteuid() != 0) GTEST_SKIP() << "needs root (CAP_BPF and CAP_NET_ADMIN)";  \
    } while (0)

#define FA_REQUIRE_FILE(path)                                                          \
    do {                                                                               \
        if (!std::ifstream(path)) GTEST_SKIP() << "needs " << (path) << " on this kernel"; \
    } while (0)
