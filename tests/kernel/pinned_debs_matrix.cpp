// A pinned package Debian dropped from its mirror, provoked against a local mirror: a
// directory with Packages indexes served on loopback, holding none of the pinned .debs and
// offering the victim (clang-14) only at another version (the other suites' indexes hold an
// unrelated package). On a fresh machine the builder's base must fail before mmdebstrap
// starts, in one line naming the package, both versions and the command that refreshes the
// lock; with the content-addressed .deb cache of a machine that built once, the base must come
// out with the same bytes without a single .deb asked of the mirror, and as the same image (no
// untagged copy left behind). Label `matrix` (the second case builds the base, about a
// minute); needs root. The project's own scripts set up Docker and mmdebstrap, as
// `make docker-build` does.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <string>
#include <vector>

#include "../unit/loopback_http_server.h"
#include "common/env.h"
#include "common/file.h"
#include "common/subprocess.h"

namespace {

namespace fs = std::filesystem;

const std::string kSource = flowattr::env_or("FLOWATTR_SOURCE", "");
const std::string kVictim = "clang-14";
const std::string kVictimOffered = "1:14.0.6-99";

struct LockedDeb {
    std::string package, version, sha256, path;
};

std::vector<LockedDeb> rootfs_lock() {
    std::ifstream in(kSource + "/docker/rootfs.lock");
    std::vector<LockedDeb> debs;
    for (std::string line; std::getline(in, line);) {
        if (line.empty() || line[0] == '#') continue;
        std::istringstream fields(line);
        LockedDeb d;
        if (fields >> d.package >> d.version >> d.sha256 >> d.path) debs.push_back(d);
    }
    return debs;
}

std::string real_cache() {
    return flowattr::env_or("FLOWATTR_CACHE", flowattr::env_or("HOME", "/root") + "/.cache/flowattr");
}

// The local mirror: every suite's index, empty but for the victim at a version the lock does
// not pin; no pool file at all. Every requested path is recorded.
class LocalMirror {
public:
    LocalMirror()
        : server_([this](const std::string& path, flowattr::test::LoopbackHttpServer::Conn& conn) {
              {
                  std::lock_guard<std::mutex> lock(mu_);
                  requests_.push_back(path);
              }
              if (path == "/debian/dists/bookworm/main/binary-amd64/Packages")
                  conn.send_response(200, "Package: " + kVictim + "\nVersion: " + kVictimOffered + "\nArchitecture: amd64\n\n");
              else if (path == "/debian/dists/bookworm-backports/main/binary-amd64/Packages" ||
                       path == "/debian-security/dists/bookworm-security/main/binary-amd64/Packages")
                  conn.send_response(200, "Package: flowattr-unrelated\nVersion: 1\nArchitecture: all\n\n");
              else
                  conn.send_response(404, "", "Not Found");
          }) {}
    std::string root() const { return server_.url(""); }
    std::vector<std::string> debs_requested() {
        std::lock_guard<std::mutex> lock(mu_);
        std::vector<std::string> debs;
        for (const auto& r : requests_)
            if (r.size() > 4 && r.compare(r.size() - 4, 4, ".deb") == 0) debs.push_back(r);
        return debs;
    }

private:
    std::mutex mu_;
    std::vector<std::string> requests_;
    flowattr::test::LoopbackHttpServer server_;
};

class VanishedPin : public ::testing::Test {
protected:
    void SetUp() override {
        ASSERT_FALSE(kSource.empty()) << "FLOWATTR_SOURCE names the source tree";
        if (geteuid() != 0) GTEST_SKIP() << "needs root (Docker, mmdebstrap)";
        // What `make docker-build` does first: the engine, then every locked .deb in the cache
        // from Debian's mirror, then the base (reused when this machine has it already).
        static std::string base_rootfs;
        static std::once_flag once;
        std::call_once(once, [] {
            auto engine = flowattr::run_command({kSource + "/scripts/docker-engine.sh"});
            if (!engine.ok()) return;
            auto fetch = flowattr::run_command({kSource + "/scripts/pinned-debs.sh", "fetch"});
            if (!fetch.ok()) return;
            auto base = flowattr::run_command({kSource + "/scripts/docker-base.sh"});
            if (!base.ok()) return;
            std::string ref = base.out.substr(0, base.out.find('\n'));
            auto layer = flowattr::run_command({"docker", "image", "inspect", "-f", "{{index .RootFS.Layers 0}}", ref});
            if (layer.ok() && layer.out.rfind("sha256:", 0) == 0) base_rootfs = layer.out.substr(7, 64);
        });
        ASSERT_EQ(base_rootfs.size(), 64u) << "cannot build the builder's base from Debian's mirror";
        base_rootfs_ = base_rootfs;
        for (const auto& d : rootfs_lock())
            if (d.package == kVictim) victim_ = d;
        ASSERT_FALSE(victim_.sha256.empty()) << kVictim << " is not in docker/rootfs.lock";
    }

    flowattr::RunResult build_base(const std::string& cache, const std::string& mirror) {
        flowattr::RunOptions options;
        options.env = {"FLOWATTR_CACHE=" + cache, "FLOWATTR_DEBIAN_MIRROR=" + mirror};
        options.timeout = std::chrono::minutes(10);
        return flowattr::run_command({kSource + "/scripts/docker-base.sh", "--rebuild"}, options);
    }

    std::string base_rootfs_;
    LockedDeb victim_;
};

TEST_F(VanishedPin, FreshMachineFailsBeforeMmdebstrapNamingPackageVersionsAndCommand) {
    LocalMirror mirror;
    flowattr::TempDir cache("vanished-pin-cache");
    // A machine that holds every locked .deb but the victim's.
    fs::create_directories(cache.path() + "/debs");
    for (const auto& d : rootfs_lock())
        if (d.package != kVictim)
            fs::create_symlink(real_cache() + "/debs/" + d.sha256 + ".deb", cache.path() + "/debs/" + d.sha256 + ".deb");

    auto r = build_base(cache.path(), mirror.root());
    EXPECT_NE(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.err.find("mmdebstrap bookworm"), std::string::npos) << "mmdebstrap started:\n" << r.err;
    const std::string line = "pinned-debs: " + kVictim + " " + victim_.version + " is pinned but gone from " +
                             mirror.root() + " and not in " + cache.path() + "/debs (the mirror has " + kVictimOffered +
                             " (bookworm)): run 'make lock-refresh' and review 'git diff docker/'\n";
    EXPECT_NE(r.err.find(line), std::string::npos) << r.err;
    // One line per vanished package, and only the victim vanished.
    std::size_t gone = 0;
    for (std::size_t at = 0; (at = r.err.find("is pinned but gone", at)) != std::string::npos; at++) gone++;
    EXPECT_EQ(gone, 1u) << r.err;
    // Known from the indexes alone: no .deb was downloaded, nothing half-written stayed.
    EXPECT_TRUE(mirror.debs_requested().empty()) << mirror.debs_requested().front();
    EXPECT_FALSE(fs::exists(cache.path() + "/debs/" + victim_.sha256 + ".deb"));
    for (const auto& entry : fs::directory_iterator(cache.path() + "/debs"))
        EXPECT_EQ(entry.path().filename().string().find(".part"), std::string::npos) << entry.path();
}

// The image IDs of every untagged image Docker holds, sorted.
std::vector<std::string> dangling_images() {
    auto r = flowattr::run_command({"docker", "images", "--quiet", "--no-trunc", "--filter", "dangling=true"});
    EXPECT_TRUE(r.ok()) << r.status_text() << "\n" << r.err;
    std::vector<std::string> ids;
    std::istringstream in(r.out);
    for (std::string id; in >> id;) ids.push_back(id);
    std::sort(ids.begin(), ids.end());
    return ids;
}

std::string image_id(const std::string& ref) {
    auto r = flowattr::run_command({"docker", "image", "inspect", "-f", "{{.Id}}", ref});
    return r.ok() ? r.out.substr(0, r.out.find('\n')) : std::string();
}

TEST_F(VanishedPin, CacheRebuildsTheSameBytesWithoutAskingTheMirror) {
    LocalMirror mirror;
    const std::string base = "flowattr-base:" + base_rootfs_;
    const std::string id_before = image_id(base);
    const std::vector<std::string> dangling_before = dangling_images();
    auto r = build_base(real_cache(), mirror.root());
    ASSERT_TRUE(r.ok()) << r.status_text() << "\n" << r.err;
    EXPECT_NE(r.err.find("docker-base: rootfs sha256 " + base_rootfs_ + "\n"), std::string::npos)
        << "expected the rootfs sha256 of the base built from Debian's mirror, " << base_rootfs_ << ":\n" << r.err;
    EXPECT_TRUE(mirror.debs_requested().empty()) << mirror.debs_requested().front();
    // The same bytes are the same image: a rebuild leaves no untagged copy behind.
    EXPECT_EQ(image_id(base), id_before) << base << " was imported again";
    EXPECT_EQ(dangling_images(), dangling_before) << "the rebuild left an untagged image behind";
}

}  // namespace
