#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/procfs.h"

namespace {

using namespace flowattr::agent;

TEST(Procfs, CgroupV2PathFromHybridFile) {
    std::string text =
        "12:cpuset:/\n"
        "1:name=systemd:/user.slice/user-0.slice/session-1.scope\n"
        "0::/user.slice/user-0.slice/session-1.scope\n";
    EXPECT_EQ(parse_cgroup_v2_path(text), "/user.slice/user-0.slice/session-1.scope");
    EXPECT_EQ(parse_cgroup_v2_path("3:memory:/x\n"), "");
    EXPECT_EQ(parse_cgroup_v2_path("0::/\n"), "/");
}

TEST(Procfs, ContainerIds) {
    const std::string id = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    EXPECT_EQ(container_id_from_cgroup("/system.slice/docker-" + id + ".scope"), id);
    EXPECT_EQ(container_id_from_cgroup("/docker/" + id), id);
    EXPECT_EQ(container_id_from_cgroup("/kubepods.slice/kubepods-pod1.slice/cri-containerd-" + id + ".scope"), id);
    EXPECT_EQ(container_id_from_cgroup("/machine.slice/libpod-" + id + ".scope/container"), id);
    EXPECT_EQ(container_id_from_cgroup("/kubepods/besteffort/pod1/crio-" + id + ".scope"), id);
    EXPECT_EQ(container_id_from_cgroup("/user.slice/user-0.slice"), "");
    EXPECT_EQ(container_id_from_cgroup("/docker/" + id.substr(1)), "");  // 63 digits
    std::string upper = id;
    upper[0] = 'A';
    EXPECT_EQ(container_id_from_cgroup("/docker/" + upper), "");
}

TEST(Procfs, StatStartTimeSurvivesHostileComm) {
    std::string fields;
    for (int i = 4; i <= 21; i++) fields += " " + std::to_string(i);  // after the state, field 3
    EXPECT_EQ(parse_stat_start_ticks("42 (a) b) S" + fields + " 98765 23 24"), 98765u);
    EXPECT_EQ(parse_stat_start_ticks("42 (plain) R" + fields + " 5"), 5u);
    EXPECT_FALSE(parse_stat_start_ticks("42 (short) S 1 2").has_value());
    EXPECT_FALSE(parse_stat_start_ticks("no parenthesis").has_value());
}

TEST(Procfs, StatusRealUidIsTheFirstUidField) {
    EXPECT_EQ(parse_status_real_uid("Name:\tx\nUmask:\t0022\nUid:\t1000\t0\t0\t0\nGid:\t5\t5\t5\t5\n"), 1000u);
    EXPECT_EQ(parse_status_real_uid("Uid:\t0\t1000\t1000\t1000\n"), 0u);
    EXPECT_EQ(parse_status_real_uid("Uid:\t4294967295\t0\t0\t0\n"), 4294967295u);
    EXPECT_FALSE(parse_status_real_uid("Uid:\t4294967296\t0\t0\t0\n").has_value());
    EXPECT_FALSE(parse_status_real_uid("Uid:\tnobody\n").has_value());
    EXPECT_FALSE(parse_status_real_uid("Name:\tx\nGid:\t0\n").has_value());
    auto self = read_proc_file("/proc/self/status");
    ASSERT_TRUE(self.has_value());
    EXPECT_EQ(parse_status_real_uid(*self), getuid());
    EXPECT_FALSE(read_proc_file("/proc/self/no-such-file").has_value());
}

TEST(Procfs, ReadsThisProcess) {
    ProcessInfo self = read_process_info(std::uint32_t(getpid()), 0);
    EXPECT_TRUE(self.alive);
    EXPECT_FALSE(self.comm.empty());
    EXPECT_NE(self.exe.find("flowattr_unit_tests"), std::string::npos) << self.exe;
}

TEST(Procfs, ReusedPidIsNotAlive) {
    // A start time far from this process's own marks the pid as belonging to someone else.
    ProcessInfo stranger = read_process_info(std::uint32_t(getpid()), 1);
    EXPECT_FALSE(stranger.alive);
    EXPECT_TRUE(stranger.comm.empty());
}

TEST(Procfs, StatStateAfterHostileComm) {
    EXPECT_EQ(parse_stat_state("42 (a) Z) Z 1 2"), 'Z');
    EXPECT_EQ(parse_stat_state("42 (plain) S 1 2"), 'S');
    EXPECT_EQ(parse_stat_state("42 (cut)"), '?');
}

// A child that exited but was not waited for is a zombie: gone, though /proc still lists it.
TEST(Procfs, ZombieIsNotAlive) {
    pid_t child = fork();
    if (child == 0) _exit(0);
    ASSERT_GT(child, 0);
    for (int i = 0; i < 500; i++) {
        auto stat = read_proc_file("/proc/" + std::to_string(child) + "/stat");
        if (stat && parse_stat_state(*stat) == 'Z') break;
        usleep(10000);
    }
    EXPECT_FALSE(process_alive(std::uint32_t(child), 0));
    EXPECT_TRUE(process_alive(std::uint32_t(getpid()), 0));
    waitpid(child, nullptr, 0);
}

TEST(Procfs, MissingPid) {
    ProcessInfo gone = read_process_info(0x7ffffff0u, 0, "/proc");
    EXPECT_FALSE(gone.alive);
}

}  // namespace
