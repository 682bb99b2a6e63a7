// `kmatrix check --size-maps --section-type` on real kernels, driven from the host as a user
// would: the lab's two fixtures whose maps a loader would complete and its socket filter in a
// section libbpf has no type for, on 6.1 and 6.1-arm64. The options reach each guest's
// `flowattr check`: the object whose maps are only unsized loads there, with each map's size in
// its note, the hash of maps without an inner map still fails, named, and the socket filter
// loads as one.
// Label `matrix` (src/matrix/CMakeLists.txt); skips, saying why, without QEMU or those kernels.
#include <gtest/gtest.h>

#include <string>

#include <nlohmann/json.hpp>

#include "common/file.h"
#include "common/subprocess.h"
#include "kmatrix_host_test.h"

namespace {

class KmatrixCheck : public fa::test::KmatrixHostTest {
protected:
    void SetUp() override { set_up("kmatrix-check"); }
};

TEST_F(KmatrixCheck, LoaderOptionsReachEveryGuestsCheck) {
    const std::string fixtures = flowattr::env_or("ARTIFACTS", "") + "/tests/kernel/fixtures";
    const std::string json = dir_->path() + "/check.json";
    auto r = flowattr::run_command({kmatrix_, "check", "--kernels", flowattr::env_or("KERNELS", ""), "--only",
                                    "6.1,6.1-arm64", "-j2", "--artifacts", flowattr::env_or("ARTIFACTS", ""), "--out",
                                    dir_->path() + "/out", "--json", json, "--size-maps",
                                    "--section-type", "loadbalancer=socket", fixtures + "/loader_sized_maps.bpf.o",
                                    fixtures + "/loader_inner_map.bpf.o", fixtures + "/unknown_section.bpf.o"});
    auto doc = nlohmann::json::parse(flowattr::read_file(json));
    for (const auto& k : doc["kernels"])
        if (k["outcome"] == "unavailable") GTEST_SKIP() << k["name"] << " unavailable here: " << k["reason"];
    EXPECT_EQ(r.exit_code, 1) << "the inner map fails: " << r.out << r.err;
    int sized = 0, inner = 0, retyped = 0;
    for (const auto& c : doc["results"]) {
        SCOPED_TRACE(c.dump());
        if (c["object"] == "loader_sized_maps") {
            sized++;
            EXPECT_EQ(c["status"], "pass");
            EXPECT_GT(c["insns"], 0);
            EXPECT_NE(c["note"].get<std::string>().find("fx_sized_stacks (max_entries 1, value_size 1016)"),
                      std::string::npos);
        } else if (c["object"] == "unknown_section") {
            retyped++;
            EXPECT_EQ(c["status"], "pass");
            EXPECT_GT(c["insns"], 0);
            EXPECT_NE(c["note"].get<std::string>().find("loaded as SEC(\"socket\") (--section-type loadbalancer=socket)"),
                      std::string::npos);
            EXPECT_EQ(c["attach"], "SO_ATTACH_BPF on an unbound UDP socket");
        } else {
            inner++;
            EXPECT_EQ(c["status"], "fail");
            EXPECT_EQ(c["class"], "loader-sized-map");
            EXPECT_EQ(c["message"], "map 'fx_inner_less': failed to create: Invalid argument(-22)");
        }
    }
    EXPECT_EQ(sized, 2) << "one result per kernel";
    EXPECT_EQ(inner, 2);
    EXPECT_EQ(retyped, 2);
}

// `kmatrix repro NAME --object` takes the same options to its one guest: the socket filter in
// a section libbpf has no type for loads and attaches as one there, and the plan on the kernel
// command line it prints carries both options.
TEST_F(KmatrixCheck, ReproOfAnObjectTakesTheLoaderOptions) {
    const std::string fixtures = flowattr::env_or("ARTIFACTS", "") + "/tests/kernel/fixtures";
    auto r = flowattr::run_command({kmatrix_, "repro", "6.1", "--kernels", flowattr::env_or("KERNELS", ""),
                                    "--artifacts", flowattr::env_or("ARTIFACTS", ""), "--out", dir_->path() + "/out",
                                    "--object", fixtures + "/unknown_section.bpf.o", "--size-maps", "--section-type",
                                    "loadbalancer=socket"});
    if (r.out.find("outcome: unavailable") != std::string::npos) GTEST_SKIP() << "6.1 unavailable here: " << r.out;
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    EXPECT_NE(r.out.find("attached (SO_ATTACH_BPF on an unbound UDP socket); loaded as SEC(\"socket\") "
                         "(--section-type loadbalancer=socket)"),
              std::string::npos)
        << r.out;
    EXPECT_NE(r.err.find("kmatrix.check_size_maps=1 kmatrix.check_section_types=loadbalancer=socket"), std::string::npos)
        << r.err;
}

}  // namespace
