// Which identity hook the agent runs on this kernel, and why. The bpf LSM only runs
// programs when "bpf" is in the active LSM list; elsewhere an LSM program loads and
// attaches and then never fires. The agent must pick cgroup/sock_create there, say so,
// and catch an inert LSM program by its hook counter rather than trust the attach.
#include <bpf/libbpf.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "agent/identity.h"
#include "agent/libbpf_support.h"
#include "agent/probe.h"
#include "common/error.h"
#include "flowattr.h"
#include "identity.skel.h"
#include "kernel_env.h"

namespace {

using namespace flowattr::agent;

std::uint64_t hook_count(identity_bpf* skel) {
    return sum_percpu_counter(bpf_map__fd(skel->maps.fa_identity_counters), FA_CNT_IDENTITY_HOOK);
}

TEST(IdentityPathChoice, AutoPicksTheLsmOnlyWhereItFires) {
    FA_REQUIRE_ROOT();
    const std::string root = find_cgroup2_mount();
    if (root.empty()) GTEST_SKIP() << "needs a cgroup v2 mount";
    std::string lsm_list;
    const bool active = bpf_lsm_active(&lsm_list);
    IdentityTracker tracker(IdentityMode::automatic, root);
    const IdentityStatus& s = tracker.status();
    RecordProperty("attach_mode.identity", "identity:" + std::string(s.path == IdentityPath::lsm ? "lsm" : "sock_create"));
    std::printf("[ identity ] %s (%s), lsm=%s\n", identity_path_name(s.path).c_str(), s.reason.c_str(), lsm_list.c_str());
    EXPECT_TRUE(s.hook_fired) << "the chosen hook must be proven, not assumed";
    EXPECT_FALSE(s.reason.empty());
    if (!active) {
        EXPECT_EQ(s.path, IdentityPath::sock_create);
        EXPECT_NE(s.reason.find("not active"), std::string::npos) << s.reason;
    } else if (const KernelFeatures& f = fa::test::kernel_features(); f.has("prog.lsm") && f.has("link.lsm")) {
        EXPECT_EQ(s.path, IdentityPath::lsm) << s.reason;
    } else {
        EXPECT_EQ(s.path, IdentityPath::sock_create);
        EXPECT_NE(s.reason.find("refused"), std::string::npos) << s.reason;
    }
}

// Needs a kernel that loads LSM programs with bpf missing from the active list: the
// 5.10-nolsm matrix cell. There the program attaches, the counter stays still, and
// --identity lsm fails saying so.
TEST(IdentityPathChoice, InertLsmIsCaughtByTheHookCounter) {
    FA_REQUIRE_ROOT();
    std::string lsm_list;
    if (bpf_lsm_active(&lsm_list))
        GTEST_SKIP() << "bpf is an active LSM here (lsm=" << lsm_list << "); the inert case runs on a kernel booted without it";
    Skeleton<identity_bpf> skel(identity_bpf__open());
    ASSERT_NE(skel, nullptr);
    bpf_program__set_autoload(skel->progs.fa_sock_create, false);
    bpf_program__set_autoload(skel->progs.fa_stamp_task_sockets, false);
    LibbpfLogCapture log;
    int err = identity_bpf__load(skel.get());
    if (err) {
        // Only a kernel or policy that refuses LSM programs outright is a reason to skip.
        if (err == -EPERM || !fa::test::kernel_features().has("prog.lsm"))
            GTEST_SKIP() << "LSM programs do not load here (" << std::strerror(-err) << "): nothing can be inert";
        FAIL() << "fa_socket_post_create does not load: " << std::strerror(-err) << "\n" << log.text();
    }
    BpfLink link(bpf_program__attach_lsm(skel->progs.fa_socket_post_create));
    ASSERT_NE(link, nullptr) << "attach: " << std::strerror(errno) << "\n" << log.text();
    const std::uint64_t before = hook_count(skel.get());
    flowattr::UniqueFd sock(socket(AF_INET, SOCK_DGRAM, 0));
    EXPECT_EQ(hook_count(skel.get()), before) << "the hook ran although bpf is not an active LSM";
    link.reset();
    skel.reset();

    try {
        IdentityTracker forced(IdentityMode::lsm, find_cgroup2_mount());
        FAIL() << "--identity lsm accepted an LSM program that never fires";
    } catch (const flowattr::Error& e) {
        EXPECT_NE(std::string(e.what()).find("never fired"), std::string::npos) << e.what();
    }
}

}  // namespace
