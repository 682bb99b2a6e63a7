// `scripts/pinned-debs.sh testdata` (what `make deps` runs for docker/testdata.lock) against a
// local mirror on loopback that serves the pinned .deb's own bytes, taken from the machine's
// cache: a .deb with other bytes is refused and nothing is unpacked; the right one is unpacked
// (the arm64 libbpf-tools, aarch64 executables); a second run asks the mirror for nothing.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "build_tree.h"
#include "common/env.h"
#include "common/file.h"
#include "common/subprocess.h"
#include "loopback_http_server.h"
#include "matrix/initramfs.h"

namespace {

namespace fs = std::filesystem;

struct TestdataPin {
    std::string package, version, sha256, path;
};

TestdataPin first_pin() {
    std::ifstream in(fa::test::source_dir() + "/docker/testdata.lock");
    for (std::string line; std::getline(in, line);) {
        if (line.empty() || line[0] == '#') continue;
        std::istringstream words(line);
        TestdataPin pin;
        words >> pin.package >> pin.version >> pin.sha256 >> pin.path;
        return pin;
    }
    return {};
}

class PinnedTestdata : public testing::Test {
protected:
    void SetUp() override {
        pin_ = first_pin();
        ASSERT_FALSE(pin_.path.empty()) << "docker/testdata.lock names no .deb";
        const std::string cache =
            flowattr::env_or("FLOWATTR_CACHE", flowattr::env_or("HOME", "/root") + "/.cache/flowattr");
        const std::string deb = cache + "/debs/" + pin_.sha256 + ".deb";
        if (!fs::exists(deb)) GTEST_SKIP() << "no " << deb << " to serve (make deps fetches it)";
        bytes_ = flowattr::read_file(deb);
    }

    flowattr::RunResult testdata(bool tampered) {
        flowattr::test::LoopbackHttpServer mirror([&](const std::string& path, flowattr::test::LoopbackHttpServer::Conn& conn) {
            requests_++;
            if (path != "/" + pin_.path) return conn.send_response(404, "", "Not Found");
            std::string body = bytes_;
            if (tampered) body[body.size() / 2] ^= 1;
            conn.send_response(200, body);
        });
        flowattr::RunOptions options;
        options.env = {"FLOWATTR_CACHE=" + cache_.path(), "FLOWATTR_DEBIAN_MIRROR=" + mirror.url("")};
        options.timeout = std::chrono::minutes(2);
        return flowattr::run_command({fa::test::source_dir() + "/scripts/pinned-debs.sh", "testdata"}, options);
    }

    std::string unpacked() const {
        std::string dir = pin_.package;
        std::replace(dir.begin(), dir.end(), ':', '_');
        return cache_.path() + "/testdata/" + dir;
    }

    TestdataPin pin_;
    std::string bytes_;
    flowattr::TempDir cache_{"pinned-testdata"};
    std::atomic<int> requests_{0};
};

TEST_F(PinnedTestdata, OtherBytesAreRefusedThePinnedOnesUnpackedOnce) {
    auto refused = testdata(true);
    EXPECT_NE(refused.exit_code, 0) << refused.err;
    EXPECT_NE(refused.err.find("docker/testdata.lock pins " + pin_.sha256), std::string::npos) << refused.err;
    EXPECT_NE(refused.err.find("refused"), std::string::npos) << refused.err;
    EXPECT_FALSE(fs::exists(unpacked())) << "nothing is unpacked from a refused .deb";

    auto fetched = testdata(false);
    ASSERT_TRUE(fetched.ok()) << fetched.err;
    EXPECT_EQ(flowattr::matrix::elf_arch(unpacked() + "/usr/sbin/biotop"), flowattr::matrix::Arch::aarch64);
    EXPECT_EQ(flowattr::read_file(unpacked() + "/.sha256"), pin_.sha256 + "\n");

    requests_ = 0;
    auto again = testdata(false);
    ASSERT_TRUE(again.ok()) << again.err;
    EXPECT_EQ(requests_.load(), 0) << "the cached .deb, already unpacked, needs nothing from the mirror";
}

// Test data is the same objects as a package the builder installs, built for another
// architecture: its pin follows that package's version in docker/packages.lock, which
// `pinned-debs.sh twin-version` reads for `check` and for `make lock-refresh`.
TEST(PinnedTestdataTwin, EachPinIsAtItsTwinsVersion) {
    std::ifstream lock(fa::test::source_dir() + "/docker/testdata.lock");
    int pins = 0;
    for (std::string line; std::getline(lock, line);) {
        if (line.empty() || line[0] == '#') continue;
        std::istringstream words(line);
        TestdataPin pin;
        words >> pin.package >> pin.version;
        pins++;
        ASSERT_NE(pin.package.find(':'), std::string::npos) << pin.package << ": test data names its architecture";
        const auto twin =
            flowattr::run_command({fa::test::source_dir() + "/scripts/pinned-debs.sh", "twin-version", pin.package});
        ASSERT_TRUE(twin.ok()) << twin.err;
        EXPECT_EQ(twin.out, pin.version + "\n") << pin.package;
    }
    EXPECT_GT(pins, 0) << "docker/testdata.lock pins nothing";
    const auto none = flowattr::run_command({fa::test::source_dir() + "/scripts/pinned-debs.sh", "twin-version", "no-such-package:arm64"});
    ASSERT_TRUE(none.ok()) << none.err;
    EXPECT_EQ(none.out, "");
}

}  // namespace
