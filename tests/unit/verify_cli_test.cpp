// `flowattr verify` as run_verify_cli runs it: exit codes, human and JSON output, the
// stale-embed check, --expect and --kernels.
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "build_tree.h"
#include "agent/embedded_objects.h"
#include "common/file.h"
#include "common/sha256.h"
#include "verify/stale_embed.h"
#include "verify_btf_cases.h"
#include "verify/verify_cli.h"

namespace flowattr::verify {
namespace {

struct CliRun {
    int status;
    std::string out, err;
};

CliRun run(const std::vector<std::string>& args, const KernelListReader& reader = nullptr) {
    std::ostringstream out, err;
    const int status = run_verify_cli(args, out, err, reader);
    return {status, out.str(), err.str()};
}

std::string built_bpf_dir() { return fa::test::build_dir() + "/bpf"; }

using flowattr::TempDir;

// Every hand-built BTF fixture, wrapped in a BPF object and given to `flowattr verify`:
// exit 1, and the kernel's own wording in the report. One is repaired by libbpf's open before
// the kernel sees it (DATASEC entries sorted by offset): as an object, it passes, with the
// fix-up reported. Extern FUNCs and VARs are repaired only when the ELF has their symbols
// (LibbpfFixups.KconfigAndKsymExterns); these objects have none, so the kernel rejects them.
TEST(VerifyCli, EveryBtfFixtureFailsWithTheKernelsWording) {
    const std::set<std::string> repaired_by_libbpf = {"datasec_unsorted"};
    TempDir dir;
    int checked = 0;
    for (const auto& c : testing::btf_cases()) {
        if (c.expected.empty()) continue;
        testing::ElfBuilder b;
        b.section("tc", std::string(16, '\0'), true);
        b.section("license", std::string("GPL\0", 4));
        b.section(".BTF", c.blob);
        b.symbol({"prog", "tc", 0, 2, 1, 16});
        if (repaired_by_libbpf.count(c.name)) {  // the .data its two variables live in
            b.section(".data", std::string(8, '\0'));
            b.symbol({"a", ".data", 0, 1, 1, 4});
            b.symbol({"b", ".data", 4, 1, 1, 4});
        }
        const std::string path = dir.path() + "/" + c.name + ".bpf.o";
        flowattr::write_file_atomic(path, b.build());
        if (repaired_by_libbpf.count(c.name)) {
            const CliRun j = run({"--json", path});
            EXPECT_EQ(j.status, 0) << c.name << "\n" << j.out << j.err;
            EXPECT_FALSE(nlohmann::json::parse(j.out)["objects"][0]["libbpf_fixups"].empty()) << c.name << "\n" << j.out;
            continue;
        }
        const CliRun r = run({path});
        EXPECT_EQ(r.status, 1) << c.name << "\n" << r.out << r.err;
        std::istringstream lines(c.expected);
        std::string line;
        while (std::getline(lines, line))
            EXPECT_NE(r.out.find(line), std::string::npos) << c.name << ": no \"" << line << "\" in\n" << r.out;
        // The kernel refusing an object's BTF is the cause table's btf-rejected, offline too.
        const CliRun j = run({"--json", path});
        const auto doc = nlohmann::json::parse(j.out);
        bool named = false;
        for (const auto& f : doc["findings"])
            named = named || (f["check"] == "btf" && f["class"] == "btf-rejected");
        EXPECT_TRUE(named) << c.name << "\n" << j.out;
        checked++;
    }
    EXPECT_GT(checked, 60);
}

TEST(VerifyCli, EmbeddedObjectsAreClean) {
    const CliRun r = run({});
    EXPECT_EQ(r.status, 0) << r.out << r.err;
    for (const auto& o : agent::embedded_objects()) EXPECT_NE(r.out.find("embedded:" + o.name), std::string::npos);
    EXPECT_NE(r.out.find("no findings"), std::string::npos);
}

TEST(VerifyCli, UsageErrors) {
    EXPECT_EQ(run({"--bogus"}).status, 2);
    EXPECT_EQ(run({"--against"}).status, 2);
    const CliRun kernels = run({"--kernels", "kernels.txt"});
    EXPECT_EQ(kernels.status, 2);
    EXPECT_NE(kernels.err.find("no kernels.txt reader"), std::string::npos);
    EXPECT_EQ(run({"--expect", "/nonexistent/expectations.txt"}).status, 2);
    EXPECT_EQ(run({"--help"}).status, 0);
}

TEST(VerifyCli, NonBpfFileIsAFinding) {
    const CliRun r = run({"/proc/self/exe"});
    EXPECT_EQ(r.status, 1);
    EXPECT_NE(r.out.find("[elf] /proc/self/exe: e_machine at offset 0x12 is 62"), std::string::npos) << r.out;
}

TEST(VerifyCli, JsonOutput) {
    const CliRun r = run({"--json", built_bpf_dir() + "/flow.bpf.o"});
    EXPECT_EQ(r.status, 0) << r.out;
    const auto doc = nlohmann::json::parse(r.out);
    EXPECT_TRUE(doc["ok"].get<bool>());
    ASSERT_EQ(doc["objects"].size(), 1u);
    const auto& flow = doc["objects"][0];
    EXPECT_EQ(flow["name"], "flow");
    EXPECT_EQ(flow["sha256"], flowattr::sha256_file(built_bpf_dir() + "/flow.bpf.o"));
    EXPECT_EQ(flow["license"], "GPL");
    bool saw_tcx = false;
    for (const auto& p : flow["programs"])
        if (p["section"] == "tcx/ingress") {
            saw_tcx = true;
            EXPECT_EQ(p["prog_type"], "sched_cls");
            EXPECT_EQ(p["expected_attach_type"], "tcx_ingress");
        }
    EXPECT_TRUE(saw_tcx);
    EXPECT_FALSE(flow["maps"].empty());
}

TEST(VerifyCli, ExpectationsFromTheSourceTree) {
    const CliRun r = run({"--expect", fa::test::source_dir() + "/bpf/expectations.txt"});
    EXPECT_EQ(r.status, 0) << r.out << r.err;
}

TEST(VerifyCli, WrongExpectationIsAFinding) {
    TempDir dir;
    const std::string exp = dir.path() + "/expectations.txt";
    std::ofstream(exp) << "flow fa_tc_ingress tc sched_cls none link 5.10\n";
    const CliRun r = run({"--expect", exp, built_bpf_dir() + "/flow.bpf.o"});
    EXPECT_EQ(r.status, 1);
    EXPECT_NE(r.out.find("leaves expected_attach_type 0"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("program fa_tcx_ingress (section \"tcx/ingress\") has no expectations line"), std::string::npos);
}

TEST(VerifyCli, KernelListThroughTheReader) {
    const KernelListReader reader = [](const std::string& path) {
        EXPECT_EQ(path, "kernels.txt");
        return KernelList{{"debian-4.19", "4.19.0"}, {"debian-6.1", "6.1.176"}};
    };
    const CliRun r = run({"--kernels", "kernels.txt", built_bpf_dir() + "/flow.bpf.o"}, reader);
    EXPECT_EQ(r.status, 1) << r.out;  // flowattr's BTF uses global functions and DATASEC (5.6)
    EXPECT_NE(r.out.find("kernel debian-4.19 (4.19.0) answers BPF_BTF_LOAD with"), std::string::npos) << r.out;
    EXPECT_EQ(r.out.find("debian-6.1"), std::string::npos);
}

TEST(VerifyCli, AgainstFreshBuildIsClean) {
    const CliRun r = run({"--against", built_bpf_dir()});
    EXPECT_EQ(r.status, 0) << r.out;
}

TEST(VerifyCli, StaleEmbedNamesBothDigests) {
    TempDir dir;
    const auto& objects = agent::embedded_objects();
    ASSERT_FALSE(objects.empty());
    for (const auto& o : objects)
        std::ofstream(dir.path() + "/" + o.name + ".bpf.o", std::ios::binary)
            .write(static_cast<const char*>(o.data), std::streamsize(o.size));
    const auto& changed = objects.front();
    std::string bytes(static_cast<const char*>(changed.data), changed.size);
    bytes.back() ^= 1;
    std::ofstream(dir.path() + "/" + changed.name + ".bpf.o", std::ios::binary) << bytes;

    const CliRun r = run({"--against", dir.path()});
    EXPECT_EQ(r.status, 1);
    const std::string embedded_sha = flowattr::sha256_hex(changed.data, changed.size);
    EXPECT_NE(r.out.find("[embed] (stale-embed) embedded object " + changed.name + " is stale: embedded sha256 " + embedded_sha +
                         ", " + dir.path() + "/" + changed.name + ".bpf.o sha256 " + flowattr::sha256_hex(bytes)),
              std::string::npos)
        << r.out;
}

TEST(StaleEmbed, MissingBuiltObject) {
    const std::string data = "abc";
    const auto findings = check_embedded_against({{"ghost", data}}, "/nonexistent");
    ASSERT_EQ(findings.size(), 1u);
    EXPECT_NE(findings[0].message.find("has no built /nonexistent/ghost.bpf.o"), std::string::npos);
}

}  // namespace
}  // namespace flowattr::verify
