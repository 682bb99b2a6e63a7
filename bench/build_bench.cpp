// Build benchmark: what a developer waits for. The host build after an edit of one BPF
// program, bpf/flow.bpf.c: a comment line put at its top moves every line, so the object's
// line info and with it the object change; the skeleton, the agent library and every binary
// embedding the object are rebuilt, and the build's own `flowattr verify` holds the embedded
// objects against the fresh ones. Each round times the edit's build and the build that puts
// the file back, and checks the binary is not stale; median of the rounds. Then `make
// docker-build` warm: once to bring the builder's tree up to date (untimed), then timed.
// The edited file is put back byte for byte on every exit, also on SIGINT and SIGTERM; a run
// killed outright (SIGKILL) leaves its marker line, which the next run takes out first.
// Usage: flowattr_build_bench SOURCE_DIR BUILD_DIR OUT_DIR
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/error.h"
#include "common/file.h"
#include "common/subprocess.h"
#include "bench_support.h"

namespace {

constexpr int kRounds = 3;
constexpr int kDockerRuns = 2;
constexpr double kTargetIncrementalS = 15;
constexpr double kTargetDockerWarmS = 30;

// The edited file's path and original bytes, for the signal handler: open() and write() are
// async-signal-safe, std::string's members are only read.
const std::string* g_restore_path = nullptr;
const std::string* g_restore_bytes = nullptr;

void put_back() {
    if (!g_restore_path) return;
    int fd = ::open(g_restore_path->c_str(), O_WRONLY | O_TRUNC);
    if (fd < 0) return;
    const char* p = g_restore_bytes->data();
    std::size_t left = g_restore_bytes->size();
    while (left > 0) {
        ssize_t n = ::write(fd, p, left);
        if (n <= 0) break;
        p += n;
        left -= std::size_t(n);
    }
    ::close(fd);
}

void on_signal(int sig) {
    put_back();
    std::signal(sig, SIG_DFL);
    std::raise(sig);
}

constexpr const char* kEditMarker = "/* flowattr_build_bench ";

// The file's bytes as they were, written back when this goes (or on a signal). A first line
// that is this benchmark's own marker was left by a run that could not put it back (killed
// with SIGKILL): it is not the developer's, and comes out before anything is timed.
class EditedFile {
public:
    explicit EditedFile(std::string path) : path_(std::move(path)), original_(flowattr::read_file(path_)) {
        if (original_.rfind(kEditMarker, 0) == 0) {
            original_.erase(0, original_.find('\n') + 1);
            flowattr::write_file_atomic(path_, original_);
            std::printf("  %s began with the marker line of a killed run: taken out\n", path_.c_str());
        }
        g_restore_path = &path_;
        g_restore_bytes = &original_;
        std::signal(SIGINT, on_signal);
        std::signal(SIGTERM, on_signal);
    }
    ~EditedFile() {
        put_back();
        std::signal(SIGINT, SIG_DFL);
        std::signal(SIGTERM, SIG_DFL);
        g_restore_path = g_restore_bytes = nullptr;
    }
    EditedFile(const EditedFile&) = delete;
    EditedFile& operator=(const EditedFile&) = delete;
    void edit(int round) { flowattr::write_file_atomic(path_, kEditMarker + std::to_string(round) + " */\n" + original_); }
    void restore() { flowattr::write_file_atomic(path_, original_); }

private:
    std::string path_, original_;
};

double timed(const std::vector<std::string>& argv, const std::string& what) {
    const auto start = std::chrono::steady_clock::now();
    flowattr::check_command(argv, what);
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 4) {
        std::fprintf(stderr, "usage: flowattr_build_bench SOURCE_DIR BUILD_DIR OUT_DIR\n");
        return 2;
    }
    const std::string source = argv[1], build = argv[2], out = argv[3];
    try {
        std::printf("build benchmark (targets: rebuild after a .bpf.c edit <= %.0f s, warm make docker-build <= %.0f s)\n",
                    kTargetIncrementalS, kTargetDockerWarmS);
        const std::vector<std::string> host_build = {"cmake", "--build", build, "-j2"};
        const std::vector<std::string> stale_check = {build + "/src/cli/flowattr", "verify", "--against", build + "/bpf"};
        std::vector<double> edited, restored;
        bool stale = false;
        {
            EditedFile flow(source + "/bpf/flow.bpf.c");
            flowattr::check_command(host_build, "the host build before the benchmark");
            for (int round = 1; round <= kRounds; round++) {
                flow.edit(round);
                edited.push_back(timed(host_build, "the host build after editing bpf/flow.bpf.c"));
                stale = stale || flowattr::run_command(stale_check).exit_code != 0;
                flow.restore();
                restored.push_back(timed(host_build, "the host build after restoring bpf/flow.bpf.c"));
                stale = stale || flowattr::run_command(stale_check).exit_code != 0;
                std::printf("  round %d: edited %.1f s, restored %.1f s\n", round, edited.back(), restored.back());
                std::fflush(stdout);
            }
        }
        const double edit_s = fa::bench::median(edited), restore_s = fa::bench::median(restored);
        std::printf("  %-44s %6.1f s  (restored %.1f s; median of %d; embedded objects %s)  (target <= %.0f s)\n",
                    "host build after editing bpf/flow.bpf.c", edit_s, restore_s, kRounds,
                    stale ? "STALE" : "fresh", kTargetIncrementalS);

        const std::vector<std::string> docker_build = {"make", "-C", source, "docker-build"};
        std::printf("  make docker-build, bringing build-docker/ up to date (untimed) ...\n");
        std::fflush(stdout);
        flowattr::check_command(docker_build, "make docker-build");
        std::vector<double> warm;
        for (int i = 0; i < kDockerRuns; i++) warm.push_back(timed(docker_build, "make docker-build"));
        const double warm_s = fa::bench::median(warm);
        std::printf("  %-44s %6.1f s  (runs %.1f / %.1f)  (target <= %.0f s)\n", "make docker-build, nothing changed",
                    warm_s, warm[0], warm[1], kTargetDockerWarmS);

        nlohmann::json j = {{"incremental_bpf_edit_s", edit_s},
                            {"incremental_bpf_restore_s", restore_s},
                            {"incremental_rounds_s", {{"edited", edited}, {"restored", restored}}},
                            {"embedded_objects_stale", stale},
                            {"target_incremental_s", kTargetIncrementalS},
                            {"docker_build_warm_s", warm_s},
                            {"docker_build_warm_runs_s", warm},
                            {"target_docker_build_warm_s", kTargetDockerWarmS}};
        const std::string path = out + "/results.json";
        fa::bench::merge_result(path, "build", j);
        std::printf("written to %s (\"build\")\n", path.c_str());
        return stale ? 1 : 0;
    } catch (const flowattr::Error& e) {
        // A failed build's own words: the last lines of what it wrote to stderr.
        const std::string& log = e.log();
        std::size_t from = log.size();
        for (int lines = 0; from > 0 && lines <= 30; lines += log[from - 1] == '\n') from--;
        std::fprintf(stderr, "%sflowattr_build_bench: %s\n", log.substr(from).c_str(), e.what());
        return 1;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "flowattr_build_bench: %s\n", e.what());
        return 1;
    }
}
