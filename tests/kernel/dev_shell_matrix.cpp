// `make shell` used the way a person uses it: the tools under their usual names, files made
// inside owned by the caller, the exit status of `make shell CMD=...` passed on, an
// interactive shell driven through tmux (send-keys / capture-pane) down to a shell in a VM
// (`kmatrix repro 6.1 --shell --file /usr/sbin/bpftool`), and the daily loop (flowattr verify, kmatrix run --only 6.1)
// from inside. Everything runs as a user who ran `sudo make shell` (uid 65534 through
// SUDO_UID), with the kernel cache `make matrix` fills, as root, on this machine. The
// binaries and objects are this build's (the tree is mounted at its host path). Label
// `matrix`: it builds the builder image when needed and boots a kernel; needs root and Docker
// (set up by the project's script).
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "common/env.h"
#include "common/file.h"
#include "common/subprocess.h"

namespace {

namespace fs = std::filesystem;

const std::string kSource = flowattr::env_or("FLOWATTR_SOURCE", "");
const std::string kBuild = flowattr::env_or("FLOWATTR_BUILD", "");

class DevShell : public ::testing::Test {
protected:
    void SetUp() override {
        ASSERT_FALSE(kSource.empty() || kBuild.empty()) << "FLOWATTR_SOURCE and FLOWATTR_BUILD name the trees";
        if (geteuid() != 0) GTEST_SKIP() << "needs root (Docker)";
        if (kBuild.rfind(kSource + "/", 0) != 0) GTEST_SKIP() << "the build tree " << kBuild << " is not inside the source tree the shell mounts";
        ASSERT_TRUE(flowattr::run_command({kSource + "/scripts/docker-engine.sh"}).ok()) << "no Docker engine";
        // What `make matrix` leaves on the machine: the kernel in root's cache.
        flowattr::RunOptions fetch;
        fetch.cwd = kSource;
        fetch.timeout = std::chrono::minutes(10);
        auto fetched = flowattr::run_command({kBuild + "/src/cli/kmatrix", "fetch", "6.1"}, fetch);
        ASSERT_TRUE(fetched.ok()) << fetched.err;
        scratch_ = std::make_unique<flowattr::TempDir>("dev-shell");
        fs::permissions(scratch_->path(), fs::perms::others_exec, fs::perm_options::add);
        // A scratch directory inside the mounted tree, writable by anyone, and a path to it
        // another user can walk, as in a tree of the user's own (a CI clone may sit in a
        // 0700 directory): search permission added where missing, taken back afterwards.
        work_ = kBuild + "/dev-shell-test." + std::to_string(getpid());
        fs::create_directories(work_);
        fs::permissions(work_, fs::perms::all);
        for (fs::path p = fs::path(work_).parent_path(); p != p.root_path(); p = p.parent_path())
            if ((fs::status(p).permissions() & fs::perms::others_exec) == fs::perms::none) {
                fs::permissions(p, fs::perms::others_exec, fs::perm_options::add);
                opened_.push_back(p);
            }
    }
    void TearDown() override {
        // A test stopped half-way leaves nothing running: not the tmux server, not a shell's
        // container (a detached terminal does not end it), nor its VM.
        if (scratch_) flowattr::run_command({"tmux", "-S", scratch_->path() + "/tmux.sock", "kill-server"});
        remove_containers("label=flowattr.shell=65534");
        remove_containers("label=devcontainer.local_folder=" + kSource);
        std::error_code ec;
        if (!work_.empty()) fs::remove_all(work_, ec);
        for (const auto& p : opened_) fs::permissions(p, fs::perms::others_exec, fs::perm_options::remove, ec);
    }

    // Removes the containers the filter names, and the images the Dev Containers CLI made for them.
    static void remove_containers(const std::string& filter) {
        auto left = flowattr::run_command({"docker", "ps", "-a", "--filter", filter, "--format", "{{.ID}} {{.Image}}"});
        std::istringstream lines(left.out);
        for (std::string id, image; lines >> id >> image;) {
            flowattr::run_command({"docker", "rm", "-f", id});
            if (image.rfind("vsc-", 0) == 0) flowattr::run_command({"docker", "rmi", image});
        }
    }

    flowattr::RunResult shell(const std::vector<std::string>& args, std::vector<std::string> env = {}) {
        flowattr::RunOptions o;
        o.cwd = kSource;
        o.timeout = std::chrono::minutes(15);
        o.env = std::move(env);
        std::vector<std::string> argv = {kSource + "/scripts/docker-shell.sh"};
        argv.insert(argv.end(), args.begin(), args.end());
        return flowattr::run_command(argv, o);
    }

    std::unique_ptr<flowattr::TempDir> scratch_;
    std::string work_;
    std::vector<fs::path> opened_;
};

TEST_F(DevShell, ToolsAnswerUnderTheirUsualNames) {
    const std::string obj = kBuild + "/bpf/flow.bpf.o";
    ASSERT_TRUE(fs::exists(obj)) << obj;
    auto r = shell({"--command",
                    "for t in clang llc llvm-objdump llvm-strip bpftool gdb strace git jq tmux less nano cmake make g++-12; do"
                    "  command -v $t >/dev/null || echo \"missing: $t\"; done;"
                    "clang --version | head -1; llc --version | grep -i 'llvm version';"
                    "llvm-objdump -d " + obj + " | grep 'file format';"
                    "bpftool btf dump file " + obj + " | grep -c '^\\['; echo '{\"ok\":1}' | jq .ok"});
    ASSERT_TRUE(r.ok()) << r.status_text() << "\n" << r.out << r.err;
    EXPECT_EQ(r.out.find("missing:"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("clang version 14."), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("LLVM version 14."), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("file format elf64-bpf"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("\n1\n"), std::string::npos) << "jq: " << r.out;
}

// An editor on the host reads the builder build's compile_commands.json: every path in it
// names a file of this tree at its host path, and the file is the caller's. The generated
// sources (the BPF objects' bytes, bpf/split_skeleton.cmake) are in the build directory and
// exist once it is built; this test only configures it.
TEST_F(DevShell, BuilderBuildCompileCommandsHoldHostPaths) {
    const std::string dir = work_ + "/build-docker";
    auto r = shell({"--command", "cmake -S " + kSource + " -B " + dir + " >/dev/null"}, {"SUDO_UID=65534", "SUDO_GID=65534"});
    ASSERT_TRUE(r.ok()) << r.status_text() << "\n" << r.out << r.err;
    const std::string path = dir + "/compile_commands.json";
    struct stat st {};
    ASSERT_EQ(stat(path.c_str(), &st), 0) << path;
    EXPECT_EQ(st.st_uid, 65534u);
    const auto commands = nlohmann::json::parse(flowattr::read_file(path));
    ASSERT_GT(commands.size(), 50u);
    for (const auto& c : commands) {
        const std::string file = c.at("file");
        EXPECT_EQ(file.rfind(kSource + "/", 0), 0u) << file;
        if (file.rfind(dir + "/", 0) != 0) EXPECT_TRUE(fs::exists(file)) << file;
        EXPECT_EQ(c.at("directory").get<std::string>().rfind(dir, 0), 0u) << c.dump();
    }
}

// A file made inside is the caller's, their name and home resolve, and the command's exit
// status comes back; --root gives root, with what `bpftool prog` needs.
TEST_F(DevShell, FilesBelongToTheCallerAndTheExitStatusComesBack) {
    const std::vector<std::string> as_nobody = {"SUDO_UID=65534", "SUDO_GID=65534", "FLOWATTR_CACHE=" + scratch_->path() + "/cache"};
    auto r = shell({"--command", "id -u; id -un; test -w \"$HOME\" && echo home-writable; touch " + work_ + "/made-inside; exit 7"},
                   as_nobody);
    EXPECT_EQ(r.exit_code, 7) << r.status_text() << "\n" << r.out << r.err;
    EXPECT_NE(r.out.find("65534\n"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("nobody\n"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("home-writable\n"), std::string::npos) << r.out;
    struct stat st {};
    ASSERT_EQ(stat((work_ + "/made-inside").c_str(), &st), 0);
    EXPECT_EQ(st.st_uid, 65534u);
    EXPECT_EQ(st.st_gid, 65534u);

    auto root = shell({"--root", "--command", "id -u; bpftool prog show >/dev/null && echo bpftool-prog-ok"}, as_nobody);
    ASSERT_TRUE(root.ok()) << root.err;
    EXPECT_EQ(root.out, "0\nbpftool-prog-ok\n") << root.err;

    // Through make, as the README says: CMD reaches the shell with its quotes, and a failing
    // command fails make (exit 2, make's own code) naming the command's status.
    flowattr::RunOptions o;
    o.timeout = std::chrono::minutes(5);
    o.env = as_nobody;
    auto ok = flowattr::run_command({"make", "-s", "-C", kSource, "shell", "CMD=echo \"two words\" 'and more'"}, o);
    EXPECT_TRUE(ok.ok()) << ok.out << ok.err;
    EXPECT_NE(ok.out.find("two words and more\n"), std::string::npos) << ok.out;
    auto failed = flowattr::run_command({"make", "-s", "-C", kSource, "shell", "CMD=exit 5"}, o);
    EXPECT_EQ(failed.exit_code, 2);
    EXPECT_NE(failed.err.find("Error 5"), std::string::npos) << failed.err;
}

// A person at a terminal: tmux gives the shell one, keys go in, the screen is read back; from
// the builder's shell into a VM's and out again.
TEST_F(DevShell, InteractiveShellThroughTmuxDownToAVm) {
    if (flowattr::run_command({"sh", "-c", "command -v tmux"}).exit_code != 0) GTEST_SKIP() << "no tmux";
    const std::string socket = scratch_->path() + "/tmux.sock";
    auto tmux = [&](std::vector<std::string> args) {
        args.insert(args.begin(), {"tmux", "-S", socket});
        return flowattr::run_command(args);
    };
    ASSERT_TRUE(tmux({"new-session", "-d", "-s", "dev", "-x", "160", "-y", "40", "-c", kSource, "env", "SUDO_UID=65534",
                      "SUDO_GID=65534", kSource + "/scripts/docker-shell.sh"})
                    .ok());
    // Polls the screen (the last 200 lines) for text, up to `seconds`.
    auto screen_shows = [&](const std::string& text, int seconds) {
        for (int i = 0; i < seconds * 5; i++) {
            auto pane = tmux({"capture-pane", "-p", "-t", "dev", "-S", "-200"});
            if (pane.out.find(text) != std::string::npos) return true;
            std::this_thread::sleep_for(std::chrono::milliseconds(200));
        }
        ADD_FAILURE() << "the screen never showed '" << text << "':\n" << tmux({"capture-pane", "-p", "-t", "dev", "-S", "-200"}).out;
        return false;
    };
    ASSERT_TRUE(screen_shows("(flowattr-builder)nobody@", 120));  // bash's prompt, as the caller, marked as the builder's
    tmux({"send-keys", "-t", "dev", "echo in-builder-$((6*7)) $(command -v llvm-objdump)", "Enter"});
    EXPECT_TRUE(screen_shows("in-builder-42 /usr/bin/llvm-objdump", 20));

    // The builder's own bpftool (dynamically linked, pinned) brought along into the VM.
    tmux({"send-keys", "-t", "dev", kBuild + "/src/cli/kmatrix repro 6.1 --shell --file /usr/sbin/bpftool --artifacts " + kBuild, "Enter"});
    ASSERT_TRUE(screen_shows("kmatrix: interactive shell;", 300));
    tmux({"send-keys", "-t", "dev", "echo vm-$(uname -r) btf-$(bpftool btf show | grep -c 'name .vmlinux.')", "Enter"});
    EXPECT_TRUE(screen_shows("btf-1", 60));
    EXPECT_TRUE(screen_shows("vm-6.1.", 5));
    tmux({"send-keys", "-t", "dev", "exit", "Enter"});
    EXPECT_TRUE(screen_shows("outcome: pass: interactive shell session", 60));

    tmux({"send-keys", "-t", "dev", "exit", "Enter"});
    bool ended = false;
    for (int i = 0; i < 100 && !ended; i++) {
        ended = tmux({"has-session", "-t", "dev"}).exit_code != 0;
        if (!ended) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    EXPECT_TRUE(ended) << "the shell did not end on exit";
}

// The day's loop from inside: an object verified, one kernel booted with this build.
TEST_F(DevShell, VerifyAndOneKernelFromInside) {
    auto r = shell({"--command", kBuild + "/src/cli/flowattr verify " + kBuild + "/bpf/flow.bpf.o && " + kBuild +
                                     "/src/cli/kmatrix run --only 6.1 -j 1 --artifacts " + kBuild + " --out " + work_ + "/matrix"},
                   {"SUDO_UID=65534", "SUDO_GID=65534"});
    EXPECT_TRUE(r.ok()) << r.status_text() << "\n" << r.out << r.err;
    const auto results = nlohmann::json::parse(flowattr::read_file(work_ + "/matrix/results.json"));
    ASSERT_EQ(results["kernels"].size(), 1u);
    EXPECT_EQ(results["kernels"][0]["outcome"], "pass") << results["kernels"][0].dump();
}

}  // namespace

namespace {

// What an editor does with .devcontainer/devcontainer.json, done by the Dev Containers CLI
// (the reference implementation; ci/devcontainer-cli.lock): `up` runs the initializeCommand
// (make docker-image) and starts the builder as user dev with the tree at its host path,
// `exec` finds the tools and this build's compile_commands.json there.
TEST_F(DevShell, DevcontainerOpensWithTheDevContainersCli) {
    const std::string cli = kBuild + "/devcontainer-cli/node_modules/@devcontainers/cli/devcontainer.js";
    if (!fs::exists(cli)) GTEST_SKIP() << "no Dev Containers CLI at " << cli << " (make deps installs it: ci/devcontainer-cli.lock)";
    flowattr::RunOptions o;
    o.cwd = kSource;
    o.timeout = std::chrono::minutes(15);
    auto up = flowattr::run_command({"node", cli, "up", "--workspace-folder", kSource, "--log-format", "json"}, o);
    ASSERT_TRUE(up.ok()) << up.status_text() << "\n" << up.out << up.err;
    // stdout's last line is the result: {"outcome":"success","containerId":...,"remoteUser":...}
    const std::string last = up.out.substr(up.out.rfind('\n', up.out.size() - 2) + 1);
    const auto result = nlohmann::json::parse(last);
    EXPECT_EQ(result.at("outcome"), "success") << last;
    EXPECT_EQ(result.at("remoteUser"), "dev") << last;
    EXPECT_EQ(result.at("remoteWorkspaceFolder"), kSource) << last;

    auto in = flowattr::run_command({"node", cli, "exec", "--workspace-folder", kSource, "sh", "-c",
                                     "id -un; pwd; for t in clang llvm-objdump bpftool cmake; do command -v $t; done; echo $CXX; test -r " + kBuild +
                                         "/compile_commands.json && echo compile-commands-readable"},
                                    o);
    ASSERT_TRUE(in.ok()) << in.status_text() << "\n" << in.out << in.err;
    EXPECT_EQ(in.out, "dev\n" + kSource + "\n/usr/bin/clang\n/usr/bin/llvm-objdump\n/usr/sbin/bpftool\n/usr/bin/cmake\ng++-12\n"
                      "compile-commands-readable\n");
}

}  // namespace
