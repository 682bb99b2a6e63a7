// ci/matrix.yml's kernel job, run here the way a runner runs it, against the saved builder
// image: the build job's "Save the builder image" step writes builder.tar.zst; the builder's
// tag is then removed; the kernel job's "Restore ... load the builder image" step loads it
// back, its "Run" step boots one kernel (6.1) through scripts/docker-kmatrix.sh inside that
// image, and its "Step summary" step appends the report. Each step's script is read from the
// YAML, `${{ matrix.kernel }}` replaced, and run with `bash -e` as Actions does, with the
// workflow's env; `sudo` is a pass-through (root here). out/ holds this build's static
// binaries in docker-build's layout, without exec bits (artifacts drop them). Not run:
// checkout, artifact and cache actions, and the /dev/kvm udev rule (runner-only steps).
// Label `matrix`; needs root and Docker (set up by the project's script).
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "../unit/ci_workflow_yaml.h"
#include "common/env.h"
#include "common/file.h"
#include "common/subprocess.h"

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const std::string kSource = flowattr::env_or("FLOWATTR_SOURCE", "");
const std::string kBuild = flowattr::env_or("FLOWATTR_BUILD", "");
const std::string kKernel = "6.1";

// The `run:` script of the step of JOB whose name starts with NAME.
std::string step_script(const json& workflow, const std::string& job, const std::string& name) {
    for (const auto& step : workflow["jobs"][job]["steps"])
        if (step.contains("name") && step["name"].get<std::string>().rfind(name, 0) == 0 && step.contains("run"))
            return step["run"].get<std::string>();
    ADD_FAILURE() << "no step '" << name << "...' with a run script in job " << job;
    return "false";
}

std::string replace_all(std::string text, const std::string& from, const std::string& to) {
    for (std::size_t at = 0; (at = text.find(from, at)) != std::string::npos; at += to.size()) text.replace(at, from.size(), to);
    return text;
}

class CiKernelJob : public ::testing::Test {
protected:
    void SetUp() override {
        ASSERT_FALSE(kSource.empty() || kBuild.empty()) << "FLOWATTR_SOURCE and FLOWATTR_BUILD name the trees";
        if (geteuid() != 0) GTEST_SKIP() << "needs root (Docker)";
        std::string why;
        workflow_ = fa::test::workflow_as_json(kSource + "/ci/matrix.yml", why);
        if (!why.empty()) GTEST_SKIP() << why;
        ASSERT_TRUE(workflow_.is_object());
        ASSERT_TRUE(flowattr::run_command({kSource + "/scripts/docker-engine.sh"}).ok()) << "no Docker engine";

        // A checkout: the tree's scripts, locks, workflow and kernels.txt.
        top_ = std::make_unique<flowattr::TempDir>("ci-kernel-job");
        for (const char* part : {"scripts", "docker", "ci"})
            fs::copy(kSource + "/" + part, top_->path() + "/" + part, fs::copy_options::recursive);
        fs::copy(kSource + "/kernels.txt", top_->path() + "/kernels.txt");
        // The `out` artifact as the kernel job downloads it: docker-build's layout, modes lost.
        fs::create_directories(top_->path() + "/out");
        fs::create_directories(top_->path() + "/out/aarch64");
        for (const char* path : {"src/cli/flowattr", "src/cli/kmatrix", "src/cli/kmatrix_init", "tests/kernel/flowattr_kernel_tests",
                                 "aarch64/src/cli/flowattr", "aarch64/src/cli/kmatrix_init", "aarch64/tests/kernel/flowattr_kernel_tests"}) {
            const std::string arch = std::string(path).rfind("aarch64/", 0) == 0 ? "aarch64/" : "";
            const std::string to = top_->path() + "/out/" + arch + fs::path(path).filename().string();
            fs::copy(kBuild + "/" + path, to);
            fs::permissions(to, fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read | fs::perms::others_read);
        }
        // The runner's sudo, where this test already runs as root: options dropped, VAR=value kept.
        fs::create_directories(top_->path() + "/bin");
        flowattr::write_file_atomic(top_->path() + "/bin/sudo",
                                    "#!/bin/sh\nwhile [ $# -gt 0 ]; do case $1 in -*) shift ;; *) break ;; esac; done\nexec env \"$@\"\n");
        fs::permissions(top_->path() + "/bin/sudo", fs::perms::owner_all);
        summary_ = top_->path() + "/step-summary.md";
    }

    // Runs one step's script as Actions does (bash -e, the workflow's env, GITHUB_* files).
    flowattr::RunResult run_step(const std::string& script) {
        flowattr::RunOptions o;
        o.cwd = top_->path();
        o.timeout = std::chrono::minutes(20);
        o.env = {"PATH=" + top_->path() + "/bin:" + flowattr::env_or("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
                 "GITHUB_STEP_SUMMARY=" + summary_, "GITHUB_OUTPUT=" + top_->path() + "/github-output"};
        for (const auto& [key, value] : workflow_["env"].items()) o.env.push_back(key + "=" + value.get<std::string>());
        return flowattr::run_command({"bash", "-e", "-c", replace_all(script, "${{ matrix.kernel }}", kKernel)}, o);
    }

    json workflow_;
    std::unique_ptr<flowattr::TempDir> top_;
    std::string summary_;
};

TEST_F(CiKernelJob, SavedBuilderImageLoadsAndBootsOneKernelAsTheWorkflowSaysTo) {
    // The build job saves the base and builder images.
    auto save = run_step(step_script(workflow_, "build", "Save the builder image"));
    ASSERT_TRUE(save.ok()) << save.status_text() << "\n" << save.err;
    ASSERT_GT(fs::file_size(top_->path() + "/builder.tar.zst"), 1u << 20);
    auto image = flowattr::run_command({top_->path() + "/scripts/docker-image.sh"});
    ASSERT_TRUE(image.ok()) << image.err;
    const std::string builder = image.out.substr(0, image.out.find('\n'));

    // A kernel job's runner has no builder until it loads the artifact: every tag removed.
    ASSERT_TRUE(flowattr::run_command({"docker", "rmi", builder, "flowattr-builder:latest"}).ok());
    auto load = run_step(step_script(workflow_, "kernel", "Restore executable bits"));
    ASSERT_TRUE(load.ok()) << load.status_text() << "\n" << load.err;
    ASSERT_TRUE(flowattr::run_command({"docker", "image", "inspect", builder}).ok()) << "the load did not bring back " << builder;
    for (const char* name : {"kmatrix", "kmatrix_init", "aarch64/kmatrix_init", "aarch64/flowattr"})
        EXPECT_EQ(access((top_->path() + "/out/" + name).c_str(), X_OK), 0) << "exec bits not restored on " << name;

    auto run = run_step(step_script(workflow_, "kernel", "Run "));
    EXPECT_TRUE(run.ok()) << run.status_text() << "\n" << run.out << run.err;
    EXPECT_EQ(run.err.find("docker-image: building"), std::string::npos) << "the builder was rebuilt, not loaded:\n" << run.err;
    const json results = json::parse(flowattr::read_file(top_->path() + "/out/matrix/results.json"));
    ASSERT_EQ(results["kernels"].size(), 1u) << results.dump();
    EXPECT_EQ(results["kernels"][0]["name"], kKernel);
    EXPECT_EQ(results["kernels"][0]["outcome"], "pass") << results["kernels"][0].dump();
    EXPECT_TRUE(fs::exists(top_->path() + "/out/matrix/" + kKernel + "/junit.xml"));

    auto summary = run_step(step_script(workflow_, "kernel", "Step summary"));
    ASSERT_TRUE(summary.ok()) << summary.err;
    EXPECT_NE(flowattr::read_file(summary_).find(kKernel), std::string::npos);
}

}  // namespace
