// One usage exit code across kmatrix's commands, the same as flowattr's: bad input exits 2,
// saying what is wrong, before anything is fetched or booted.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "build_tree.h"
#include "common/file.h"
#include "matrix/initramfs.h"
#include "matrix/kmatrix_cli.h"

namespace {

int kmatrix(std::vector<std::string> args, std::string* err) {
    args.insert(args.begin(), "kmatrix");
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    testing::internal::CaptureStderr();
    testing::internal::CaptureStdout();
    const int rc = flowattr::matrix::run_kmatrix_cli(int(args.size()), argv.data());
    testing::internal::GetCapturedStdout();
    *err = testing::internal::GetCapturedStderr();
    return rc;
}

TEST(KmatrixUsage, EveryCommandExitsTwoOnBadInput) {
    const std::string kernels = fa::test::source_dir() + "/kernels.txt";
    const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
        {{}, "Usage: kmatrix [OPTIONS] [SUBCOMMAND]"},
        {{"frobnicate"}, "unknown command 'frobnicate'"},
        {{"run", "--accel", "xyz"}, "--accel: xyz: expected auto, kvm or tcg"},
        {{"run", "-j0"}, "--jobs: 0: expected a positive number"},
        {{"run", "--only"}, "--only: 1 required NAME,... missing"},
        {{"repro", "6.1", "--object", "x.o", "--test", "t"}, "excludes"},
        {{"lab", "--expect", "e.txt"}, "--fixtures is required"},
        {{"list", "--offline"}, "--offline"},
        {{"run", "--bogus"}, "--bogus"},
        {{"run", "--kernels", kernels, "--only", "no-such-kernel"}, "no-such-kernel"},
        {{"run", "--kernels", "/nonexistent/kernels.txt"}, "/nonexistent/kernels.txt"},
        // Outside the source tree there is no ./kernels.txt: the message says where a list comes from.
        {{"list", "--kernels", "/nonexistent/kernels.txt"}, "no kernel list at /nonexistent/kernels.txt: give one with --kernels FILE or $FLOWATTR_KERNELS"},
        {{"repro", "6.1", "--kernels", "/nonexistent/kernels.txt"}, "give one with --kernels FILE"},
        {{"repro", "--kernels", kernels}, "which kernel?"},
        {{"repro", "no-such-kernel", "--kernels", kernels}, "no kernel named 'no-such-kernel'"},
        {{"repro", "6.1", "--bogus"}, "--bogus"},
        {{"check", "--kernels", kernels}, "kmatrix check: OBJECT is required (kmatrix check --help shows the usage)"},
        {{"exec", "--bogus"}, "--bogus"},
        {{"lab", "--fixtures", "d", "--expect", "e.txt", "--bogus"}, "not expected: --bogus"},
        {{"fetch", "--bogus"}, "--bogus"},
        {{"run", "--arch", "arm64"}, "--arch: 'arm64': expected x86_64 or aarch64"},
        {{"check", "--kernels", kernels, "--section-type", "lb", "x.o"}, "--section-type lb: want SECTION=AS"},
        {{"check", "--kernels", kernels, "--section-type", "lb=sockt", "x.o"},
         "libbpf has no program type for section 'sockt'"},
        {{"check", "--kernels", kernels, "--section-type", "a,b=socket", "x.o"},
         "--section-type a,b=socket: the kernel command line cannot carry it"},
        {{"repro", "6.1", "--kernels", kernels, "--section-type", "lb=socket"}, "--section-type requires --object"},
    };
    for (const auto& [args, says] : cases) {
        std::string err;
        std::string line = "kmatrix";
        for (const auto& a : args) line += " " + a;
        EXPECT_EQ(kmatrix(args, &err), 2) << line << "\n" << err;
        EXPECT_NE(err.find(says), std::string::npos) << line << " does not say '" << says << "':\n" << err;
    }
}

// --arch keeps one architecture's kernels; the others are not run and not reported.
TEST(KmatrixArch, ArchSelectsTheKernelsOfOneArchitecture) {
    flowattr::TempDir dir("kmatrix-arch");
    flowattr::write_file_atomic(dir.path() + "/kernels.txt", "a 1 none - - x86_64\nb 1 none - - aarch64\nc 1 none - - aarch64\n");
    std::string err;
    kmatrix({"run", "--kernels", dir.path() + "/kernels.txt", "--arch", "aarch64", "--out", dir.path() + "/out", "--artifacts",
             fa::test::build_dir()},
            &err);
    const auto j = nlohmann::json::parse(flowattr::read_file(dir.path() + "/out/results.json"));
    ASSERT_EQ(j["kernels"].size(), 2u) << j.dump();
    for (const auto& k : j["kernels"]) EXPECT_EQ(k["arch"], "aarch64") << k.dump();
    EXPECT_EQ(j["kernels"][0]["name"], "b");
}

// An executable's embedded objects were compiled for its architecture: `kmatrix check` gives it
// only to that architecture's kernels, and says which kernels it skips; a .bpf.o goes to all.
TEST(KmatrixCheck, AnExecutableIsCheckedOnlyOnItsOwnArchitecture) {
    flowattr::TempDir dir("kmatrix-check-arch");
    const std::string x86_only = fa::test::build_dir() + "/src/cli/flowattr";  // static, embeds the agent's objects
    ASSERT_EQ(flowattr::matrix::elf_arch(x86_only), flowattr::matrix::Arch::x86_64);
    flowattr::write_file_atomic(dir.path() + "/arm.txt", "b 1 none - - aarch64\n");
    std::string err;
    // Not under --artifacts, so no aarch64 twin stands in for it.
    EXPECT_EQ(kmatrix({"check", "--kernels", dir.path() + "/arm.txt", "--out", dir.path() + "/out1", x86_only}, &err), 2)
        << err;
    EXPECT_NE(err.find("no file is built for aarch64"), std::string::npos) << err;
    EXPECT_NE(err.find("nothing to check on b"), std::string::npos) << err;

    flowattr::write_file_atomic(dir.path() + "/both.txt", "a 1 none - - x86_64\nb 1 none - - aarch64\n");
    kmatrix({"check", "--kernels", dir.path() + "/both.txt", "--out", dir.path() + "/out2", x86_only}, &err);
    EXPECT_NE(err.find("skipping b"), std::string::npos) << err;
    auto j = nlohmann::json::parse(flowattr::read_file(dir.path() + "/out2/results.json"));
    ASSERT_EQ(j["kernels"].size(), 1u) << j.dump();
    EXPECT_EQ(j["kernels"][0]["name"], "a");

    const std::string object = fa::test::build_dir() + "/bpf/noop.bpf.o";
    kmatrix({"check", "--kernels", dir.path() + "/both.txt", "--out", dir.path() + "/out3", object}, &err);
    EXPECT_EQ(err.find("skipping"), std::string::npos) << err;
    j = nlohmann::json::parse(flowattr::read_file(dir.path() + "/out3/results.json"));
    EXPECT_EQ(j["kernels"].size(), 2u) << j.dump();
}

// A --section-type whose section no program of the objects is in is refused before any VM
// boots, as `flowattr check` refuses it.
TEST(KmatrixCheck, SectionTypeNoProgramIsInIsRefused) {
    flowattr::TempDir dir("kmatrix-check-section-type");
    flowattr::write_file_atomic(dir.path() + "/k.txt", "a 1 none - - x86_64\n");
    const std::string object = fa::test::build_dir() + "/bpf/noop.bpf.o";
    std::string err;
    EXPECT_EQ(kmatrix({"check", "--kernels", dir.path() + "/k.txt", "--out", dir.path() + "/out", "--section-type",
                       "lb=socket", object},
                      &err),
              2);
    EXPECT_EQ(err, "kmatrix check: --section-type lb=socket: no program of the objects is in section 'lb'\n");
    EXPECT_FALSE(std::filesystem::exists(dir.path() + "/out/results.json"));
}

// One file given twice would be staged twice and reported under one name: refused before any
// VM boots, as `flowattr check` refuses it.
TEST(KmatrixCheck, OneFileGivenTwiceIsRefused) {
    flowattr::TempDir dir("kmatrix-check-twice");
    flowattr::write_file_atomic(dir.path() + "/k.txt", "a 1 none - - x86_64\n");
    const std::string object = fa::test::build_dir() + "/bpf/noop.bpf.o";
    const std::string again = fa::test::build_dir() + "/bpf/../bpf/noop.bpf.o";
    std::string err;
    EXPECT_EQ(kmatrix({"check", "--kernels", dir.path() + "/k.txt", "--out", dir.path() + "/out", object, again}, &err),
              2);
    EXPECT_EQ(err, "kmatrix check: " + again + ": the same file as " + object + ", given twice\n");
    EXPECT_FALSE(std::filesystem::exists(dir.path() + "/out/results.json"));
}

}  // namespace
