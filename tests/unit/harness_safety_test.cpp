// The harness never hands a string to a shell and never writes through a name someone else
// could have prepared: kernels.txt fields full of shell syntax reach their programs as one
// argument each and run nothing; temporary files and directories get unguessable names and
// refuse a planted symlink.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <regex>
#include <string>
#include <vector>

#include "build_tree.h"
#include "common/file.h"
#include "common/subprocess.h"
#include "loopback_http_server.h"
#include "matrix/qemu_runner.h"

namespace fs = std::filesystem;

namespace {

// Every way a C++ program can end up in /bin/sh -c: none may appear in the product. (The
// guest's /init execs an interactive /bin/sh for `repro --shell`, with no command string.)
TEST(NoShellString, ProductSourcesStartNoShellCommand) {
    const std::regex shell_call(R"(\b(system|popen|execl|execlp|execle)\s*\([^;]*"-c")"
                                R"(|\b(system|popen)\s*\()"
                                R"(|"(/bin/)?(ba)?sh"\s*,\s*"-c")");
    int files = 0;
    for (const auto& entry : fs::recursive_directory_iterator(fa::test::source_dir() + "/src")) {
        const auto ext = entry.path().extension();
        if (ext != ".cpp" && ext != ".h") continue;
        files++;
        const std::string text = flowattr::read_file(entry.path().string());
        std::smatch m;
        EXPECT_FALSE(std::regex_search(text, m, shell_call)) << entry.path() << ": " << m.str();
    }
    EXPECT_GT(files, 50) << "did the source tree move?";
}

// A shell would run these: each field below, were it ever pasted into `sh -c`, creates a file.
class KernelsTxtShellSyntax : public ::testing::Test {
protected:
    void SetUp() override { dir_ = std::make_unique<flowattr::TempDir>("shell-syntax"); }
    std::string canary(int n) const { return dir_->path() + "/ran" + std::to_string(n); }
    std::unique_ptr<flowattr::TempDir> dir_;
};

TEST_F(KernelsTxtShellSyntax, FetchPassesEveryFieldAsOneArgumentAndRunsNothing) {
    std::vector<std::string> paths;
    flowattr::test::LoopbackHttpServer server([&](const std::string& path, flowattr::test::LoopbackHttpServer::Conn& conn) {
        paths.push_back(path);
        conn.send_response(404, "", "Not Found");
    });
    const std::string zeros(64, '0');
    const std::string list =
        "a 6.1 \"file:x;touch " + canary(1) + "\" " + zeros + " - x86_64\n" +
        // ${IFS}: a shell would still run these, and libcurl takes the URL (it refuses spaces).
        "b 6.1 \"url:" + server.url("/k$(touch${IFS}" + canary(2) + ")`touch${IFS}" + canary(3) + "`") + "\" " + zeros + " - x86_64\n" +
        "c 6.1 \"url:https://127.0.0.1:1/k;touch " + canary(4) + "\" " + zeros + " - x86_64\n" +
        "d 6.1 \"file:$(touch " + canary(5) + ")\" " + zeros + " \"quiet;touch " + canary(6) + "\" x86_64\n";
    flowattr::write_file_atomic(dir_->path() + "/kernels.txt", list);

    flowattr::RunOptions options;
    options.env = {"FLOWATTR_CACHE=" + dir_->path() + "/cache"};
    options.timeout = std::chrono::seconds(60);
    auto r = flowattr::run_command({fa::test::build_dir() + "/src/cli/kmatrix", "fetch", "--kernels",
                                    dir_->path() + "/kernels.txt"},
                                   options);
    server.stop();
    // Every kernel unavailable (nothing there to fetch), each named with its field intact.
    EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
    EXPECT_NE(r.out.find("x;touch " + canary(1)), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("$(touch " + canary(5) + ")"), std::string::npos) << r.out;
    for (int n = 1; n <= 6; n++) EXPECT_FALSE(fs::exists(canary(n))) << "a shell ran field " << n;
    // The http request carried the path as written.
    ASSERT_EQ(paths.size(), 1u);
    EXPECT_NE(paths[0].find("touch"), std::string::npos) << paths[0];
}

TEST_F(KernelsTxtShellSyntax, CmdlineReachesQemuAsOneArgument) {
    const std::string field = "quiet;touch " + canary(1) + " $(id) `id`";
    flowattr::matrix::QemuConfig cfg;
    cfg.kernel = dir_->path() + "/vmlinuz";
    cfg.initrd = dir_->path() + "/initramfs.cpio";
    cfg.append = flowattr::matrix::kernel_cmdline(flowattr::matrix::Arch::x86_64, field, "kmatrix.mode=suite", "");
    cfg.console_log = dir_->path() + "/console.log";
    cfg.results = dir_->path() + "/results.jsonl";
    cfg.qemu_log = dir_->path() + "/qemu.log";
    const auto argv = flowattr::matrix::build_qemu_argv(cfg);
    auto append = std::find(argv.begin(), argv.end(), "-append");
    ASSERT_NE(append, argv.end());
    ASSERT_NE(append + 1, argv.end());
    EXPECT_NE((append + 1)->find(field), std::string::npos) << *(append + 1);
    EXPECT_EQ(std::count_if(argv.begin(), argv.end(), [&](const std::string& a) { return a.find("touch") != std::string::npos; }), 1);
}

TEST(TempFiles, TempDirIsPrivateAndUnguessable) {
    flowattr::TempDir parent("tempfiles");
    setenv("TMPDIR", parent.path().c_str(), 1);
    flowattr::TempDir a("x"), b("x");
    unsetenv("TMPDIR");
    EXPECT_NE(a.path(), b.path());
    for (const auto* d : {&a, &b}) {
        struct stat st {};
        ASSERT_EQ(lstat(d->path().c_str(), &st), 0);
        EXPECT_TRUE(S_ISDIR(st.st_mode)) << d->path();
        EXPECT_EQ(st.st_mode & 0777, 0700u) << d->path();
        EXPECT_EQ(st.st_uid, geteuid());
        EXPECT_EQ(d->path().rfind(parent.path() + "/x.", 0), 0u) << d->path();
    }
}

// write_file_atomic's temporary file: a symlink planted at the old fixed name (PATH.tmp.PID)
// is neither followed nor removed, and nothing but the result is left behind.
TEST(TempFiles, AtomicWriteIgnoresAPlantedSymlinkAndLeavesOnlyTheResult) {
    flowattr::TempDir dir("atomic");
    const std::string victim = dir.path() + "/victim";
    flowattr::write_file_atomic(victim, "untouched");
    const std::string out = dir.path() + "/report.json";
    const std::string planted = out + ".tmp." + std::to_string(getpid());
    fs::create_symlink(victim, planted);

    flowattr::write_file_atomic(out, "{}");
    EXPECT_EQ(flowattr::read_file(out), "{}");
    EXPECT_EQ(flowattr::read_file(victim), "untouched");
    EXPECT_TRUE(fs::is_symlink(planted));
    struct stat st {};
    ASSERT_EQ(stat(out.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0644u);
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(dir.path())) names.push_back(e.path().filename().string());
    std::sort(names.begin(), names.end());
    EXPECT_EQ(names, (std::vector<std::string>{"report.json", "report.json.tmp." + std::to_string(getpid()), "victim"}));
}

}  // namespace
