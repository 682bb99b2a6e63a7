// A stale embedded object must be impossible: in a scratch copy of the tree, edit a BPF
// source, rebuild with the normal command, and the binary must carry the new object; the
// binary from before the edit, checked against the fresh objects, must fail naming the
// object and both hashes. Builds only the `flowattr` target (about two minutes on two
// cores), so the docker build's quick unit pass leaves it out (scripts/docker-inside.sh).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "build_tree.h"
#include "common/file.h"
#include "common/subprocess.h"
#include "common/sha256.h"

namespace {

using flowattr::RunResult;

RunResult run(const std::vector<std::string>& argv) {
    flowattr::RunOptions o;
    o.timeout = std::chrono::minutes(15);
    return flowattr::run_command(argv, o);
}

std::string embedded_sha(const std::string& flowattr_bin, const std::string& object) {
    const RunResult r = run({flowattr_bin, "verify", "--json"});
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    const nlohmann::json doc = nlohmann::json::parse(r.out);
    for (const auto& o : doc.at("objects"))
        if (o.at("source") == "embedded:" + object) return o.at("sha256");
    ADD_FAILURE() << "no embedded " << object << " in " << r.out;
    return {};
}

TEST(StaleEmbedBuild, EditedBpfSourceIsReembeddedAndTheOldBinaryIsCaught) {
    flowattr::TempDir scratch("flowattr-stale-embed");
    const std::string src = scratch.path() + "/src", build = scratch.path() + "/build";
    const RunResult mk = run({"mkdir", "-p", src});
    ASSERT_EQ(mk.exit_code, 0) << mk.err;
    std::vector<std::string> copy = {"cp", "-a"};
    for (const char* part : {"CMakeLists.txt", "kernels.txt", "bpf", "src", "tests", "bench"})
        copy.push_back(fa::test::source_dir() + "/" + part);
    copy.push_back(src);
    const RunResult cp = run(copy);
    ASSERT_EQ(cp.exit_code, 0) << cp.err;

    // The normal commands, as `make` runs them.
    const std::vector<std::string> configure = {"cmake", "-S", src, "-B", build, "-DCMAKE_BUILD_TYPE=RelWithDebInfo"};
    const std::vector<std::string> rebuild = {"cmake", "--build", build, "--target", "flowattr", "-j2"};
    const RunResult c = run(configure);
    ASSERT_EQ(c.exit_code, 0) << c.out << c.err;
    RunResult b = run(rebuild);
    ASSERT_EQ(b.exit_code, 0) << b.out << b.err;
    const std::string bin = build + "/src/cli/flowattr", old_bin = scratch.path() + "/flowattr.before-edit";
    const std::string before = embedded_sha(bin, "noop");
    ASSERT_EQ(run({"cp", bin, old_bin}).exit_code, 0);

    // A real change to the program, not a comment.
    const std::string source = src + "/bpf/noop.bpf.c";
    std::string text = flowattr::read_file(source);
    const std::string from = "return 0; /* TC_ACT_OK; TCX_PASS on a TCX link */";
    ASSERT_NE(text.find(from), std::string::npos) << "bpf/noop.bpf.c changed: update this test";
    text.replace(text.find(from), from.size(), "return -1; /* TC_ACT_UNSPEC */");
    flowattr::write_file_atomic(source, text);

    b = run(rebuild);
    ASSERT_EQ(b.exit_code, 0) << b.out << b.err;
    const std::string after = embedded_sha(bin, "noop");
    EXPECT_NE(after, before) << "the plain rebuild kept the old noop object";
    EXPECT_EQ(after, flowattr::sha256_file(build + "/bpf/noop.bpf.o"));

    const RunResult stale = run({old_bin, "verify", "--against", build + "/bpf"});
    EXPECT_NE(stale.exit_code, 0) << "a binary built before the edit passed verify --against the new objects";
    const std::string said = stale.out + stale.err;
    EXPECT_NE(said.find("noop"), std::string::npos) << said;
    EXPECT_NE(said.find(before), std::string::npos) << "the embedded hash is not named: " << said;
    EXPECT_NE(said.find(after), std::string::npos) << "the fresh object's hash is not named: " << said;
}

}  // namespace
