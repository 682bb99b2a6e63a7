// Kernel matrix benchmark: the whole matrix over the kernels reachable here, warm kernel
// cache, once with one VM at a time, once with two and once at kmatrix's default, and per kernel the three phases every
// run records (QEMU start -> /init, /init -> first test, whole VM); then the loader-failure
// lab (kmatrix lab -j2) three times, its median against its target. Figures are printed next
// to their targets and merged into OUT/results.json under "matrix" and "lab"; nothing is
// asserted.
// Usage: flowattr_matrix_bench KMATRIX KERNELS_TXT ARTIFACTS_DIR OUT_DIR
#include <sys/stat.h>

#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "common/error.h"
#include "common/file.h"
#include "common/subprocess.h"
#include "bench_support.h"

namespace {

constexpr double kTargetToFirstTestS = 2.0;
constexpr double kTargetMatrixS = 30.0;
constexpr double kTargetLabS = 60.0;
constexpr int kLabRuns = 3;

struct MatrixRun {
    int jobs = 0;
    double wall_s = 0;
    int exit_code = 0;
    nlohmann::json kernels;  // results.json "kernels"
};

// JOBS 0: kmatrix's own default (two VMs a core and one more).
std::string jobs_name(int jobs) { return jobs > 0 ? "j" + std::to_string(jobs) : "default"; }
std::string jobs_flag(int jobs) { return jobs > 0 ? "-j" + std::to_string(jobs) : "default -j (2 x cores + 1)"; }

MatrixRun run_matrix(const std::string& kmatrix, const std::string& kernels, const std::string& artifacts,
                     const std::string& out, int jobs) {
    MatrixRun r;
    r.jobs = jobs;
    const std::string dir = out + "/matrix-" + jobs_name(jobs);
    std::printf("  kmatrix run %s (reports in %s) ...\n", jobs_flag(jobs).c_str(), dir.c_str());
    std::fflush(stdout);
    std::vector<std::string> argv = {kmatrix, "run", "--offline", "--kernels", kernels, "--artifacts", artifacts, "--out", dir};
    if (jobs > 0) argv.insert(argv.end(), {"-j", std::to_string(jobs)});
    auto start = std::chrono::steady_clock::now();
    flowattr::RunResult res = flowattr::run_command(argv);
    r.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    r.exit_code = res.exit_code;
    r.kernels = nlohmann::json::parse(flowattr::read_file(dir + "/results.json")).at("kernels");
    return r;
}

// `kmatrix lab -j2` over the fixtures the build made, against the recorded grid next to
// kernels.txt; seconds of wall time, and whether the grid matched.
double run_lab(const std::string& kmatrix, const std::string& kernels, const std::string& artifacts,
               const std::string& out, int index, bool& matched) {
    std::string source = kernels.find('/') == std::string::npos ? "." : kernels.substr(0, kernels.rfind('/'));
    std::string dir = out + "/lab-" + std::to_string(index);
    std::printf("  kmatrix lab -j2, run %d of %d (reports in %s) ...\n", index, kLabRuns, dir.c_str());
    std::fflush(stdout);
    auto start = std::chrono::steady_clock::now();
    flowattr::RunResult res = flowattr::run_command(
        {kmatrix, "lab", "--offline", "-j", "2", "--kernels", kernels, "--fixtures", artifacts + "/tests/kernel/fixtures",
         "--expect", source + "/tests/kernel/fixtures/expected.txt", "--artifacts", artifacts, "--out", dir});
    matched = res.exit_code == 0;
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

double timing(const nlohmann::json& k, const char* name) { return k.at("timings").value(name, -1.0); }

}  // namespace

int main(int argc, char** argv) {
    if (argc != 5) {
        std::fprintf(stderr, "usage: flowattr_matrix_bench KMATRIX KERNELS_TXT ARTIFACTS_DIR OUT_DIR\n");
        return 2;
    }
    const std::string kmatrix = argv[1], kernels = argv[2], artifacts = argv[3], out = argv[4];
    try {
        std::printf("kernel matrix benchmark (warm cache; targets: QEMU start -> first test <= %.0f s, "
                    "whole matrix <= %.0f s)\n",
                    kTargetToFirstTestS, kTargetMatrixS);
        std::printf("  kmatrix fetch (warming the kernel cache) ...\n");
        std::fflush(stdout);
        flowattr::RunResult fetch = flowattr::run_command({kmatrix, "fetch", "--kernels", kernels});
        if (fetch.exit_code != 0) std::printf("  (fetch: %s; unreachable kernels are reported unavailable)\n",
                                              fetch.status_text().c_str());
        mkdir(out.c_str(), 0755);
        MatrixRun runs[] = {run_matrix(kmatrix, kernels, artifacts, out, 1), run_matrix(kmatrix, kernels, artifacts, out, 2),
                            run_matrix(kmatrix, kernels, artifacts, out, 0)};

        nlohmann::json j = nlohmann::json::object();
        for (const MatrixRun& r : runs) {
            int booted = 0, passed = 0;
            for (const auto& k : r.kernels) {
                if (timing(k, "vm_s") < 0) continue;
                booted++;
                passed += k.value("outcome", "") == "pass";
            }
            std::printf("  %-34s %8.1f s  %d kernels booted, %d passed, exit %d  (target <= %.0f s)\n",
                        ("whole matrix, " + jobs_flag(r.jobs)).c_str(), r.wall_s, booted, passed,
                        r.exit_code, kTargetMatrixS);
            j["wall_s_" + jobs_name(r.jobs)] = r.wall_s;
            j["booted"] = booted;
        }
        if (runs[1].wall_s > 0) std::printf("  %-34s %8.2fx\n", "speed-up -j2 over -j1", runs[0].wall_s / runs[1].wall_s);
        if (runs[2].wall_s > 0)
            std::printf("  %-34s %8.2fx\n", "speed-up default -j over -j2", runs[1].wall_s / runs[2].wall_s);
        std::printf("  %-12s %12s %16s %18s %8s\n", "kernel (-j1)", "QEMU->init s", "init->1st test s",
                    "QEMU->1st test s", "VM s");
        nlohmann::json per_kernel = nlohmann::json::object();
        for (const auto& k : runs[0].kernels) {
            double to_init = timing(k, "qemu_to_init_s"), to_test = timing(k, "init_to_first_test_s"),
                   vm = timing(k, "vm_s");
            std::string name = k.value("name", "?");
            if (vm < 0) {
                std::printf("  %-12s %s\n", name.c_str(), k.value("outcome", "?").c_str());
                continue;
            }
            std::printf("  %-12s %12.2f %16.2f %18.2f %8.2f%s\n", name.c_str(), to_init, to_test, to_init + to_test,
                        vm, to_init + to_test > kTargetToFirstTestS ? "  (over target)" : "");
            per_kernel[name] = {{"qemu_to_init_s", to_init},
                                {"init_to_first_test_s", to_test},
                                {"qemu_to_first_test_s", to_init + to_test},
                                {"vm_s", vm},
                                {"outcome", k.value("outcome", "")}};
        }
        j["kernels"] = per_kernel;

        std::vector<double> lab;
        bool all_matched = true;
        for (int i = 1; i <= kLabRuns; i++) {
            bool matched = false;
            lab.push_back(run_lab(kmatrix, kernels, artifacts, out, i, matched));
            all_matched = all_matched && matched;
        }
        const double median = fa::bench::median(lab);
        std::printf("  %-34s %8.1f s  median of %d (%.1f / %.1f / %.1f), grid %s  (target <= %.0f s)\n",
                    "loader-failure lab, -j2", median, kLabRuns, lab[0], lab[1], lab[2],
                    all_matched ? "matched" : "DIFFERED", kTargetLabS);
        nlohmann::json lab_json = {{"median_s_j2", median}, {"runs_s", lab}, {"grid_matched", all_matched},
                                   {"target_s", kTargetLabS}};

        // One results file for `make bench`: the other figures stay, "matrix" and "lab" are ours.
        const std::string path = out + "/results.json";
        fa::bench::merge_result(path, "matrix", j);
        fa::bench::merge_result(path, "lab", lab_json);
        std::printf("written to %s (\"matrix\", \"lab\")\n", path.c_str());
    } catch (const std::exception& e) {
        std::fprintf(stderr, "flowattr_matrix_bench: %s\n", e.what());
        return 1;
    }
    return 0;
}
