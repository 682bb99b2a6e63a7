// `flowattr check` on a host leaves the host as it was: a tc, TCX or XDP program is attached
// to the loopback of a network namespace of the check's own, never to an interface of the
// namespace it runs in, and an object's maps are created unpinned, so nothing stays under a
// bpffs and no map someone pinned is reused. With --size-maps, maps the object leaves for its
// loader to size get sizes of the check's. The lab fixtures it checks stay on the host (the
// VMs get the lab's fixtures from `kmatrix lab`, which runs this same check there).
#include <gtest/gtest.h>
#include <bpf/bpf.h>
#include <linux/bpf.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <sys/mount.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <string>

#include "agent/object_check.h"
#include "common/env.h"
#include "common/error.h"
#include "common/file.h"
#include "common/unique_fd.h"
#include "kernel_env.h"
#include "test_process.h"

namespace {

using flowattr::UniqueFd;
using flowattr::agent::CheckOptions;
using flowattr::agent::CheckStatus;
using flowattr::agent::ObjectBytes;
using flowattr::agent::ObjectChecker;

// A lab fixture, read whole.
struct LabFixture {
    std::string name, path, bytes;
    ObjectBytes object() const { return ObjectBytes{name, path, bytes}; }
};

// The lab fixture NAME, nullopt where the lab's fixtures are not at hand.
std::optional<LabFixture> lab_fixture(const std::string& name) {
    const std::string dir = flowattr::env_or("FLOWATTR_LAB_FIXTURES", "");
    if (dir.empty()) return std::nullopt;
    const std::string path = dir + "/" + name + ".bpf.o";
    return LabFixture{name, path, flowattr::read_file(path)};
}

constexpr const char* kNoFixtures = "FLOWATTR_LAB_FIXTURES not set: the lab's fixtures stay on the host (ctest names them)";

TEST(CheckIsolation, NetworkProgramsAttachInTheirOwnNamespaceAndMapsStayUnpinned) {
    FA_REQUIRE_ROOT();
    const auto fixture = lab_fixture("passes_xdp_pinned");
    if (!fixture) GTEST_SKIP() << kNoFixtures;
    // A namespace of the child's own stands in for the host: its lo already holds an XDP link,
    // so a second XDP attachment there would be refused (EBUSY), and a bpffs sits at
    // /sys/fs/bpf, where libbpf pins maps by name.
    fa::test::Child run("fa-check-iso", -1, [&](int out) {
        if (::unshare(CLONE_NEWNET | CLONE_NEWNS) != 0 || ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0)
            return 10;
        if (::mount("bpf", "/sys/fs/bpf", "bpf", 0, nullptr) != 0) return 11;
        const bpf_insn pass[] = {{BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, XDP_PASS}, {BPF_JMP | BPF_EXIT, 0, 0, 0, 0}};
        UniqueFd prog(bpf_prog_load(BPF_PROG_TYPE_XDP, "fa_held", "GPL", pass, 2, nullptr));
        const int lo = int(if_nametoindex("lo"));
        UniqueFd link(prog ? bpf_link_create(prog.get(), lo, BPF_XDP, nullptr) : -1);
        if (!link) return 12;
        // A bpffs starts with the kernel's own preloaded entries (maps.debug, progs.debug).
        auto entries = [] {
            std::set<std::string> names;
            for (const auto& entry : std::filesystem::directory_iterator("/sys/fs/bpf")) names.insert(entry.path().filename());
            return names;
        };
        const std::set<std::string> before = entries();
        ObjectChecker checker(CheckOptions{});
        for (const auto& c : checker.check(fixture->object()))
            fa::test::report(out, c.status == CheckStatus::pass ? "pass|" + c.attach + "|" + c.note
                                                                 : "not pass|" + c.log.substr(0, 300));
        std::string pinned;
        for (const auto& name : entries())
            if (!before.count(name)) pinned += " " + name;
        fa::test::report(out, "pinned:" + pinned);
        bpf_link_info info{};
        __u32 size = sizeof(info);
        const bool held = bpf_link_get_info_by_fd(link.get(), &info, &size) == 0 && int(info.xdp.ifindex) == lo;
        fa::test::report(out, held ? "lo keeps its own XDP link" : "lo lost its XDP link");
        return 0;
    });
    EXPECT_EQ(run.read_line(30000),
              "pass|xdp on a scratch netns's lo|map fx_pinned_count created unpinned (pinned by name by its loader; the "
              "check pins nothing)");
    EXPECT_EQ(run.read_line(), "pinned:");
    EXPECT_EQ(run.read_line(), "lo keeps its own XDP link");
    EXPECT_EQ(run.wait(), 0);
}

// A hash map and a ring buffer without max_entries, a stack-trace map without max_entries or
// value_size: as it is, the object fails to load as loader-sized-map, naming the map libbpf
// could not create; with size_maps its program loads and its note says what each map was given.
TEST(CheckSizeMaps, MapsLeftToTheLoaderGetTheChecksSizes) {
    FA_REQUIRE_ROOT();
    const auto fixture = lab_fixture("loader_sized_maps");
    if (!fixture) GTEST_SKIP() << kNoFixtures;
    const ObjectBytes object = fixture->object();
    CheckOptions as_is;
    as_is.attach = false;  // the load is the question; a kprobe's attach depends on the host
    auto r = ObjectChecker(as_is).check(object);
    ASSERT_EQ(r.size(), 1u);
    EXPECT_EQ(r[0].status, CheckStatus::fail);
    ASSERT_TRUE(r[0].diagnosis) << r[0].log;
    EXPECT_EQ(r[0].diagnosis->cause, flowattr::diagnose::Cause::loader_sized_map) << r[0].log;
    EXPECT_EQ(r[0].diagnosis->message, "map 'fx_sized_stacks': failed to create: Invalid argument(-22)");

    CheckOptions sized = as_is;
    sized.size_maps = true;
    r = ObjectChecker(sized).check(object);
    ASSERT_EQ(r.size(), 1u);
    EXPECT_EQ(r[0].status, CheckStatus::pass) << r[0].log;
    EXPECT_GT(r[0].insns_processed, 0u) << "the verifier ran";
    // In libbpf's order of the object's maps.
    EXPECT_EQ(r[0].note, "maps fx_sized_stacks (max_entries 1, value_size 1016), fx_sized_start (max_entries 1), "
                         "fx_sized_events (max_entries " + std::to_string(::sysconf(_SC_PAGESIZE)) +
                             ") sized by the check (--size-maps; 0 in the object, for its loader to set)");
}

// A hash of maps without an inner map in the object: only its loader knows the inner map, so
// --size-maps leaves it, and the failure names the inner map as what the loader gives.
TEST(CheckSizeMaps, AMapOfMapsWithoutItsInnerMapStaysTheLoaders) {
    FA_REQUIRE_ROOT();
    const auto fixture = lab_fixture("loader_inner_map");
    if (!fixture) GTEST_SKIP() << kNoFixtures;
    CheckOptions sized;
    sized.attach = false;
    sized.size_maps = true;
    auto r = ObjectChecker(sized).check(fixture->object());
    ASSERT_EQ(r.size(), 1u);
    EXPECT_EQ(r[0].status, CheckStatus::fail);
    ASSERT_TRUE(r[0].diagnosis) << r[0].log;
    EXPECT_EQ(r[0].diagnosis->cause, flowattr::diagnose::Cause::loader_sized_map) << r[0].log;
    EXPECT_EQ(r[0].diagnosis->message, "map 'fx_inner_less': failed to create: Invalid argument(-22)");
    EXPECT_NE(r[0].diagnosis->cause_text.find("without an inner map"), std::string::npos) << r[0].diagnosis->cause_text;
    EXPECT_EQ(r[0].note, "") << "nothing was sized";
}

// A socket filter in SEC("loadbalancer"), a section libbpf has no type for (suricata's): as it
// is, libbpf loads it without a type and the check names unknown-section; with --section-type
// it loads as the type its own loader gives it, and is attached as a program of that section.
TEST(CheckSectionType, AProgramOfASectionLibbpfDoesNotKnowLoadsAsTheTypeGiven) {
    FA_REQUIRE_ROOT();
    const auto fixture = lab_fixture("unknown_section");
    if (!fixture) GTEST_SKIP() << kNoFixtures;
    const ObjectBytes object = fixture->object();
    auto r = ObjectChecker(CheckOptions{}).check(object);
    ASSERT_EQ(r.size(), 1u);
    EXPECT_EQ(r[0].status, CheckStatus::fail);
    ASSERT_TRUE(r[0].diagnosis) << r[0].log;
    EXPECT_EQ(r[0].diagnosis->cause, flowattr::diagnose::Cause::unknown_section) << r[0].log;

    CheckOptions as_socket;
    as_socket.section_types = {flowattr::agent::parse_section_type("loadbalancer=socket")};
    r = ObjectChecker(as_socket).check(object);
    ASSERT_EQ(r.size(), 1u);
    EXPECT_EQ(r[0].status, CheckStatus::pass) << r[0].log;
    EXPECT_EQ(r[0].section, "loadbalancer") << "reported under its own section";
    EXPECT_GT(r[0].insns_processed, 0u) << "the verifier ran";
    EXPECT_EQ(r[0].note, "loaded as SEC(\"socket\") (--section-type loadbalancer=socket)");
    EXPECT_EQ(r[0].attach, "SO_ATTACH_BPF on an unbound UDP socket");

    CheckOptions as_tc;
    as_tc.section_types = {flowattr::agent::parse_section_type("loadbalancer=tc")};
    r = ObjectChecker(as_tc).check(object);
    ASSERT_EQ(r.size(), 1u);
    EXPECT_EQ(r[0].status, CheckStatus::pass) << r[0].log;
    EXPECT_EQ(r[0].attach, "clsact ingress on a scratch netns's lo") << "attached as SEC(\"tc\") is";
}

// Programs the check attaches to a network namespace (sk_lookup, flow dissector) go to its
// scratch namespace, never the one it runs in, and a reuseport program to a socket of its own;
// each is attached (pass, not loaded only) and nothing stays attached to this namespace.
TEST(CheckIsolation, SocketAndNetnsProgramsAttachToTargetsOfTheChecksOwn) {
    FA_REQUIRE_ROOT();
    const auto fixture = lab_fixture("passes_socket_hooks");
    if (!fixture) GTEST_SKIP() << kNoFixtures;
    auto attached_here = [](bpf_attach_type type) {
        UniqueFd netns(::open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC));
        std::uint32_t count = 0;
        if (bpf_prog_query(netns.get(), type, 0, nullptr, nullptr, &count) != 0)
            ADD_FAILURE() << flowattr::describe_errno("query of this namespace's programs", errno);
        return count;
    };
    const std::map<std::string, std::string> want = {
        {"fx_sk_lookup", "netns link on a scratch netns"},
        {"fx_flow_dissector", "netns link on a scratch netns"},
        {"fx_sk_reuseport", "SO_ATTACH_REUSEPORT_EBPF on an unbound TCP socket"}};
    std::map<std::string, std::string> got;
    for (const auto& c : ObjectChecker(CheckOptions{}).check(fixture->object())) {
        EXPECT_EQ(c.status, CheckStatus::pass) << c.program << ": " << c.log;
        got[c.program] = c.attach;
    }
    EXPECT_EQ(got, want);
    EXPECT_EQ(attached_here(BPF_SK_LOOKUP), 0u);
    EXPECT_EQ(attached_here(BPF_FLOW_DISSECTOR), 0u);
}

// A perf_event program is attached to a software clock event (the machine may have no hardware
// events: a VM), not only loaded.
TEST(CheckIsolation, PerfEventProgramAttachesToASoftwareClockEvent) {
    FA_REQUIRE_ROOT();
    const auto fixture = lab_fixture("passes_perf_event");
    if (!fixture) GTEST_SKIP() << kNoFixtures;
    auto r = ObjectChecker(CheckOptions{}).check(fixture->object());
    ASSERT_EQ(r.size(), 1u);
    EXPECT_EQ(r[0].status, CheckStatus::pass) << r[0].log;
    EXPECT_EQ(r[0].attach, "a software clock event on CPU 0");
    EXPECT_EQ(r[0].note, "");
}

}  // namespace
