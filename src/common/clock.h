#pragma once
#include <time.h>

#include <cstdint>

namespace flowattr {

inline std::uint64_t timespec_ns(const timespec& ts) {
    return std::uint64_t(ts.tv_sec) * 1000000000ull + std::uint64_t(ts.tv_nsec);
}

// CLOCK's time now in nanoseconds (CLOCK_MONOTONIC is bpf_ktime_get_ns()'s clock).
inline std::uint64_t clock_ns(clockid_t clock) {
    timespec ts{};
    clock_gettime(clock, &ts);
    return timespec_ns(ts);
}

}  // namespace flowattr
