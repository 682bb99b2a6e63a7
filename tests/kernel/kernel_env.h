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
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "agent/load_check.h"
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

// Every embedded program's load check on this kernel. Loading them all costs a VM under TCG
// about half a second of CPU, and /init's `flowattr load --check` has just done it: /init
// names the file it told it to write (`--json-out`, whole or not at all) in
// FLOWATTR_LOAD_CHECK_RESULTS. A named file that is missing fails the calling test (the
// step did not finish, or `--json-out` wrote nothing) and the check runs here; without the
// variable (the host's kernel label) it runs here.
inline std::vector<flowattr::diagnose::ProgramCheck> load_check_results() {
    const char* saved = std::getenv("FLOWATTR_LOAD_CHECK_RESULTS");
    if (saved == nullptr || *saved == '\0') return flowattr::agent::load_check_all(kernel_features());
    if (!std::ifstream(saved)) {
        ADD_FAILURE() << "no results from /init's `flowattr load --check` in " << saved << ": checking here";
        return flowattr::agent::load_check_all(kernel_features());
    }
    std::vector<flowattr::diagnose::ProgramCheck> results;
    std::istringstream lines(flowattr::read_file(saved));
    for (std::string line; std::getline(lines, line);) {
        auto r = flowattr::diagnose::program_check_from_json(line);
        if (!r) ADD_FAILURE() << saved << ": not a check record: " << line.substr(0, 200);
        else results.push_back(*r);
    }
    return results;
}
}  // namespace fa::test
