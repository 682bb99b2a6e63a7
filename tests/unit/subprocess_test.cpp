#include <gtest/gtest.h>
#include <unistd.h>

#include <utility>

#include "common/error.h"
#include "common/file.h"
#include "common/subprocess.h"

namespace {

using flowattr::run_command;
using flowattr::RunOptions;

TEST(Subprocess, CapturesStdoutStderrAndExitCode) {
    auto r = run_command({"sh", "-c", "echo out; echo err >&2; exit 3"});
    EXPECT_EQ(r.exit_code, 3);
    EXPECT_EQ(r.out, "out\n");
    EXPECT_EQ(r.err, "err\n");
    EXPECT_FALSE(r.ok());
    EXPECT_EQ(r.status_text(), "exited with status 3");
}

TEST(Subprocess, ArgumentsAreNotInterpretedByAShell) {
    auto r = run_command({"printf", "%s|", "a b", "$HOME", "*"});
    EXPECT_TRUE(r.ok());
    EXPECT_EQ(r.out, "a b|$HOME|*|");
}

TEST(Subprocess, FeedsStdinAndSurvivesAChildThatIgnoresIt) {
    RunOptions o;
    o.stdin_data = "hello\n";
    EXPECT_EQ(run_command({"cat"}, o).out, "hello\n");
    o.stdin_data = std::string(4 << 20, 'x');  // more than a pipe buffer: the child never reads it
    auto r = run_command({"true"}, o);
    EXPECT_TRUE(r.ok());
}

TEST(Subprocess, MissingProgramThrowsWithErrno) {
    try {
        run_command({"/nonexistent/flowattr-no-such-program"});
        FAIL() << "expected an Error";
    } catch (const flowattr::Error& e) {
        EXPECT_EQ(e.err(), ENOENT);
        EXPECT_NE(std::string(e.what()).find("flowattr-no-such-program"), std::string::npos);
    }
}

TEST(Subprocess, TimeoutKillsTheWholeProcessGroup) {
    RunOptions o;
    o.timeout = std::chrono::milliseconds(300);
    // The grandchild sleep keeps stdout open: without killing the group we would wait 30 s.
    auto r = run_command({"sh", "-c", "sleep 30 & sleep 30"}, o);
    EXPECT_TRUE(r.timed_out);
    EXPECT_FALSE(r.ok());
    EXPECT_LT(r.elapsed.count(), 5000);
}

TEST(Subprocess, TimeoutDoesNotHangOnADescendantThatLeftTheGroup) {
    RunOptions o;
    o.timeout = std::chrono::milliseconds(200);
    // setsid moves the sleeper out of the process group, so the kill misses it while it keeps
    // stdout open; the runner must give up on the pipe after its grace period.
    auto r = run_command({"sh", "-c", "setsid sleep 3 & sleep 30"}, o);
    EXPECT_TRUE(r.timed_out);
    EXPECT_LT(r.elapsed.count(), 2900);  // less than the escaped sleeper lives
}

// A child that runs steps, each within the limit, lives as long as each step starts over the
// timeout (kmatrix's /init and a batch of kernel tests); the step that then overruns is killed.
TEST(Subprocess, TimeoutStartsOverWhenTheCallerSaysANewStepBegan) {
    RunOptions o;
    o.timeout = std::chrono::milliseconds(1000);
    bool began = false;
    int steps = 0;
    o.on_stdout = [&](const std::string& chunk) {
        for (char c : chunk)
            if (c == '\n') {
                began = true;
                steps++;
            }
    };
    o.restart_timeout = [&] { return std::exchange(began, false); };
    // Three steps of 0.6 s (1.8 s in all, past the limit), then one that hangs.
    const std::vector<std::string> child = {"sh", "-c", "for i in 1 2 3; do echo step; sleep 0.6; done; echo last; sleep 30"};
    auto r = run_command(child, o);
    EXPECT_TRUE(r.timed_out);
    EXPECT_EQ(steps, 4) << "killed before the last step began";
    EXPECT_GE(r.elapsed.count(), 1800 + 1000);
    EXPECT_LT(r.elapsed.count(), 8000);

    // Without the restarts the same child is killed in its second step.
    o.restart_timeout = nullptr;
    steps = 0;
    r = run_command(child, o);
    EXPECT_TRUE(r.timed_out);
    EXPECT_EQ(steps, 2);
}

TEST(Subprocess, StdoutToFileCwdEnvAndStreamingCallback) {
    char dir_template[] = "/tmp/flowattr-subprocess-XXXXXX";
    ASSERT_NE(mkdtemp(dir_template), nullptr);
    std::string dir = dir_template;
    RunOptions o;
    o.cwd = dir;
    o.env = {"FLOWATTR_TEST_VALUE=42"};
    o.stdout_path = dir + "/out.txt";
    std::string streamed;
    o.on_stderr = [&](const std::string& chunk) { streamed += chunk; };
    auto r = run_command({"sh", "-c", "pwd; echo $FLOWATTR_TEST_VALUE; echo progress >&2"}, o);
    EXPECT_TRUE(r.ok());
    EXPECT_EQ(r.out, "");
    EXPECT_EQ(flowattr::read_file(dir + "/out.txt"), dir + "\n42\n");
    EXPECT_EQ(streamed, "progress\n");
    unlink((dir + "/out.txt").c_str());
    rmdir(dir.c_str());
}

TEST(Subprocess, CheckCommandPutsStderrInTheErrorLog) {
    try {
        flowattr::check_command({"sh", "-c", "echo 'E: broken' >&2; exit 100"}, "apt-get download");
        FAIL() << "expected an Error";
    } catch (const flowattr::Error& e) {
        EXPECT_NE(std::string(e.what()).find("exited with status 100"), std::string::npos) << e.what();
        EXPECT_EQ(e.log(), "E: broken\n");
    }
}

}  // namespace
