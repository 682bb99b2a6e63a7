#pragma once
// Moving a thread between CPUs, for what runs on the CPU of its caller (BPF_PROG_TEST_RUN of
// a skb program): the cgroup_skb test and bench/flow_bench.cpp. No gtest here, so that the
// benchmark can use it too.
#include <sched.h>

#include <vector>

namespace fa::test {

// The CPUs this process may run on, in order; empty when sched_getaffinity fails (errno set).
inline std::vector<int> allowed_cpus() {
    cpu_set_t allowed;
    CPU_ZERO(&allowed);
    std::vector<int> cpus;
    if (sched_getaffinity(0, sizeof(allowed), &allowed) == 0)
        for (int cpu = 0; cpu < CPU_SETSIZE; cpu++)
            if (CPU_ISSET(cpu, &allowed)) cpus.push_back(cpu);
    return cpus;
}

// Lets the calling thread run on CPUS only; false, errno set, when the kernel refuses.
inline bool pin_to_cpus(const std::vector<int>& cpus) {
    cpu_set_t set;
    CPU_ZERO(&set);
    for (int cpu : cpus) CPU_SET(cpu, &set);
    return sched_setaffinity(0, sizeof(set), &set) == 0;
}

}  // namespace fa::test
