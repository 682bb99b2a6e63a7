// The GitHub Actions workflows in ci/ run only on GitHub: what can be proven without a
// runner is proven here. Every workflow passes the pinned validator (ci/validator.lock,
// installed by `make deps`) and a broken one does not; the kernel matrix the workflow
// generates is kernels.txt as kmatrix reads it; the kernel job runs a script that exists
// with flags kmatrix accepts; the validator's installer refuses bytes it did not pin. Where
// node, the validator, PyYAML or curl is missing (the unit tests also run inside the builder,
// which has none of them) the tests that need it skip, saying which.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "build_tree.h"
#include "ci_workflow_yaml.h"
#include "common/error.h"
#include "common/file.h"
#include "common/subprocess.h"
#include "matrix/kernel_list.h"

namespace {

namespace fs = std::filesystem;
using flowattr::RunResult;
using fa::test::missing_program;
using fa::test::workflow_as_json;
using nlohmann::json;

std::string src() { return fa::test::source_dir(); }

std::string validator_cli() { return fa::test::build_dir() + "/ci-validator/node_modules/@action-validator/cli/cli.mjs"; }

std::string validator_missing() {
    if (::access(validator_cli().c_str(), R_OK) != 0)
        return "no workflow validator at " + validator_cli() + " (make deps installs it: scripts/npm-tarballs.sh)";
    return missing_program({"node", "--version"}, "Debian's nodejs, pinned in docker/host.lock; make deps installs it");
}

RunResult validate(const std::string& workflow) {
    flowattr::RunOptions o;
    o.timeout = std::chrono::seconds(60);
    return flowattr::run_command({"node", validator_cli(), workflow}, o);
}

// One {"kernel", "arch"} per entry: the job matrix the kernels job must output.
json kernel_jobs_by_the_parser(const std::string& kernels_txt) {
    json jobs = json::array();
    for (const auto& e : flowattr::matrix::load_kernel_list(kernels_txt))
        jobs.push_back({{"kernel", e.name}, {"arch", flowattr::matrix::arch_name(e.arch)}});
    return jobs;
}

// The words of a command as sh splits them, for the plain commands in these files: blanks
// separate, "..." and '...' group (quotes dropped), backslash-newline continues the line.
// Nothing is expanded: "$top/out" stays as written.
std::vector<std::string> shell_words(const std::string& text) {
    std::vector<std::string> words;
    std::string word;
    bool in_word = false;
    char quote = 0;
    for (std::size_t i = 0; i < text.size(); i++) {
        const char c = text[i];
        if (quote) {
            if (c == quote)
                quote = 0;
            else
                word += c;
        } else if (c == '\\' && i + 1 < text.size() && text[i + 1] == '\n') {
            i++;
        } else if (c == '"' || c == '\'') {
            quote = c;
            in_word = true;
        } else if (std::isspace(static_cast<unsigned char>(c))) {
            if (in_word) words.push_back(word);
            word.clear();
            in_word = false;
        } else {
            word += c;
            in_word = true;
        }
    }
    if (in_word) words.push_back(word);
    return words;
}

const json* step_where(const json& job, const std::string& key, const std::string& contains) {
    for (const auto& step : job.at("steps"))
        if (step.contains(key) && step.at(key).get<std::string>().find(contains) != std::string::npos) return &step;
    return nullptr;
}

int lines_in(const std::string& text) { return int(std::count(text.begin(), text.end(), '\n')); }

TEST(CiWorkflow, EveryWorkflowInCiValidates) {
    if (const std::string why = validator_missing(); !why.empty()) GTEST_SKIP() << why;
    std::vector<std::string> workflows;
    for (const auto& entry : fs::directory_iterator(src() + "/ci"))
        if (entry.path().extension() == ".yml" || entry.path().extension() == ".yaml") workflows.push_back(entry.path());
    ASSERT_FALSE(workflows.empty()) << "no workflow in " << src() << "/ci";
    for (const auto& workflow : workflows) {
        const RunResult r = validate(workflow);
        EXPECT_EQ(r.exit_code, 0) << workflow << ": " << r.status_text() << "\n" << r.err << r.out;
    }
}

// The validator can fail: ci/matrix.yml with a misspelt key, and with a job that lost its
// runs-on, is refused naming the key and the job. The unbroken copy passes from the same place.
TEST(CiWorkflow, BrokenWorkflowIsRejectedNamingTheProblem) {
    if (const std::string why = validator_missing(); !why.empty()) GTEST_SKIP() << why;
    const std::string good = flowattr::read_file(src() + "/ci/matrix.yml");
    struct Breakage {
        std::string from, to, named;
    };
    const std::vector<Breakage> breakages = {
        {"\n    steps:\n", "\n    stepz:\n", "'stepz'"},
        {"\n  kernels:\n    runs-on: ubuntu-24.04\n", "\n  kernels:\n", "/jobs/kernels/runs-on"},
    };
    flowattr::TempDir dir("ci-workflow");
    const std::string copy = dir.path() + "/matrix.yml";
    flowattr::write_file_atomic(copy, good);
    const RunResult unbroken = validate(copy);
    ASSERT_EQ(unbroken.exit_code, 0) << unbroken.err;
    for (const auto& b : breakages) {
        std::string broken = good;
        const auto at = broken.find(b.from);
        ASSERT_NE(at, std::string::npos) << "ci/matrix.yml no longer holds '" << b.from << "': update this test";
        broken.replace(at, b.from.size(), b.to);
        flowattr::write_file_atomic(copy, broken);
        const RunResult r = validate(copy);
        EXPECT_NE(r.exit_code, 0) << "accepted with '" << b.from << "' made '" << b.to << "'";
        EXPECT_NE(r.err.find(b.named), std::string::npos) << "the error does not name " << b.named << ":\n" << r.err;
    }
}

// ci/kernel-jobs.sh (the kernels job) and kmatrix's own parser read the same (kernel, arch)
// pairs, in order, from kernels.txt and from a list with every kind of line the parser skips.
TEST(CiWorkflow, JobMatrixIsTheKernelsOfKernelsTxtInOrder) {
    auto jobs_by_the_script = [](const std::string& kernels_txt) {
        const RunResult r = flowattr::run_command({src() + "/ci/kernel-jobs.sh", kernels_txt});
        EXPECT_EQ(r.exit_code, 0) << r.err;
        const json jobs = json::parse(r.out, nullptr, false);
        EXPECT_FALSE(jobs.is_discarded()) << "not JSON: " << r.out;
        return jobs;
    };
    const std::string repo_list = src() + "/kernels.txt";
    const json jobs = kernel_jobs_by_the_parser(repo_list);
    EXPECT_FALSE(jobs.empty());
    EXPECT_EQ(jobs_by_the_script(repo_list), jobs);
    EXPECT_NE(std::find(jobs.begin(), jobs.end(), json({{"kernel", "6.1-arm64"}, {"arch", "aarch64"}})), jobs.end())
        << "an arm64 kernel is its own job";

    flowattr::TempDir dir("ci-workflow");
    const std::string sha(64, 'a');
    const std::string list = dir.path() + "/kernels.txt";
    flowattr::write_file_atomic(list, "# a comment\n"
                                      "\n"
                                      "   \t \n"
                                      "  # an indented comment\n"
                                      "6.1 6.1.176 deb:linux-image-6.1.0-50-cloud-amd64=6.1.176-1 " + sha + " - x86_64  # trailing\n"
                                      "\t5.10-nolsm\t5.10.223 none - \"lsm=a,b # not a comment\" x86_64\n"
                                      "\"7.2\" 7.2.13 none - - x86_64\n"
                                      "7.2-arm64 7.2.13 none - \"a b\" \"aarch64\"\n");
    const json want = json::parse(R"([{"kernel":"6.1","arch":"x86_64"},{"kernel":"5.10-nolsm","arch":"x86_64"},)"
                                  R"({"kernel":"7.2","arch":"x86_64"},{"kernel":"7.2-arm64","arch":"aarch64"}])");
    EXPECT_EQ(kernel_jobs_by_the_parser(list), want);
    EXPECT_EQ(jobs_by_the_script(list), want);
}

// The kernel job's matrix is the kernels job's output, set by its `list` step; that step,
// run the way the runner runs it (bash -e, $GITHUB_OUTPUT a file), outputs kernels.txt's
// (kernel, arch) pairs.
TEST(CiWorkflow, KernelJobMatrixIsTheKernelsJobOutput) {
    std::string why;
    const json workflow = workflow_as_json(src() + "/ci/matrix.yml", why);
    if (!why.empty()) GTEST_SKIP() << why;
    ASSERT_TRUE(workflow.is_object());
    const json& kernels = workflow.at("jobs").at("kernels");
    const json& kernel = workflow.at("jobs").at("kernel");
    EXPECT_EQ(kernel.at("strategy").at("matrix").at("include"), "${{ fromJSON(needs.kernels.outputs.jobs) }}");
    EXPECT_NE(kernel.at("name").get<std::string>().find("${{ matrix.arch }}"), std::string::npos) << "jobs named by kernel and arch";
    const json needs = kernel.at("needs");
    EXPECT_NE(std::find(needs.begin(), needs.end(), "kernels"), needs.end()) << needs;
    EXPECT_EQ(kernels.at("outputs").at("jobs"), "${{ steps.list.outputs.jobs }}");
    const json* list = step_where(kernels, "id", "list");
    ASSERT_NE(list, nullptr) << "the kernels job has no step with id list";

    flowattr::TempDir dir("ci-workflow");
    flowattr::RunOptions o;
    o.cwd = src();
    o.env = {"GITHUB_OUTPUT=" + dir.path() + "/output"};
    const RunResult r = flowattr::run_command({"bash", "-e", "-c", list->at("run").get<std::string>()}, o);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    std::istringstream output(flowattr::read_file(dir.path() + "/output"));
    std::string line;
    json jobs;
    while (std::getline(output, line))
        if (line.rfind("jobs=", 0) == 0) jobs = json::parse(line.substr(5));
    EXPECT_EQ(jobs, kernel_jobs_by_the_parser(src() + "/kernels.txt")) << "GITHUB_OUTPUT:\n" << flowattr::read_file(dir.path() + "/output");
}

// The kernel job's Run step calls scripts/docker-kmatrix.sh --no-build run for its own kernel;
// kmatrix run accepts every flag of that command plus the ones docker-kmatrix.sh puts in
// front (kmatrix parses every option before it honours --help, so --help exits 0 only when
// all of them parse).
TEST(CiWorkflow, KernelJobRunsKmatrixWithFlagsItAccepts) {
    std::string why;
    const json workflow = workflow_as_json(src() + "/ci/matrix.yml", why);
    if (!why.empty()) GTEST_SKIP() << why;
    ASSERT_TRUE(workflow.is_object());
    const json* run = step_where(workflow.at("jobs").at("kernel"), "run", "scripts/docker-kmatrix.sh");
    ASSERT_NE(run, nullptr) << "the kernel job has no step running scripts/docker-kmatrix.sh";
    const std::vector<std::string> words = shell_words(run->at("run").get<std::string>());
    auto script = std::find(words.begin(), words.end(), "scripts/docker-kmatrix.sh");
    ASSERT_NE(script, words.end());
    const std::vector<std::string> step(script + 1, words.end());
    ASSERT_GE(step.size(), 4u) << run->at("run");
    EXPECT_EQ(step[0], "--no-build") << "the kernel job must use the build job's out/ and builder image";
    EXPECT_EQ(step[1], "run");
    const auto only = std::find(step.begin(), step.end(), "--only");
    ASSERT_NE(only, step.end());
    ASSERT_NE(only + 1, step.end());
    EXPECT_EQ(only[1], "${{ matrix.kernel }}") << "the job does not run its own kernel";

    const std::string docker_kmatrix = src() + "/scripts/docker-kmatrix.sh";
    ASSERT_EQ(::access(docker_kmatrix.c_str(), X_OK), 0) << docker_kmatrix << " is missing or not executable";
    const std::string script_text = flowattr::read_file(docker_kmatrix);
    EXPECT_NE(script_text.find("Usage: docker-kmatrix.sh [--no-build] run"), std::string::npos)
        << "docker-kmatrix.sh no longer documents --no-build run";
    // What docker-kmatrix.sh runs in the builder: out/kmatrix "$command" <its own flags> "$@".
    std::vector<std::string> added;
    std::istringstream lines(script_text);
    std::string line;
    while (std::getline(lines, line)) {
        const std::vector<std::string> w = shell_words(line);
        const auto command = std::find(w.begin(), w.end(), "$command");
        const auto rest = std::find(w.begin(), w.end(), "$@");
        if (command != w.end() && rest != w.end() && command < rest) added.assign(command + 1, rest);
    }
    ASSERT_FALSE(added.empty()) << "no out/kmatrix \"$command\" ... \"$@\" line in " << docker_kmatrix;

    const std::string first_kernel = kernel_jobs_by_the_parser(src() + "/kernels.txt").at(0).at("kernel");
    std::vector<std::string> argv = {fa::test::build_dir() + "/src/cli/kmatrix", "run"};
    for (std::string a : added) argv.push_back(a.rfind("$top", 0) == 0 ? src() + a.substr(4) : a);
    for (auto it = step.begin() + 2; it != step.end(); ++it) argv.push_back(*it == "${{ matrix.kernel }}" ? first_kernel : *it);
    argv.push_back("--help");
    flowattr::RunOptions o;
    o.cwd = src();
    const RunResult r = flowattr::run_command(argv, o);
    EXPECT_EQ(r.exit_code, 0) << flowattr::format_argv(argv) << ": " << r.status_text() << "\n" << r.err;
    EXPECT_NE(r.out.find("Usage: kmatrix run"), std::string::npos) << r.out;

    // --help does not hide a flag kmatrix refuses.
    argv.insert(argv.end() - 1, "--no-such-flag");
    const RunResult bad = flowattr::run_command(argv, o);
    EXPECT_NE(bad.exit_code, 0) << flowattr::format_argv(argv);
    EXPECT_NE(bad.err.find("--no-such-flag"), std::string::npos) << bad.err;
}

// scripts/npm-tarballs.sh against a package of our own, served by file: URL.
class CiWorkflowValidatorInstall : public ::testing::Test {
protected:
    void SetUp() override {
        if (const std::string why = missing_program({"curl", "--version"}, "pinned in docker/host.lock"); !why.empty())
            GTEST_SKIP() << why;
        ASSERT_TRUE(fs::create_directory(dir_.path() + "/pkg"));
        ASSERT_TRUE(fs::create_directory(dir_.path() + "/pkg/package"));
        flowattr::write_file_atomic(dir_.path() + "/pkg/package/package.json", kPackageJson);
        flowattr::check_command({"tar", "-czf", tarball_, "-C", dir_.path() + "/pkg", "package"}, "packing the test package");
        good_lock_ = lock("good.lock", "demo 1.0.0 file://" + tarball_ + " " + integrity_of(tarball_));
    }

    // npm's integrity of a file: "sha512-" and the digest in base64.
    std::string integrity_of(const std::string& file) {
        const std::string hex = flowattr::check_command({"sha512sum", file}, "sha512sum").out.substr(0, 128);
        std::string digest;
        for (std::size_t i = 0; i < hex.size(); i += 2) digest += char(std::stoi(hex.substr(i, 2), nullptr, 16));
        flowattr::write_file_atomic(dir_.path() + "/digest", digest);
        return "sha512-" + flowattr::check_command({"base64", "-w0", dir_.path() + "/digest"}, "base64").out;
    }

    std::string lock(const std::string& name, const std::string& pin) {
        flowattr::write_file_atomic(dir_.path() + "/" + name, "# package version url integrity\n" + pin + "\n");
        return dir_.path() + "/" + name;
    }

    RunResult install(const std::string& lock_file) {
        return flowattr::run_command({src() + "/scripts/npm-tarballs.sh", lock_file, dest_});
    }

    static constexpr const char* kPackageJson = "{\"name\": \"demo\", \"version\": \"1.0.0\"}\n";
    flowattr::TempDir dir_{"ci-validator"};
    const std::string tarball_ = dir_.path() + "/demo-1.0.0.tgz";
    const std::string dest_ = dir_.path() + "/validator";
    std::string good_lock_;
};

// A tarball whose sha512 is not the pinned one is refused in one line naming the package, and
// nothing is left: no directory on a first install, the working one kept on a refresh.
TEST_F(CiWorkflowValidatorInstall, WrongHashIsRefusedAndLeavesNothing) {
    const std::string bad_lock = lock("bad.lock", "demo 1.0.0 file://" + tarball_ + " " + integrity_of(dir_.path() + "/good.lock"));
    RunResult r = install(bad_lock);
    EXPECT_NE(r.exit_code, 0);
    EXPECT_EQ(lines_in(r.err), 1) << r.err;
    EXPECT_NE(r.err.find("demo 1.0.0"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("refused"), std::string::npos) << r.err;
    for (const auto& entry : fs::directory_iterator(dir_.path()))
        EXPECT_EQ(entry.path().filename().string().rfind("validator", 0), std::string::npos) << "left behind: " << entry.path();

    r = install(good_lock_);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    r = install(bad_lock);
    EXPECT_NE(r.exit_code, 0);
    EXPECT_EQ(flowattr::read_file(dest_ + "/node_modules/demo/package.json"), kPackageJson);
    EXPECT_EQ(flowattr::read_file(dest_ + "/installed.lock"), flowattr::read_file(good_lock_)) << "the refused lock replaced the working one";
}

// Installed once per lock: the same lock again fetches nothing (the tarball is gone by then),
// a changed lock installs again.
TEST_F(CiWorkflowValidatorInstall, SameLockInstallsOnce) {
    RunResult r = install(good_lock_);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(lines_in(r.err), 1) << r.err;
    EXPECT_EQ(r.out, "");
    EXPECT_EQ(flowattr::read_file(dest_ + "/node_modules/demo/package.json"), kPackageJson);

    fs::remove(tarball_);
    r = install(good_lock_);
    EXPECT_EQ(r.exit_code, 0) << "fetched again: " << r.err;
    EXPECT_NE(r.err.find("already"), std::string::npos) << r.err;

    r = install(lock("next.lock", "demo 1.0.1 file://" + tarball_ + " " + integrity_of(good_lock_)));
    EXPECT_NE(r.exit_code, 0) << "a changed lock was taken as installed";
    EXPECT_NE(r.err.find("cannot fetch"), std::string::npos) << r.err;
}

}  // namespace
