#include <gtest/gtest.h>

#include "agent/flow.h"

namespace {

using flowattr::agent::FlowClock;

fa_flow_stats seen(std::uint64_t first_ns, std::uint64_t first_jiffies, std::uint64_t last_jiffies) {
    fa_flow_stats s{};
    s.first_seen_ns = first_ns;
    s.first_seen_jiffies = first_jiffies;
    s.last_seen_jiffies = last_jiffies;
    return s;
}

// Last seen is first seen plus the ticks between, whatever HZ the kernel ticks at.
TEST(FlowClock, LastSeenIsFirstSeenPlusTheTicksBetween) {
    const FlowClock hz250{4000000};
    const FlowClock hz1000{1000000};
    EXPECT_EQ(hz250.last_seen_ns(seen(5000000000ull, 4294967296ull, 4294967296ull + 3)), 5012000000ull);
    EXPECT_EQ(hz1000.last_seen_ns(seen(5000000000ull, 100, 1100)), 6000000000ull);
    EXPECT_EQ(hz250.last_seen_ns(seen(7, 100, 100)), 7u) << "a flow of one tick";
}

// Another CPU may store jiffies read a moment before the flow's first packet set them: such
// a last seen is the first, never a time before it (or, unsigned, in the far future).
TEST(FlowClock, LastSeenNeverBeforeFirstSeen) {
    const FlowClock clock{4000000};
    EXPECT_EQ(clock.last_seen_ns(seen(5000000000ull, 1000, 999)), 5000000000ull);
    EXPECT_EQ(clock.last_seen_ns(seen(5000000000ull, 1000, 0)), 5000000000ull) << "an evicted flow's event";
}

// The tick comes from this kernel's coarse clock resolution: 1/HZ for HZ 100 to 1000.
TEST(FlowClock, TickOfThisKernelIsOneToTenMilliseconds) {
    const FlowClock clock = FlowClock::of_this_kernel();
    EXPECT_GE(clock.tick_ns, 1000000u);
    EXPECT_LE(clock.tick_ns, 10000000u);
}

}  // namespace
