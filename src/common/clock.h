#pragma once
#include <time.h>

#include <cstdint>

namespace flowattr {

// CLOCK's time now in nanoseconds (CLOCK_MONOTONIC is bpf_ktime_get_ns()'s clock).
inline std::uint64_t clock_ns(clockid_t clock) {
    timespec ts{};
    clock_gettime(clock, &ts);
    return std::uint64_t(ts.tv_sec) * 1000000000ull + std::uint64_t(ts.tv_nsec);
}

}  // namespace flowattr
