// `kmatrix exec` on real kernels, driven from the host as a user would: one command in every
// VM, its exit, output and timeout per kernel in the exit code, exec.json and JUnit; bad
// input refused before any VM boots. Label `matrix` (src/matrix/CMakeLists.txt); skips,
// saying why, without QEMU or without the 6.1 and 5.10 kernels.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <regex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/file.h"
#include "common/subprocess.h"
#include "kmatrix_host_test.h"

namespace {

class KmatrixExec : public fa::test::KmatrixHostTest {
protected:
    void SetUp() override { set_up("kmatrix-exec"); }
    // kmatrix exec on KERNELS with EXTRA options before `--` and COMMAND after it.
    flowattr::RunResult exec(const std::string& kernels, const std::vector<std::string>& extra,
                             const std::vector<std::string>& command, const flowattr::RunOptions& options = {}) {
        std::vector<std::string> argv = {kmatrix_, "exec", "--kernels", flowattr::env_or("KERNELS", ""), "--only", kernels, "-j2",
                                         "--artifacts", flowattr::env_or("ARTIFACTS", ""), "--out", dir_->path() + "/out",
                                         "--json", dir_->path() + "/exec.json"};
        argv.insert(argv.end(), extra.begin(), extra.end());
        argv.push_back("--");
        argv.insert(argv.end(), command.begin(), command.end());
        return flowattr::run_command(argv, options);
    }
    nlohmann::json kernel(const nlohmann::json& doc, const std::string& name) {
        for (const auto& k : doc["kernels"])
            if (k["name"] == name) return k;
        ADD_FAILURE() << "no kernel " << name << " in " << doc.dump();
        return {};
    }
    // Skips when a kernel could not be fetched here (no network to its source).
    bool all_ran(const nlohmann::json& doc) {
        for (const auto& k : doc["kernels"])
            if (k["outcome"] == "unavailable") return false;
        return true;
    }
};

TEST_F(KmatrixExec, ExitAndOutputPerKernelWithTheArgvExact) {
    // A script brought along with --file, found through PATH=/exec, its arguments kept
    // exactly (one holds a space and a quote: no shell string is ever built from them).
    std::string script = dir_->path() + "/which-kernel";
    flowattr::write_file_atomic(script,
                                "#!/bin/sh\nfor a in \"$@\"; do echo \"arg<$a>\"; done\n"
                                "test -d /sys/fs/bpf && echo bpffs\n"
                                "case $(uname -r) in 5.10.*) echo old; exit 3;; esac\necho new\n");
    ::chmod(script.c_str(), 0755);
    auto r = exec("6.1,5.10", {"--file", script}, {"which-kernel", "a b", "it's"});
    auto doc = nlohmann::json::parse(flowattr::read_file(dir_->path() + "/exec.json"));
    if (!all_ran(doc)) GTEST_SKIP() << "6.1 or 5.10 unavailable here: " << doc.dump();
    EXPECT_EQ(r.exit_code, 10) << r.out << r.err;  // test-fail: 5.10 exited 3
    EXPECT_EQ(doc["command"], nlohmann::json({"which-kernel", "a b", "it's"}));
    auto old = kernel(doc, "5.10"), cur = kernel(doc, "6.1");
    EXPECT_EQ(old["outcome"], "test-fail");
    EXPECT_EQ(old["exit_code"], 3);
    EXPECT_EQ(old["output"], "arg<a b>\narg<it's>\nbpffs\nold\n");
    EXPECT_EQ(cur["outcome"], "pass");
    EXPECT_EQ(cur["exit_code"], 0);
    EXPECT_EQ(cur["output"], "arg<a b>\narg<it's>\nbpffs\nnew\n");
    EXPECT_NE(r.out.find("=== 5.10 ("), std::string::npos) << r.out;
    std::string junit = flowattr::read_file(dir_->path() + "/out/5.10/junit.xml");
    EXPECT_NE(junit.find("failures=\"1\""), std::string::npos) << junit;
    EXPECT_NE(junit.find("<system-out>arg&lt;a b&gt;"), std::string::npos) << junit;
    EXPECT_NE(flowattr::read_file(dir_->path() + "/out/6.1/junit.xml").find("failures=\"0\""), std::string::npos);
}

// Debian's own dynamically linked tools, nobody here wrote them, brought along with this
// machine's loader and libraries: libbpf-tools' tcpconnect, the amd64 build on x86_64 kernels
// and the arm64 build (its libraries from this machine's multiarch directories) on aarch64
// ones, traces busybox nc's connection; bpftool shows the kprobes it attached, the arm64
// build with the one library this machine's :arm64 packages lack (libcap2) found through the
// caller's LD_LIBRARY_PATH, as `make repro … SHELL=1` brings it.
TEST_F(KmatrixExec, DynamicallyLinkedDebianToolsRunWithTheHostsLibraries) {
    const std::string testdata = flowattr::env_or("FLOWATTR_CACHE", flowattr::env_or("HOME", "") + "/.cache/flowattr") + "/testdata";
    const std::string arm64 = testdata + "/libbpf-tools_arm64/usr/sbin/tcpconnect";
    const std::string arm64_bpftool = testdata + "/bpftool_arm64/usr/sbin/bpftool";
    const std::string arm64_libcap = testdata + "/libcap2_arm64/lib/aarch64-linux-gnu";
    for (const std::string tool : {"/usr/sbin/tcpconnect", "/usr/sbin/bpftool", arm64.c_str(), arm64_bpftool.c_str()})
        if (::access(tool.c_str(), X_OK) != 0)
            GTEST_SKIP() << tool << " is not there (libbpf-tools, bpftool and the arm64 test data: make deps)";
    // A second after the connection before SIGINT: tcpconnect's output is block-buffered in its
    // file until it exits, so nothing shows when it has read the event (its perf buffer is polled
    // every 100 ms).
    std::string script = dir_->path() + "/trace-nc";
    flowattr::write_file_atomic(script,
                                "tcpconnect > /tmp/tcpconnect.out 2>&1 & traced=$!\n"
                                "i=0; until [ \"$(ls -l /proc/$traced/fd 2>/dev/null | grep -c 'perf_event\\|bpf_link')\" -ge 4 ]; do\n"
                                "  i=$((i+1)); [ $i -lt 600 ] || { echo not attached; cat /tmp/tcpconnect.out; exit 1; }; sleep 0.1\n"
                                "done\n"
                                "echo \"kprobes $(bpftool perf show | grep -c 'func tcp_v')\"\n"
                                "nc -l -p 8080 > /dev/null &\n"
                                "sleep 0.3; echo hi | nc 127.0.0.1 8080; sleep 1\n"
                                "kill -INT $traced; wait $traced; echo \"tcpconnect exit $?\"\n"
                                "cat /tmp/tcpconnect.out\n");
    flowattr::RunOptions library_path;
    library_path.env = {"LD_LIBRARY_PATH=" + arm64_libcap};
    auto r = exec("6.1,5.10,6.1-arm64",
                  {"--file", "/usr/sbin/tcpconnect", "--file", arm64, "--file", "/usr/sbin/bpftool", "--file", arm64_bpftool,
                   "--file", script},
                  {"sh", "trace-nc"}, library_path);
    auto doc = nlohmann::json::parse(flowattr::read_file(dir_->path() + "/exec.json"));
    if (!all_ran(doc)) GTEST_SKIP() << "6.1, 5.10 or 6.1-arm64 unavailable here: " << doc.dump();
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    EXPECT_NE(r.err.find("kmatrix exec: /usr/sbin/tcpconnect is dynamically linked: bringing this machine's /lib64/"),
              std::string::npos)
        << r.err;
    EXPECT_NE(r.err.find("kmatrix exec: " + arm64 + " is dynamically linked: bringing this machine's /lib/ld-linux-aarch64.so.1"),
              std::string::npos)
        << r.err;
    EXPECT_EQ(r.err.find("no aarch64 build of"), std::string::npos) << r.err;
    ASSERT_EQ(doc["files"].size(), 5u) << doc["files"].dump();
    EXPECT_EQ(doc["files"][1]["path"], arm64);
    EXPECT_EQ(doc["files"][1]["arch"], "aarch64");
    EXPECT_EQ(doc["files"][1]["libraries"][0], "/lib/ld-linux-aarch64.so.1") << doc["files"][1].dump();
    EXPECT_EQ(doc["files"][3]["arch"], "aarch64");
    const auto& libraries = doc["files"][3]["libraries"];
    EXPECT_NE(std::find(libraries.begin(), libraries.end(), arm64_libcap + "/libcap.so.2"), libraries.end()) << libraries.dump();
    EXPECT_EQ(doc["files"][4]["arch"], nullptr);  // the script
    for (const char* name : {"6.1", "5.10", "6.1-arm64"}) {
        const std::string out = kernel(doc, name)["output"];
        EXPECT_EQ(out.rfind("kprobes 4\ntcpconnect exit 0\n", 0), 0u) << name << ": " << out;
        EXPECT_TRUE(std::regex_search(out, std::regex(R"(\n\d+ +nc +4 +127\.0\.0\.1 +127\.0\.0\.1 +8080 *\n)")))
            << name << ": " << out;
    }
}

// A library the host finds through the caller's LD_LIBRARY_PATH (here a copy of libc beside
// the test) comes along, and the guest's loader, which has no ld.so.cache, finds it there:
// the only libc in the VM is that copy.
TEST_F(KmatrixExec, ALibraryFromTheCallersLibraryPathIsFoundInTheVm) {
    if (::access("/bin/ls", X_OK) != 0) GTEST_SKIP() << "no /bin/ls";
    std::string libc;
    for (const char* dir : {"/lib/x86_64-linux-gnu", "/lib/aarch64-linux-gnu", "/lib64", "/lib"})
        if (libc.empty() && ::access((std::string(dir) + "/libc.so.6").c_str(), R_OK) == 0) libc = std::string(dir) + "/libc.so.6";
    if (libc.empty()) GTEST_SKIP() << "no libc.so.6 in the usual places";
    const std::string libs = dir_->path() + "/libs";
    ASSERT_EQ(::mkdir(libs.c_str(), 0755), 0);
    flowattr::write_file_atomic(libs + "/libc.so.6", flowattr::read_file(libc));
    flowattr::RunOptions with_path;
    with_path.env = {"LD_LIBRARY_PATH=" + libs};
    auto r = exec("6.1", {"--file", "/bin/ls"}, {"sh", "-c", "/exec/ls --version | head -1; /exec/ls /; echo \"$LD_LIBRARY_PATH\""}, with_path);
    auto doc = nlohmann::json::parse(flowattr::read_file(dir_->path() + "/exec.json"));
    if (!all_ran(doc)) GTEST_SKIP() << "6.1 unavailable here";
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    const std::string out = kernel(doc, "6.1")["output"];
    EXPECT_EQ(out.rfind("ls (GNU coreutils)", 0), 0u) << out;
    EXPECT_NE(out.find("\nexec\n"), std::string::npos) << out;
    EXPECT_NE(out.find(":" + libs + "\n"), std::string::npos) << out;
}

// An executable goes to its own architecture's kernels, so both builds of one tool share a
// name; a script goes everywhere; a tool with no build for an architecture is said missing.
TEST_F(KmatrixExec, EachArchitectureGetsItsOwnBuildOfATool) {
    const std::string artifacts = flowattr::env_or("ARTIFACTS", "");
    const std::string x86 = artifacts + "/tests/kernel/flowattr_kernel_tests",
                      arm = artifacts + "/aarch64/tests/kernel/flowattr_kernel_tests";
    for (const auto& f : {x86, arm})
        if (::access(f.c_str(), X_OK) != 0) GTEST_SKIP() << f << " is not built";
    std::string script = dir_->path() + "/which-build";
    flowattr::write_file_atomic(script, "uname -m; flowattr_kernel_tests --gtest_list_tests > /dev/null && echo ran\n"
                                        "command -v bpftool || echo no bpftool\n");
    std::vector<std::string> files = {"--file", x86, "--file", arm, "--file", script};
    if (::access("/usr/sbin/bpftool", X_OK) == 0) files.insert(files.end(), {"--file", "/usr/sbin/bpftool"});
    auto r = exec("6.1,6.1-arm64", files, {"sh", "which-build"});
    auto doc = nlohmann::json::parse(flowattr::read_file(dir_->path() + "/exec.json"));
    if (!all_ran(doc)) GTEST_SKIP() << "6.1 or 6.1-arm64 unavailable here: " << doc.dump();
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    const bool bpftool = files.size() == 8;
    EXPECT_EQ(kernel(doc, "6.1")["output"], std::string("x86_64\nran\n") + (bpftool ? "/exec/bpftool\n" : "no bpftool\n"));
    EXPECT_EQ(kernel(doc, "6.1-arm64")["output"], "aarch64\nran\nno bpftool\n");
    if (bpftool) {
        EXPECT_NE(r.err.find("no aarch64 build of bpftool given: the aarch64 kernels have no /exec/bpftool"), std::string::npos)
            << r.err;
    }
}

TEST_F(KmatrixExec, ACommandPastItsLimitIsATimeout) {
    auto r = exec("6.1", {"--timeout", "3"}, {"sleep", "600"});
    auto doc = nlohmann::json::parse(flowattr::read_file(dir_->path() + "/exec.json"));
    if (!all_ran(doc)) GTEST_SKIP() << "6.1 unavailable here";
    EXPECT_EQ(r.exit_code, 15) << r.out << r.err;
    auto k = kernel(doc, "6.1");
    EXPECT_EQ(k["outcome"], "timeout");
    EXPECT_EQ(k["timed_out"], true);
    EXPECT_LT(k["seconds"].get<double>(), 60.0);
}

TEST_F(KmatrixExec, BadInputIsRefusedBeforeAnyVmBoots) {
    // A dynamically linked executable of the other architecture naming this machine's loader
    // (the host's /bin/ls with its e_machine changed): no loader of its own to bring.
    std::string foreign = flowattr::read_file("/bin/ls");
    foreign[18] = char(foreign[18] == 62 ? 183 : 62);
    flowattr::write_file_atomic(dir_->path() + "/ls", foreign);
    auto r = exec("6.1", {"--file", dir_->path() + "/ls"}, {"ls"});
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_NE(r.err.find(", which this machine does not have (Debian: the libc6:"), std::string::npos) << r.err;
    r = exec("6.1", {"--file", dir_->path() + "/missing"}, {"missing"});
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_NE(r.err.find("not a readable regular file"), std::string::npos) << r.err;
    r = flowattr::run_command({kmatrix_, "exec", "--kernels", flowattr::env_or("KERNELS", ""), "--only", "6.1"});
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_NE(r.err.find("which command?"), std::string::npos) << r.err;
    r = flowattr::run_command({kmatrix_, "exec", "--kernels", flowattr::env_or("KERNELS", ""), "--no-such-flag", "--", "true"});
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_NE(r.err.find("kmatrix exec: The following argument was not expected: --no-such-flag"), std::string::npos) << r.err;
    EXPECT_NE(::access((dir_->path() + "/out").c_str(), F_OK), 0) << "a VM booted for bad input";
}

// x86_64 kernels boot at their PVH entry, unpacked on the host (6.1's payload is lz4, 6.12's
// zstd): the guest's boot parameters carry the protocol version the kernel's PVH entry code
// writes (2.12), not the 2.15 of the bzImage header QEMU would have copied.
TEST_F(KmatrixExec, X86KernelsStartAtTheirPvhEntry) {
    auto r = exec("6.1,6.12", {}, {"od", "-An", "-tx1", "-j", "518", "-N", "2", "/sys/kernel/boot_params/data"});
    auto doc = nlohmann::json::parse(flowattr::read_file(dir_->path() + "/exec.json"));
    if (!all_ran(doc)) GTEST_SKIP() << "6.1 or 6.12 unavailable here: " << doc.dump();
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    for (const char* name : {"6.1", "6.12"}) EXPECT_EQ(kernel(doc, name)["output"], " 0c 02\n") << name;
    auto results = nlohmann::json::parse(flowattr::read_file(dir_->path() + "/out/results.json"));
    // Why TCG (where KVM does not serve) is a sentence of the report's first paragraph.
    const std::string note = results.value("accel_note", "");
    if (!note.empty()) {
        EXPECT_TRUE(std::isupper(static_cast<unsigned char>(note[0]))) << note;
        EXPECT_NE(flowattr::read_file(dir_->path() + "/out/index.html").find(". " + note.substr(0, note.find(' ')) + " "), std::string::npos);
    }
    for (const auto& [name, compression] : {std::pair{"6.1", "lz4"}, std::pair{"6.12", "zstd"}}) {
        auto k = kernel(results, name);
        EXPECT_EQ(k["boot"], std::string("pvh: vmlinux, the ") + compression + " payload of vmlinuz");
        EXPECT_NE(k["qemu_command"].get<std::string>().find("/vmlinux -initrd"), std::string::npos) << k["qemu_command"];
    }
}

// Inside, the VM has loopback and nothing else: no way out to the network.
TEST_F(KmatrixExec, TheVmHasNoNetworkButLoopback) {
    auto r = exec("6.1", {}, {"ls", "/sys/class/net"});
    auto doc = nlohmann::json::parse(flowattr::read_file(dir_->path() + "/exec.json"));
    if (!all_ran(doc)) GTEST_SKIP() << "the 6.1 kernel is not obtainable here";
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    EXPECT_EQ(kernel(doc, "6.1")["output"], "lo\n") << doc.dump();
}

}  // namespace
