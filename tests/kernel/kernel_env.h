#pragma once
// Shared preconditions for kernel tests: skip, naming what is missing, rather than fail
// or pass silently when the machine cannot run the test.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <thread>

#include "agent/probe.h"
#include "common/file.h"

#define FA_REQUIRE_ROOT()                                                              \
    do {                                                                               \
        if (geteuid() != 0) GTEST_SKIP() << "needs root (CAP_BPF and CAP_NET_ADMIN)";  \
    } while (0)

#define FA_REQUIRE_FILE(path)                                                          \
    do {                                                                               \
        if (!std::ifstream(path)) GTEST_SKIP() << "needs " << (path) << " on this kernel"; \
    } while (0)

namespace fa::test {
// The flow table of the agents the tests start in-process, which see a few dozen flows each:
// the kernel allocates an LRU table whole, and the default 65,536 entries cost a VM under TCG
// about 50 ms per start. The CLI tests run `flowattr run` with its default.
inline constexpr std::uint32_t kTestMaxFlows = 4096;

// Asks DONE every STEP until it holds or LIMIT has passed; says whether it held. Tests wait on
// the condition they need, not for a fixed time: under TCG with other VMs beside it a guest's
// ARP exchange or grace period can take far longer than on an idle machine.
inline bool wait_until(const std::function<bool()>& done, std::chrono::milliseconds limit = std::chrono::seconds(5),
                       std::chrono::milliseconds step = std::chrono::milliseconds(20)) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    for (;;) {
        if (done()) return true;
        if (std::chrono::steady_clock::now() >= deadline) return false;
        std::this_thread::sleep_for(step);
    }
}

// The kernel's features, probed once: they do not change while the suite runs, and a probe
// attaches and detaches LSM and TCX links, which waits for RCU grace periods (about 0.4 s a
// probe in a 6.1 VM under TCG). kmatrix's /init runs each test suite in a process of its own
// and names a file in FLOWATTR_FEATURES_CACHE, which its own probe has written; without one,
// the first test to ask probes and writes it, and the rest read it.
inline const flowattr::agent::KernelFeatures& kernel_features() {
    static const flowattr::agent::KernelFeatures features = [] {
        const char* cache = std::getenv("FLOWATTR_FEATURES_CACHE");
        if (cache == nullptr || *cache == '\0') return flowattr::agent::probe_kernel_features();
        if (std::ifstream(cache))
            if (auto cached = flowattr::agent::features_from_json(flowattr::read_file(cache))) return *cached;
        flowattr::agent::KernelFeatures probed = flowattr::agent::probe_kernel_features();
        std::ofstream(cache) << flowattr::agent::features_to_json(probed);
        return probed;
    }();
    return features;
}
}  // namespace fa::test
