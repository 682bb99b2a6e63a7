// cgroup_skb.bpf.o under BPF_PROG_TEST_RUN: per-cgroup accounting and the egress token
// bucket. PROG_TEST_RUN gives the skb a socket allocated in this process's cgroup v2,
// so every packet belongs to that cgroup; cgroup_skb programs see the skb from the IP
// header on, so skb->len is the frame minus its 14-byte Ethernet header.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <sys/stat.h>
#include <time.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "agent/cgroup_skb.h"
#include "agent/libbpf_support.h"
#include "common/clock.h"
#include "cgroup_skb.skel.h"
#include "cpu_affinity.h"
#include "flowattr.h"
#include "kernel_env.h"
#include "packet_builder.h"

namespace {

using namespace fa::test;

// Egress verdicts: bit 0 = pass, bit 1 = congestion notification.
constexpr int kPass = 1;
constexpr int kDropCn = 2;
constexpr int kPassCn = 3;
constexpr std::uint64_t kNsPerSec = 1000000000ULL;

// A UDP frame whose IP packet (what cgroup_skb counts) is ip_len bytes long.
std::vector<std::uint8_t> frame_with_ip_len(std::size_t ip_len) {
    return PacketBuilder()
        .ethernet(kEthIpv4)
        .ipv4(ipv4_addr("10.1.0.1"), ipv4_addr("10.1.0.2"), kProtoUdp)
        .udp(1111, 2222)
        .payload(ip_len - 28)
        .build();
}

class CgroupSkbProgTest : public ::testing::Test {
protected:
    void SetUp() override {
        FA_REQUIRE_ROOT();
        skel_.reset(cgroup_skb_bpf__open());
        ASSERT_NE(skel_, nullptr) << std::strerror(errno);
        skel_->rodata->fa_rate_limited = rate_limited();
        const int err = cgroup_skb_bpf__load(skel_.get());
        ASSERT_EQ(err, 0) << "cgroup_skb.bpf.o does not load: " << std::strerror(-err);
        // Learn the test socket's cgroup id from one packet, then start from empty maps.
        run(skel_->progs.fa_cgroup_ingress, frame_with_ip_len(100));
        const int stats = bpf_map__fd(skel_->maps.fa_cgroup_stats);
        ASSERT_EQ(bpf_map_get_next_key(stats, nullptr, &cgroup_id_), 0);
        ASSERT_EQ(bpf_map_delete_elem(stats, &cgroup_id_), 0);
    }

    // As the agent loads it with a --limit; CgroupSkbUnlimitedTest: without one.
    virtual bool rate_limited() const { return true; }

    int run(bpf_program* prog, const std::vector<std::uint8_t>& frame, int repeat = 1) {
        LIBBPF_OPTS(bpf_test_run_opts, opts);
        opts.data_in = frame.data();
        opts.data_size_in = static_cast<std::uint32_t>(frame.size());
        opts.repeat = repeat;
        EXPECT_EQ(bpf_prog_test_run_opts(bpf_program__fd(prog), &opts), 0) << std::strerror(errno);
        return static_cast<int>(opts.retval);
    }
    int egress(const std::vector<std::uint8_t>& frame) { return run(skel_->progs.fa_cgroup_egress, frame); }
    int ingress(const std::vector<std::uint8_t>& frame) { return run(skel_->progs.fa_cgroup_ingress, frame); }

    void limit(std::uint64_t rate, std::uint64_t burst, std::uint64_t tokens = 0, std::uint64_t last_refill = 0) {
        fa_rate_limit rl{};
        rl.rate_bytes_per_sec = rate;
        rl.burst_bytes = burst;
        rl.tokens = tokens;
        rl.last_refill_ns = last_refill;
        ASSERT_EQ(bpf_map_update_elem(bpf_map__fd(skel_->maps.fa_rate_limits), &cgroup_id_, &rl, BPF_ANY), 0)
            << std::strerror(errno);
    }

    fa_cgroup_stats stats() {
        const auto s = flowattr::agent::read_cgroup_stats(bpf_map__fd(skel_->maps.fa_cgroup_stats), cgroup_id_);
        EXPECT_TRUE(s.has_value()) << "no entry for cgroup " << cgroup_id_;
        return s.value_or(fa_cgroup_stats{});
    }

    std::uint64_t rate_dropped() {
        return flowattr::agent::sum_percpu_counter(bpf_map__fd(skel_->maps.fa_cgroup_counters), FA_CNT_RATE_DROPPED);
    }

    flowattr::agent::Skeleton<cgroup_skb_bpf> skel_;
    std::uint64_t cgroup_id_ = 0;
};

// The key is this process's cgroup v2 id: the inode of its cgroup2 directory.
TEST_F(CgroupSkbProgTest, KeyIsTheSocketsCgroupV2Id) {
    std::ifstream mounts("/proc/self/mounts");
    std::string dev, dir, type, rest, mount;
    while (mounts >> dev >> dir >> type && std::getline(mounts, rest))
        if (type == "cgroup2") mount = dir;
    std::ifstream cg("/proc/self/cgroup");
    std::string line, path;
    while (std::getline(cg, line))
        if (line.rfind("0::", 0) == 0) path = line.substr(3);
    if (mount.empty() || path.empty()) GTEST_SKIP() << "no cgroup2 mount to compare with";
    struct stat st {};
    ASSERT_EQ(stat((mount + path).c_str(), &st), 0);
    EXPECT_EQ(cgroup_id_, static_cast<std::uint64_t>(st.st_ino));
}

TEST_F(CgroupSkbProgTest, CountsPacketsAndBytesPerDirection) {
    EXPECT_EQ(ingress(frame_with_ip_len(60)), kPass);
    EXPECT_EQ(ingress(frame_with_ip_len(1500)), kPass);
    EXPECT_EQ(ingress(frame_with_ip_len(28)), kPass);
    EXPECT_EQ(egress(frame_with_ip_len(400)), kPass);
    EXPECT_EQ(egress(frame_with_ip_len(41)), kPass);

    const auto s = stats();
    EXPECT_EQ(s.packets[FA_DIR_INGRESS], 3u);
    EXPECT_EQ(s.bytes[FA_DIR_INGRESS], 60u + 1500u + 28u);
    EXPECT_EQ(s.packets[FA_DIR_EGRESS], 2u);
    EXPECT_EQ(s.bytes[FA_DIR_EGRESS], 441u);
    EXPECT_EQ(s.dropped_packets, 0u);
    EXPECT_EQ(s.dropped_bytes, 0u);
}

// Each CPU counts in its own slot of the cgroup's entry; the agent's read sums them. The
// test runs the programs on the CPU of the thread that asks, so this thread moves.
TEST_F(CgroupSkbProgTest, CountsOfEveryCpuAreSummed) {
    const std::vector<int> cpus = fa::test::allowed_cpus();
    ASSERT_FALSE(cpus.empty()) << "sched_getaffinity: " << std::strerror(errno);
    if (cpus.size() < 2) GTEST_SKIP() << "this process may run on one CPU only";
    ASSERT_TRUE(fa::test::pin_to_cpus({cpus[0]})) << std::strerror(errno);
    EXPECT_EQ(egress(frame_with_ip_len(100)), kPass);
    EXPECT_EQ(ingress(frame_with_ip_len(60)), kPass);
    ASSERT_TRUE(fa::test::pin_to_cpus({cpus[1]})) << std::strerror(errno);
    EXPECT_EQ(egress(frame_with_ip_len(300)), kPass);
    EXPECT_EQ(egress(frame_with_ip_len(50)), kPass);
    ASSERT_TRUE(fa::test::pin_to_cpus(cpus)) << std::strerror(errno);

    const auto s = stats();
    EXPECT_EQ(s.packets[FA_DIR_EGRESS], 3u);
    EXPECT_EQ(s.bytes[FA_DIR_EGRESS], 450u);
    EXPECT_EQ(s.packets[FA_DIR_INGRESS], 1u);
    EXPECT_EQ(s.bytes[FA_DIR_INGRESS], 60u);
}

// Loaded as the agent loads it without any --limit, the egress program never looks at a
// bucket: one set anyway neither drops nor notifies, and the traffic is counted.
class CgroupSkbUnlimitedTest : public CgroupSkbProgTest {
protected:
    bool rate_limited() const override { return false; }
};

TEST_F(CgroupSkbUnlimitedTest, EgressIgnoresBucketsAndCountsEverything) {
    limit(10, 1000);
    const auto frame = frame_with_ip_len(100);
    for (int i = 0; i < 25; i++) EXPECT_EQ(egress(frame), kPass) << "packet " << i;
    const auto s = stats();
    EXPECT_EQ(s.packets[FA_DIR_EGRESS], 25u);
    EXPECT_EQ(s.bytes[FA_DIR_EGRESS], 2500u);
    EXPECT_EQ(s.dropped_packets, 0u);
    EXPECT_EQ(rate_dropped(), 0u);
}

// A fresh limit (tokens = last_refill = 0) starts full: the burst passes, then as
// much again on debt with a congestion notification, then packets are dropped (also
// with a notification). At 10 B/s the refill during the test stays far below one
// 100-byte packet.
TEST_F(CgroupSkbProgTest, FreshBucketPassesBurstThenDebtThenDrops) {
    limit(10, 1000);
    const auto frame = frame_with_ip_len(100);
    for (int i = 0; i < 10; i++) EXPECT_EQ(egress(frame), kPass) << "packet " << i;
    for (int i = 10; i < 20; i++) EXPECT_EQ(egress(frame), kPassCn) << "packet " << i;
    for (int i = 20; i < 25; i++) EXPECT_EQ(egress(frame), kDropCn) << "packet " << i;
    // Ingress is never limited.
    for (int i = 0; i < 3; i++) EXPECT_EQ(ingress(frame), kPass);

    const auto s = stats();
    EXPECT_EQ(s.packets[FA_DIR_EGRESS], 20u);
    EXPECT_EQ(s.bytes[FA_DIR_EGRESS], 2000u);
    EXPECT_EQ(s.dropped_packets, 5u);
    EXPECT_EQ(s.dropped_bytes, 500u);
    EXPECT_EQ(s.packets[FA_DIR_INGRESS], 3u);
    EXPECT_EQ(rate_dropped(), 5u);

    fa_rate_limit rl{};
    ASSERT_EQ(bpf_map_lookup_elem(bpf_map__fd(skel_->maps.fa_rate_limits), &cgroup_id_, &rl), 0);
    EXPECT_EQ(rl.tokens, -1000);
    EXPECT_NE(rl.last_refill_ns, 0u);
}

// The agent's other way to start a bucket: full, with the clock at "now".
TEST_F(CgroupSkbProgTest, BucketStartedFullByUserspace) {
    limit(10, 300, 300, flowattr::clock_ns(CLOCK_MONOTONIC));
    const auto frame = frame_with_ip_len(100);
    for (int i = 0; i < 3; i++) EXPECT_EQ(egress(frame), kPass) << "packet " << i;
    for (int i = 3; i < 6; i++) EXPECT_EQ(egress(frame), kPassCn) << "packet " << i;
    EXPECT_EQ(egress(frame), kDropCn);
}

// A packet larger than the tokens left passes on debt as long as the debt stays
// within the burst (a 64 KiB GSO packet against a smaller bucket), not beyond.
TEST_F(CgroupSkbProgTest, LargePacketPassesOnDebtWithinBurst) {
    limit(10, 1000, 500, flowattr::clock_ns(CLOCK_MONOTONIC));
    EXPECT_EQ(egress(frame_with_ip_len(1400)), kPassCn);  // 500 - 1400 = -900
    EXPECT_EQ(egress(frame_with_ip_len(101)), kDropCn);   // -1001 would exceed the burst
    EXPECT_EQ(egress(frame_with_ip_len(100)), kPassCn);   // exactly -1000
}

// Half a second at 1000 B/s refills 500 bytes (the burst of 600 is not reached):
// five packets of 100 bytes pass cleanly, six more on debt, then the drops start.
TEST_F(CgroupSkbProgTest, RefillFollowsElapsedTime) {
    limit(1000, 600, 0, flowattr::clock_ns(CLOCK_MONOTONIC) - kNsPerSec / 2);
    const auto frame = frame_with_ip_len(100);
    for (int i = 0; i < 5; i++) EXPECT_EQ(egress(frame), kPass) << "packet " << i;
    for (int i = 5; i < 11; i++) EXPECT_EQ(egress(frame), kPassCn) << "packet " << i;
    EXPECT_EQ(egress(frame), kDropCn);
    EXPECT_EQ(stats().packets[FA_DIR_EGRESS], 11u);
}

// A long idle period (here: since boot) fills the bucket to the burst and no further.
TEST_F(CgroupSkbProgTest, IdleBucketCapsAtBurst) {
    limit(1000, 300, 0, 1);
    const auto frame = frame_with_ip_len(100);
    for (int i = 0; i < 3; i++) EXPECT_EQ(egress(frame), kPass) << "packet " << i;
    EXPECT_EQ(egress(frame), kPassCn);
}

// Two CPUs hammering one bucket: the lock keeps the total passed exactly at the burst
// plus the allowed debt.
TEST_F(CgroupSkbProgTest, ConcurrentSendersShareOneBucketExactly) {
    limit(1, 100000);
    const auto frame = frame_with_ip_len(100);
    constexpr int kPerThread = 20000;
    auto hammer = [&] { run(skel_->progs.fa_cgroup_egress, frame, kPerThread); };
    std::thread a(hammer), b(hammer);
    a.join();
    b.join();
    const auto s = stats();
    EXPECT_EQ(s.packets[FA_DIR_EGRESS], 2000u);
    EXPECT_EQ(s.dropped_packets, 2u * kPerThread - 2000u);
    EXPECT_EQ(rate_dropped(), 2u * kPerThread - 2000u);
}

}  // namespace
