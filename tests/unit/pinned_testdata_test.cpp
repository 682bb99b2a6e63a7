// `scripts/pinned-debs.sh testdata` (what `make deps` runs for docker/testdata.lock) against a
// local mirror on loopback that serves the pinned .debs' own bytes, taken from the machine's
// cache: a .deb with other bytes is refused and nothing is unpacked from it; the right ones are
// unpacked (the arm64 libbpf-tools, aarch64 executables); a second run asks the mirror for nothing.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

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

std::vector<TestdataPin> testdata_pins() {
    std::ifstream in(fa::test::source_dir() + "/docker/testdata.lock");
    std::vector<TestdataPin> pins;
    for (std::string line; std::getline(in, line);) {
        if (line.empty() || line[0] == '#') continue;
        std::istringstream words(line);
        TestdataPin pin;
        words >> pin.package >> pin.version >> pin.sha256 >> pin.path;
        pins.push_back(pin);
    }
    return pins;
}

class PinnedTestdata : public testing::Test {
protected:
    void SetUp() override {
        pins_ = testdata_pins();
        ASSERT_FALSE(pins_.empty()) << "docker/testdata.lock names no .deb";
        const std::string cache =
            flowattr::env_or("FLOWATTR_CACHE", flowattr::env_or("HOME", "/root") + "/.cache/flowattr");
        for (const auto& pin : pins_) {
            const std::string deb = cache + "/debs/" + pin.sha256 + ".deb";
            if (!fs::exists(deb)) GTEST_SKIP() << "no " << deb << " to serve (make deps fetches it)";
            bytes_["/" + pin.path] = flowattr::read_file(deb);
        }
    }

    // The mirror serves every pin's .deb; with `tampered`, the first pin's with one bit flipped.
    flowattr::RunResult testdata(bool tampered) {
        flowattr::test::LoopbackHttpServer mirror([&](const std::string& path, flowattr::test::LoopbackHttpServer::Conn& conn) {
            requests_++;
            const auto deb = bytes_.find(path);
            if (deb == bytes_.end()) return conn.send_response(404, "", "Not Found");
            std::string body = deb->second;
            if (tampered && path == "/" + pins_.front().path) body[body.size() / 2] ^= 1;
            conn.send_response(200, body);
        });
        flowattr::RunOptions options;
        options.env = {"FLOWATTR_CACHE=" + cache_.path(), "FLOWATTR_DEBIAN_MIRROR=" + mirror.url("")};
        options.timeout = std::chrono::minutes(2);
        return flowattr::run_command({fa::test::source_dir() + "/scripts/pinned-debs.sh", "testdata"}, options);
    }

    std::string unpacked(const TestdataPin& pin) const {
        std::string dir = pin.package;
        std::replace(dir.begin(), dir.end(), ':', '_');
        return cache_.path() + "/testdata/" + dir;
    }

    std::vector<TestdataPin> pins_;
    std::map<std::string, std::string> bytes_;  // the mirror's path -> the pinned .deb
    flowattr::TempDir cache_{"pinned-testdata"};
    std::atomic<int> requests_{0};
};

TEST_F(PinnedTestdata, OtherBytesAreRefusedThePinnedOnesUnpackedOnce) {
    const TestdataPin& first = pins_.front();
    ASSERT_EQ(first.package, "libbpf-tools:arm64");
    auto refused = testdata(true);
    EXPECT_NE(refused.exit_code, 0) << refused.err;
    EXPECT_NE(refused.err.find("docker/testdata.lock pins " + first.sha256), std::string::npos) << refused.err;
    EXPECT_NE(refused.err.find("refused"), std::string::npos) << refused.err;
    EXPECT_FALSE(fs::exists(unpacked(first))) << "nothing is unpacked from a refused .deb";

    auto fetched = testdata(false);
    ASSERT_TRUE(fetched.ok()) << fetched.err;
    EXPECT_EQ(flowattr::matrix::elf_arch(unpacked(first) + "/usr/sbin/biotop"), flowattr::matrix::Arch::aarch64);
    for (const auto& pin : pins_) EXPECT_EQ(flowattr::read_file(unpacked(pin) + "/.sha256"), pin.sha256 + "\n") << pin.package;

    requests_ = 0;
    auto again = testdata(false);
    ASSERT_TRUE(again.ok()) << again.err;
    EXPECT_EQ(requests_.load(), 0) << "the cached .debs, already unpacked, need nothing from the mirror";
}

// Test data is the same objects as a package the builder installs, built for another
// architecture: its pin follows that package's version in docker/packages.lock (or, for a
// dependency of the builder such as libcap2, docker/rootfs.lock), which
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
