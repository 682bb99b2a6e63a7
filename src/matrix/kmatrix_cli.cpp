#include "matrix/kmatrix_cli.h"

#include <signal.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "common/cli_parse.h"
#include "common/error.h"
#include "common/file.h"
#include "common/json_text.h"
#include "matrix/fetch_cli.h"
#include "matrix/guest_arch.h"
#include "matrix/kernel_cache.h"
#include "matrix/kernel_list.h"
#include "matrix/matrix_run.h"
#include "matrix/check_report.h"
#include "matrix/exec_report.h"
#include "matrix/progress_board.h"
#include "matrix/report.h"
#include "agent/object_check.h"
#include "verify/object_input.h"

namespace flowattr::matrix {

namespace {

namespace fs = std::filesystem;

// Bad input (a flag, a kernel name, kernels.txt): 2 for every command, as for flowattr;
// nothing is fetched or booted.
constexpr int kUsage = cli::kUsageExit;

// Set from signal handlers; everything that waits polls it.
std::atomic<bool> g_cancel{false};
static_assert(std::atomic<bool>::is_always_lock_free, "signal handler needs a lock-free flag");

extern "C" void kmatrix_on_signal(int) { g_cancel.store(true); }

// Installs SIGINT/SIGTERM/SIGHUP handlers for its lifetime, restoring the previous ones.
class SignalScope {
public:
    SignalScope() {
        struct sigaction sa {};
        sa.sa_handler = kmatrix_on_signal;
        sigemptyset(&sa.sa_mask);
        for (std::size_t i = 0; i < std::size(kSignals); i++) sigaction(kSignals[i], &sa, &old_[i]);
    }
    ~SignalScope() {
        for (std::size_t i = 0; i < std::size(kSignals); i++) sigaction(kSignals[i], &old_[i], nullptr);
    }
    SignalScope(const SignalScope&) = delete;
    SignalScope& operator=(const SignalScope&) = delete;

private:
    static constexpr int kSignals[] = {SIGINT, SIGTERM, SIGHUP};
    struct sigaction old_[3];
};

bool exists(const std::string& path) {
    struct stat st;
    return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

struct Options {
    KernelSourceOptions source;
    std::vector<std::string> only;
    std::optional<Arch> arch;  // --arch: only this architecture's kernels
    int jobs = 0;
    std::string out = "out/matrix";
    std::string artifacts;
    std::string agent, suite, busybox;  // explicit binaries, overriding --artifacts
    std::string accel;
    double timeout_scale = 1.0;
    int memory_mb = 512;
    std::string cmdline;
    std::string qemu;  // "" for each kernel's architecture's own
    // repro
    std::string name;
    bool shell = false, keep = false;
    std::string test;
    std::string object;  // repro --object: check this object instead of the suite
    // check / lab
    std::vector<std::string> objects;
    std::string json_path;
    bool size_maps = false;  // check, repro --object: `flowattr check --size-maps`
    std::vector<agent::SectionType> section_types;  // check, repro --object: `flowattr check --section-type`
    std::string fixtures, expect, write_expected;  // lab
    std::string variants_of = "6.1";               // lab: the kernel its extra cells boot
    // exec
    std::vector<std::string> files;
    std::vector<std::string> command;
    int command_timeout_s = 0;
};

enum class Verb { run, repro, check, lab, exec };

// What each command is for: `kmatrix --help` lists these, `kmatrix COMMAND --help` opens with one.
const char* verb_description(Verb verb) {
    switch (verb) {
    case Verb::run: return "boot every kernel of kernels.txt under QEMU and run flowattr's kernel suite in each";
    case Verb::repro: return "boot one kernel again with the same kernel and initramfs bytes";
    case Verb::check: return "load and attach any BPF object's programs on every kernel; class, cause, fix";
    case Verb::lab: return "every loader-failure fixture on every kernel, held against the expected grid";
    case Verb::exec: return "run one command in every kernel's VM; its exit and output per kernel";
    }
    return "";
}

// "pass 0, test-fail 10, ...": every outcome whose code a run can end with, from the outcome table.
std::string outcome_exit_codes() {
    std::string text;
    for (Outcome o : all_outcomes())
        if (o == Outcome::pass || outcome_fails_run(o))
            text += (text.empty() ? "" : ", ") + std::string(outcome_name(o)) + " " + std::to_string(outcome_exit_code(o));
    return text;
}

// check's and repro --object's --size-maps, passed on to the guest's `flowattr check`.
CLI::Option* add_size_maps_flag(CLI::App& a, Options& o) {
    return a.add_flag("--size-maps", o.size_maps,
                      "give a map an object leaves for its own loader to size a size of the check's (flowattr check "
                      "--size-maps), so its programs reach the verifier");
}

// check's and repro --object's --section-type, checked here (a section libbpf has a type for, a
// spec the kernel command line can carry) and passed on to the guest's `flowattr check`.
CLI::Option* add_section_type_option(CLI::App& a, Options& o) {
    return a
        .add_option_function<std::vector<std::string>>(
            "--section-type",
            [&o](const std::vector<std::string>& values) {
                for (const auto& v : values) {
                    if (!guest::cmdline_carries_section_type(v))
                        throw CLI::ValidationError("--section-type " + v +
                                                   ": the kernel command line cannot carry it (a comma, a space or a quote)");
                    try {
                        o.section_types.push_back(agent::parse_section_type(v));
                    } catch (const BadInputError& e) {
                        throw CLI::ValidationError(e.what());
                    }
                }
            },
            "check the programs of section SECTION as libbpf loads a program of section AS (flowattr check "
            "--section-type), as their own loader sets them (repeatable)")
        ->type_name("SECTION=AS");
}

// exec's and repro --shell's --file: what /exec, first on the guest's PATH, holds.
CLI::Option* add_file_option(CLI::App& a, Options& o) {
    return a.add_option("--file", o.files,
                        "bring this file along as /exec/<its name> (repeatable): a script for busybox sh or a .bpf.o "
                        "to every kernel; an executable to its own architecture's kernels (an x86_64 and an aarch64 "
                        "build may share a name), a dynamically linked one with this machine's loader and libraries "
                        "(LD_LIBRARY_PATH first, as the loader looks; another architecture's from its multiarch "
                        "directories)")
        ->type_name("PATH")
        ->default_str("");
}

// The options of every command that boots kernels, then each command's own; the help of
// `kmatrix VERB --help` is generated from these definitions.
std::unique_ptr<CLI::App> command_app(Verb verb, const std::string& name, Options& o) {
    auto app = cli::make_app("kmatrix " + name, verb_description(verb));
    CLI::App& a = *app;
    o.accel = "auto";
    add_kernel_source_options(a, o.source, true);
    if (verb != Verb::repro) {
        a.add_option_function<std::string>(
             "--only", [&o](const std::string& v) { o.only = cli::split_commas(v); }, "only these kernels")
            ->type_name("NAME,...");
        a.add_option_function<std::string>(
             "--arch",
             [&o](const std::string& v) {
                 if (const auto arch = parse_arch(v)) o.arch = *arch;
                 else throw CLI::ValidationError("--arch", "'" + v + "': expected x86_64 or aarch64");
             },
             "only the kernels of this architecture (x86_64, aarch64)")
            ->type_name("ARCH");
        a.add_option("-j,--jobs", o.jobs, "VMs at a time (default: two a core and one more, within half the free memory)")
            ->type_name("N")
            ->default_str("")
            ->check(cli::positive_number());
    }
    a.add_option("--out", o.out, "reports and per-kernel logs")->type_name("DIR");
    a.add_option("--artifacts", o.artifacts,
                 "where the static flowattr and flowattr_kernel_tests are (default out/, then build/)")
        ->type_name("DIR");
    a.add_option("--agent", o.agent, "use this static binary as the guest's flowattr")->type_name("PATH");
    a.add_option("--suite", o.suite, "use this static binary as flowattr_kernel_tests")->type_name("PATH");
    a.add_option("--busybox", o.busybox, "use this static busybox")->type_name("PATH");
    a.add_option("--accel", o.accel, "auto probes KVM with a short boot and falls back to TCG")
        ->type_name("auto|kvm|tcg")
        ->envname("FLOWATTR_ACCEL")
        ->check(cli::check([](const std::string& v) {
            return v == "auto" || v == "kvm" || v == "tcg" ? "" : v + ": expected auto, kvm or tcg";
        }));
    a.add_option("--timeout-scale", o.timeout_scale, "multiply every timeout (slow or loaded machines)")
        ->type_name("X")
        ->check(cli::positive_number());
    a.add_option("--memory", o.memory_mb, "each VM's memory")->type_name("MB")->check(cli::positive_number());
    a.add_option_function<std::vector<std::string>>(
         "--cmdline",
         [&o](const std::vector<std::string>& values) {
             for (const auto& v : values) o.cmdline += (o.cmdline.empty() ? "" : " ") + v;
         },
         "appended to every kernel command line (repeatable)")
        ->type_name("ARGS");
    a.add_option("--qemu", o.qemu, "the QEMU system emulator (default: qemu-system-<kernel arch>)")->type_name("PATH");
    switch (verb) {
    case Verb::run:
        a.footer("Exit: 0 all available kernels passed; 130 interrupted; 2 bad input (nothing booted); else the\n"
                 "most severe outcome's code: " + outcome_exit_codes() + ".");
        break;
    case Verb::repro:
        // Not CLI11-required: a missing NAME is answered with the kernels there are.
        a.add_option("NAME", o.name, "the kernel, as named in kernels.txt")->type_name("");
        a.add_flag("--shell", o.shell, "interactive shell in the VM on this terminal (after the test with --test); "
                                       "Ctrl-A x quits QEMU");
        a.add_flag("--keep", o.keep, "keep initramfs and logs in OUT/repro/NAME (default: a temporary directory)");
        a.add_option("--test", o.test, "run this test of the suite after the load check")->type_name("NAME");
        add_file_option(a, o)->needs("--shell");
        a.add_option("--object", o.object, "instead: `flowattr check` of this BPF object (or executable embedding "
                                           "objects), each program's class, cause, fix and full verifier log")
            ->type_name("PATH")
            ->excludes("--test");
        add_size_maps_flag(a, o)->needs("--object");
        add_section_type_option(a, o)->needs("--object");
        a.footer("Boots NAME's kernel with the initramfs `kmatrix run` builds (same bytes) and runs\n"
                 "`flowattr load --check --full-log` (printing every verifier log), or that plus one test with --test.\n"
                 "Exit: the outcome's code (see kmatrix run --help); 2 bad input (nothing booted).");
        break;
    case Verb::check:
        a.add_option("OBJECT", o.objects, "a .bpf.o or an ELF executable embedding BPF objects (libbpf skeletons)")
            ->type_name("")
            ->default_str("")
            ->required();
        a.add_option("--json", o.json_path, "{\"kernels\":[...],\"results\":[...]} (docs/OUTPUT.md)")
            ->type_name("PATH");
        add_size_maps_flag(a, o);
        add_section_type_option(a, o);
        a.footer("Each kernel boots once; in it every program of every object is loaded (an object's programs at once,\n"
                 "each alone where that fails; its maps created, unpinned), attached the way its program type says\n"
                 "where the guest has a target (tc/tcx/xdp on the loopback of a network namespace of the check's own,\n"
                 "sk_lookup and flow dissector programs linked to that namespace, cgroup programs on a scratch\n"
                 "cgroup, socket filters and sk_reuseport programs on an unbound socket, perf_event programs on a\n"
                 "software clock event, tracing and LSM programs by libbpf's auto-attach), then detached. An executable's objects go only to its own\n"
                 "architecture's kernels (they were compiled for it); a .bpf.o goes to every kernel. Reports in\n"
                 "--out: index.html, summary.md, check.json, <kernel>/junit.xml.\n"
                 "Exit: 0 every program passed on every available kernel, 1 any failed, 2 bad input (no VM booted).");
        break;
    case Verb::lab:
        a.add_option("--fixtures", o.fixtures, "the loader-failure fixtures, DIR/*.bpf.o")->type_name("DIR")->required();
        a.add_option("--expect", o.expect, "the expected grid (tests/kernel/fixtures/expected.txt)")
            ->type_name("FILE")
            ->required();
        a.add_option("--write-expected", o.write_expected, "record what the kernels really did instead of comparing")
            ->type_name("FILE");
        a.add_option("--variants-of", o.variants_of,
                     "the kernel booted twice more: NAME+unprivileged (flowattr check as uid 65534) and "
                     "NAME+nomodules (no sch_ingress/cls_bpf); none if not selected")
            ->type_name("NAME");
        a.footer("kmatrix check over every fixture, then the grid of classes is held against --expect; every\n"
                 "difference is printed. Exit: 0 the grid matches, 1 it differs, 2 bad input.");
        break;
    case Verb::exec:
        add_file_option(a, o);
        a.add_option_function<double>(
             "--timeout", [&o](double s) { o.command_timeout_s = int(s + 0.5); },
             "the command's limit (default: the per-test limit, 120 under TCG)")
            ->type_name("S")
            ->check(cli::positive_number());
        a.add_option("--json", o.json_path,
                     "{\"command\":[...],\"files\":[...],\"kernels\":[...]} (docs/OUTPUT.md); also OUT/exec.json")
            ->type_name("PATH");
        a.footer("Usage: kmatrix exec [OPTIONS] -- CMD [ARGS]\n"
                 "Boots every kernel (as root in the guest: bpffs, cgroup2, tracefs, debugfs mounted, modules loaded,\n"
                 "lo up, no network) and runs CMD with ARGS once in each, in /exec, with PATH=/exec:/bin. The guest\n"
                 "also has /bin/flowattr and busybox's applets (ip, tc, mount...); busybox sh runs its own applet\n"
                 "before PATH, so in `sh -c` call a brought tool named like one (ls, nc) as /exec/NAME.\n"
                 "E.g. kmatrix exec --file /usr/sbin/bpftool -- bpftool feature probe kernel\n"
                 "Exit: 0 the command exited 0 on every available kernel; else the most severe outcome's code\n"
                 "(test-fail 10 for a non-zero exit; see kmatrix run --help); 2 bad input (no VM booted).");
        break;
    }
    return app;
}

// Parses a command's options; an exit code when there is nothing more to do (a usage error,
// or --help printed). exec's command is the words after "--", kept from CLI11 so that
// kmatrix's own options can never be mistaken for the command's.
std::optional<int> parse_command(std::vector<std::string> args, Verb verb, const std::string& name, Options& o) {
    if (verb == Verb::exec) {
        auto dashes = std::find(args.begin(), args.end(), "--");
        if (dashes != args.end()) {
            o.command.assign(dashes + 1, args.end());
            args.erase(dashes, args.end());
        }
    }
    auto app = command_app(verb, name, o);
    return cli::parse(*app, args, std::cout, std::cerr);
}

// The guest's /init for the host's architecture: kmatrix_init built next to this kmatrix, so
// host and guest always speak the same records.
std::string guest_init_executable() {
    std::error_code ec;
    const fs::path self = fs::read_symlink("/proc/self/exe", ec);
    if (ec) throw Error("cannot read /proc/self/exe", ec.value());
    const std::string init = (self.parent_path() / "kmatrix_init").string();
    if (!exists(init))
        throw Error("no " + init + ": the guest's /init is built and shipped with kmatrix (cmake target kmatrix_init)");
    return init;
}

// The static binaries the initramfs carries for ARCH: --agent/--suite/--busybox when given,
// else from --artifacts, else out/ (what `make docker-build` produces) then build/ (a local
// cmake build); the host's busybox may also come from busybox-static. Another architecture's
// are in <root>/<arch>/ (FLOWATTR_GUEST_ARCHES' cross build, out/<arch>/), its /init too,
// and its busybox comes with its kernel (kernels.txt).
InitramfsInputs find_binaries(const Options& o, const GuestArch& arch) {
    std::vector<std::string> roots = o.artifacts.empty() ? std::vector<std::string>{"out", "build"}
                                                         : std::vector<std::string>{o.artifacts};
    const std::string subdir = arch.artifacts_subdir();
    if (!subdir.empty())
        for (auto& root : roots) root += "/" + subdir;
    auto find = [&](const std::string& name, const std::vector<std::string>& subdirs,
                    const std::vector<std::string>& fallbacks) -> std::string {
        std::vector<std::string> tried;
        for (const auto& root : roots)
            for (const auto& sub : subdirs) {
                std::string p = root + (sub.empty() ? "" : "/" + sub) + "/" + name;
                if (exists(p)) return p;
                tried.push_back(p);
            }
        for (const auto& p : fallbacks) {
            if (exists(p)) return p;
            tried.push_back(p);
        }
        std::string list;
        for (const auto& t : tried) list += " " + t;
        throw Error("cannot find " + std::string(arch_name(arch.arch)) + " " + name + " (looked at" + list +
                    "); build it or pass --artifacts DIR");
    };
    InitramfsInputs in;
    in.arch = arch.arch;
    in.agent = o.agent.empty() ? find("flowattr", {"", "bin", "src/cli"}, {}) : o.agent;
    in.kernel_tests = o.suite.empty() ? find("flowattr_kernel_tests", {"", "bin", "tests/kernel"}, {}) : o.suite;
    if (subdir.empty()) {
        in.init = guest_init_executable();
        in.busybox = o.busybox.empty() ? find("busybox", {"", "bin"}, {"/bin/busybox", "/usr/bin/busybox"}) : o.busybox;
        in.busybox_applets = list_busybox_applets(in.busybox);
    } else {
        in.init = find("kmatrix_init", {"", "src/cli"}, {});
    }
    return in;
}

bool qemu_available(const std::string& qemu) {
    if (qemu.find('/') != std::string::npos) return ::access(qemu.c_str(), X_OK) == 0;
    const char* path = std::getenv("PATH");
    std::stringstream ss(path ? path : "/usr/bin:/bin");
    std::string dir;
    while (std::getline(ss, dir, ':'))
        if (!dir.empty() && ::access((dir + "/" + qemu).c_str(), X_OK) == 0) return true;
    return false;
}

// Fetches one kernel, turning every way it can go wrong into a cell outcome.
std::optional<CellSpec> fetch_cell(KernelCache& cache, std::mutex& fetch_mu, const KernelEntry& e,
                                   const ProgressFn& progress, CellResult& unrun) {
    try {
        std::lock_guard<std::mutex> lock(fetch_mu);
        FetchResult r = cache.fetch(e, progress);
        if (r.status == FetchStatus::unavailable) {
            unrun = unrun_cell(e.name, e.version, Outcome::unavailable, r.reason, e.arch);
            return std::nullopt;
        }
        if (r.status == FetchStatus::unsupported) {
            unrun = unrun_cell(e.name, e.version, Outcome::unsupported, r.reason, e.arch);
            unrun.image_sha256 = r.image.image_sha256;
            return std::nullopt;
        }
        return CellSpec{e.name,           e.version,          e.arch,
                        e.cmdline,        r.image.image_sha256, r.image.vmlinuz,
                        r.image.modules_dir, r.image.channel_modules_dir, r.image.busybox,
                        r.image.pvh_vmlinux, r.image.boot};
    } catch (const std::exception& ex) {
        unrun = unrun_cell(e.name, e.version, Outcome::infra_error, std::string("fetch failed: ") + ex.what(), e.arch);
        return std::nullopt;
    }
}

std::vector<KernelEntry> select_kernels(const std::vector<KernelEntry>& all, const std::vector<std::string>& only,
                                        std::ostream& err, bool& ok) {
    ok = true;
    std::vector<KernelEntry> out;
    std::set<std::string> wanted(only.begin(), only.end());
    for (const auto& n : only) {
        if (std::none_of(all.begin(), all.end(), [&](const KernelEntry& e) { return e.name == n; })) {
            err << "kmatrix: no kernel named '" << n << "'; known:";
            for (const auto& e : all) err << " " << e.name;
            err << "\n";
            ok = false;
        }
    }
    for (const auto& e : all)
        if (wanted.empty() || wanted.count(e.name)) out.push_back(e);
    return out;
}

AccelChooser make_chooser(const Options& o, const std::function<void(const std::string&)>& note) {
    std::string qemu = o.qemu.empty() ? guest_arch(host_arch()).qemu : o.qemu;
    double probe_s = 4.0 * o.timeout_scale;
    KvmVerdictFile verdicts(o.source.cache_root() + "/kvm-probe.json", qemu);
    return AccelChooser(o.accel, kvm_device_usable,
                        [qemu, probe_s, verdicts, note](const std::string& kernel) {
                            if (std::optional<bool> known = verdicts.load()) {
                                note("the KVM probe's verdict from earlier this boot (" + verdicts.path() +
                                     "; delete it to probe again)");
                                return *known;
                            }
                            const bool boots = probe_kvm_boot(qemu, kernel, probe_s);
                            try {
                                verdicts.store(boots);
                            } catch (const Error& e) {
                                note(std::string("cannot keep the KVM probe's verdict: ") + e.what());
                            }
                            return boots;
                        },
                        note);
}

// The kernels a command runs on: kernels.txt (or --kernels) cut to --only. Returns false
// after saying why.
bool selected_kernels(const Options& o, std::vector<KernelEntry>& entries) {
    try {
        entries = o.source.load_kernels();
    } catch (const Error& e) {
        std::cerr << "kmatrix: " << e.what() << "\n";
        return false;
    }
    bool ok = true;
    entries = select_kernels(entries, o.only, std::cerr, ok);
    if (!ok) return false;
    if (o.arch)
        entries.erase(std::remove_if(entries.begin(), entries.end(), [&](const KernelEntry& e) { return e.arch != *o.arch; }),
                      entries.end());
    if (entries.empty()) {
        std::cerr << "kmatrix: no kernels to run\n";
        return false;
    }
    return true;
}

// What keeps every cell of an architecture from booting, by architecture.
using SetupErrors = std::map<Arch, std::string>;

// The settings every cell shares, with the VM binaries of each architecture ENTRIES name.
// What is missing for an architecture (its binaries, its QEMU) lands in ERRORS: every cell of
// that architecture reports it as its outcome.
RunSettings base_settings(const Options& o, const std::vector<KernelEntry>& entries, SetupErrors& errors) {
    RunSettings settings;
    settings.out_dir = o.out;
    settings.qemu = o.qemu;
    settings.memory_mb = o.memory_mb;
    settings.timeout_scale = o.timeout_scale;
    settings.extra_cmdline = o.cmdline;
    for (const KernelEntry& e : entries) {
        if (settings.binaries.count(e.arch) || errors.count(e.arch)) continue;
        const GuestArch& arch = guest_arch(e.arch);
        try {
            settings.binaries[e.arch] = find_binaries(o, arch);
            const std::string qemu = o.qemu.empty() ? arch.qemu : o.qemu;
            if (!qemu_available(qemu)) errors[e.arch] = qemu + " not found (install " + arch.qemu_package + ")";
        } catch (const Error& ex) {
            errors[e.arch] = ex.what();
        }
    }
    return settings;
}

// Boots every entry (JOBS at a time) with SETTINGS, showing progress on stderr. Problems
// shared by every cell (no binaries, no QEMU) still give each cell its outcome and a
// report, so CI shows the same table whatever broke.
std::vector<CellResult> run_cells(const Options& o, const std::vector<KernelEntry>& entries,
                                  const RunSettings& settings, const SetupErrors& setup_errors, RunInfo& info) {
    int jobs = o.jobs > 0 ? o.jobs : default_jobs(o.memory_mb);
    std::vector<std::string> names;
    for (const auto& e : entries) names.push_back(e.name);
    bool tty = ::isatty(2) == 1;
    struct winsize ws {};
    std::size_t columns = tty && ::ioctl(2, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0 ? ws.ws_col : 0;
    ProgressBoard board(std::cerr, tty, names, columns);
    info.start = wall_clock_now();
    info.kernels_file = o.source.kernels;
    std::vector<CellResult> results(entries.size());

    std::string accel_note;
    AccelChooser chooser = make_chooser(o, [&](const std::string& msg) {
        accel_note += (accel_note.empty() ? "" : "; ") + msg;
        board.note("kmatrix: " + msg);
    });
    KernelCache cache(o.source.cache_root(), o.source.offline);
    cache.cancel_on(g_cancel);
    std::mutex fetch_mu;

    SignalScope signals;
    std::atomic<bool> finished{false};
    std::mutex tick_mu;
    std::condition_variable tick_cv;
    std::thread ticker([&] {
        std::unique_lock<std::mutex> lock(tick_mu);
        while (!tick_cv.wait_for(lock, std::chrono::seconds(1), [&] { return finished.load(); })) board.refresh();
    });
    run_pool(entries.size(), jobs, [&](std::size_t i) {
        const KernelEntry& e = entries[i];
        CellResult& r = results[i];
        if (g_cancel.load()) {
            r = unrun_cell(e.name, e.version, Outcome::infra_error, "interrupted before it started", e.arch);
        } else if (auto error = setup_errors.find(e.arch); error != setup_errors.end()) {
            r = unrun_cell(e.name, e.version, Outcome::infra_error, error->second, e.arch);
        } else {
            board.set(e.name, "fetching");
            CellResult unrun;
            auto spec = fetch_cell(cache, fetch_mu, e,
                                   [&](const std::string&, const std::string& msg) { board.set(e.name, "fetch: " + msg); },
                                   unrun);
            r = spec ? run_cell(*spec, settings, chooser, &g_cancel, [&](const std::string& s) { board.set(e.name, s); })
                     : unrun;
        }
        board.finish(r);
    });
    finished = true;
    tick_cv.notify_all();
    ticker.join();

    info.end = wall_clock_now();
    // The notes are clauses ("the KVM probe's verdict ..."); the reports print them as a sentence.
    if (!accel_note.empty()) accel_note[0] = char(std::toupper(static_cast<unsigned char>(accel_note[0])));
    info.accel_note = accel_note;
    info.interrupted = g_cancel.load();
    return results;
}

bool write_all_reports(const std::string& out, const std::vector<CellResult>& results, const RunInfo& info) {
    try {
        write_reports(out, results, info);
        return true;
    } catch (const Error& e) {
        std::cerr << "kmatrix: cannot write the report: " << e.what() << "\n";
        return false;
    }
}

// --json PATH: TEXT written there (nothing when PATH is empty). Returns false after saying
// why it could not be.
bool write_json_option(const char* who, const std::string& path, const std::string& text) {
    if (path.empty()) return true;
    try {
        write_file_atomic(path, text);
        return true;
    } catch (const Error& e) {
        std::cerr << who << ": cannot write " << path << ": " << e.what() << "\n";
        return false;
    }
}

int cmd_run(const std::vector<std::string>& args) {
    Options o;
    if (auto done = parse_command(args, Verb::run, "run", o)) return *done;
    std::vector<KernelEntry> entries;
    if (!selected_kernels(o, entries)) return kUsage;
    SetupErrors setup_errors;
    RunSettings settings = base_settings(o, entries, setup_errors);
    RunInfo info;
    std::vector<CellResult> results = run_cells(o, entries, settings, setup_errors, info);
    if (!write_all_reports(o.out, results, info)) return outcome_exit_code(Outcome::infra_error);
    std::cout << "\n" << summary_table(results);
    if (info.interrupted) std::cout << "interrupted: partial results\n";
    std::cout << "reports: " << o.out << "/index.html, " << o.out << "/summary.md, " << o.out
              << "/<kernel>/junit.xml, per-kernel console.log\n";
    return run_exit_code(results, info.interrupted);
}

// PATH as built for ARCH: an object under --artifacts (the lab's fixtures in a build tree)
// has its twin at the same place under <artifacts>/<arch>/, the cross build's (a kprobe
// reads that architecture's registers); any other object, a user's, is what it is on every
// kernel.
std::string arch_twin(const Options& o, const std::string& path, const GuestArch& arch) {
    const std::string subdir = arch.artifacts_subdir();
    if (subdir.empty() || o.artifacts.empty()) return path;
    std::error_code ec;
    const fs::path root = fs::weakly_canonical(o.artifacts, ec), file = fs::weakly_canonical(path, ec);
    if (ec) return path;
    const fs::path rel = file.lexically_relative(root);
    if (rel.empty() || *rel.begin() == "..") return path;
    const fs::path twin = root / subdir / rel;
    return fs::exists(twin, ec) ? twin.string() : path;
}

// Reads every object file the way the guest will (a .bpf.o, or an executable embedding
// objects), so bad input is refused before any VM boots, and puts file N at
// /check/NN/<file name> in the initramfs (its architecture's twin for each kernel,
// arch_twin). An executable's objects were compiled for its own architecture (a kprobe's
// register reads, the syscall wrappers it names), so it goes only to kernels of that
// architecture; a .bpf.o (EM_BPF) does not say, and goes to every kernel. ENTRIES loses the
// kernels left with no file, saying so. The plan gets --section-type's specs. Returns false
// after one line per bad file or --section-type whose section no program is in, or when no
// kernel is left.
bool stage_objects(const char* who, const Options& o, const std::vector<std::string>& paths, RunSettings& settings,
                   std::vector<KernelEntry>& entries, std::size_t& object_count) {
    bool ok = true;
    object_count = 0;
    std::set<Arch> arches, staged;
    for (const KernelEntry& e : entries) arches.insert(e.arch);
    if (auto twice = repeated_path(paths)) {
        std::cerr << who << ": " << twice->message(paths) << "\n";
        return false;
    }
    // Staged under the directories that tell same-named files apart, so that the guest's
    // `flowattr check` names their objects as it would on the host ("x86/probe").
    const std::vector<std::string> subdirs = distinguishing_dirs(paths);
    std::vector<verify::InputObject> read;
    for (std::size_t i = 0; i < paths.size(); i++) {
        try {
            std::vector<verify::InputObject> objects = verify::read_bpf_objects(paths[i]);
            object_count += objects.size();
            std::move(objects.begin(), objects.end(), std::back_inserter(read));
        } catch (const verify::InputError& e) {
            std::cerr << who << ": " << e.what() << "\n";
            ok = false;
            continue;
        }
        char dir[24];
        std::snprintf(dir, sizeof(dir), "%02zu", i + 1);
        std::string base = paths[i].substr(paths[i].rfind('/') + 1);
        for (Arch arch : arches) {
            const std::string file = arch_twin(o, paths[i], guest_arch(arch));
            const std::optional<Arch> built_for = elf_arch(file);
            if (built_for && *built_for != arch) continue;
            staged.insert(arch);
            // An architecture without binaries has its setup error as every cell's outcome.
            if (auto it = settings.binaries.find(arch); it != settings.binaries.end())
                it->second.extra_files[std::string(kGuestCheckDir + 1) + "/" + dir + "/" + subdirs[i] + base] = file;
        }
    }
    if (!ok) return false;
    std::vector<agent::ObjectBytes> listed;
    for (const auto& object : read) listed.push_back(agent::ObjectBytes{object.name, object.origin, object.bytes});
    for (const auto& line : agent::unmatched_section_types(o.section_types, listed)) {
        std::cerr << who << ": " << line << "\n";
        ok = false;
    }
    if (!ok) return false;
    for (const auto& t : o.section_types) settings.plan.check_section_types.push_back(t.section + "=" + t.as);
    std::string dropped;
    std::set<Arch> dropped_arches;
    entries.erase(std::remove_if(entries.begin(), entries.end(),
                                 [&](const KernelEntry& e) {
                                     if (staged.count(e.arch)) return false;
                                     dropped += (dropped.empty() ? "" : ", ") + e.name;
                                     dropped_arches.insert(e.arch);
                                     return true;
                                 }),
                  entries.end());
    if (dropped.empty()) return true;
    std::string unstaged;
    for (Arch a : dropped_arches) unstaged += (unstaged.empty() ? "" : ", ") + std::string(arch_name(a));
    std::cerr << who << ": no file is built for " << unstaged << " (an executable's objects are checked only on its own "
              << "architecture's kernels): " << (entries.empty() ? "nothing to check on " : "skipping ") << dropped
              << "\n";
    return !entries.empty();
}

// `kmatrix check` and `kmatrix lab` share everything but where the objects come from and
// what the grid is held against.
std::vector<CellResult> run_check(const Options& o, const std::vector<KernelEntry>& entries, RunSettings settings,
                                  const SetupErrors& setup_errors, RunInfo& info) {
    settings.plan.mode = GuestMode::check;
    info.kind = RunKind::check;
    return run_cells(o, entries, settings, setup_errors, info);
}

int cmd_check(const std::vector<std::string>& args) {
    Options o;
    if (auto done = parse_command(args, Verb::check, "check", o)) return *done;
    std::vector<KernelEntry> entries;
    if (!selected_kernels(o, entries)) return kUsage;
    SetupErrors setup_errors;
    RunSettings settings = base_settings(o, entries, setup_errors);
    std::size_t objects = 0;
    if (!stage_objects("kmatrix check", o, o.objects, settings, entries, objects)) return kUsage;
    settings.plan.check_size_maps = o.size_maps;
    std::cerr << "kmatrix check: " << objects << " BPF object(s) from " << o.objects.size() << " file(s) on "
              << entries.size() << " kernel(s)\n";
    RunInfo info;
    std::vector<CellResult> results = run_check(o, entries, settings, setup_errors, info);
    if (!write_all_reports(o.out, results, info)) return 1;
    if (!write_json_option("kmatrix check", o.json_path, check_results_json(results))) return 1;
    std::cout << "\n" << summary_table(results) << "\n" << check_grid_text(results) << "\n" << check_tally(results);
    if (info.interrupted) std::cout << "interrupted: partial results\n";
    std::cout << "reports: " << o.out << "/index.html, " << o.out << "/summary.md, " << o.out << "/check.json, " << o.out
              << "/<kernel>/junit.xml\n";
    return check_exit_code(results, info.interrupted);
}

// Brings each --file along (brought_files.h) into every architecture's initramfs, saying on
// stderr what a dynamically linked one brings with it and which architecture gets no build of
// a name. Refuses, before any VM boots, what bring_files finds wrong, one line each.
std::optional<std::vector<BroughtFile>> stage_files(const std::string& who, const Options& o, RunSettings& settings) {
    BroughtFiles brought = bring_files(o.files);
    for (const auto& e : brought.errors) std::cerr << who << ": " << e << "\n";
    if (!brought.errors.empty()) return std::nullopt;
    for (const auto& f : brought.files)
        if (!f.libraries.empty())
            std::cerr << who << ": " << f.path << " is dynamically linked: bringing " << libraries_text(f) << " along\n";
    for (const auto& note : add_brought_files(brought.files, settings.binaries)) std::cerr << who << ": " << note << "\n";
    return brought.files;
}

int cmd_exec(const std::vector<std::string>& args) {
    Options o;
    if (auto done = parse_command(args, Verb::exec, "exec", o)) return *done;
    if (o.command.empty()) {
        std::cerr << "kmatrix exec: which command? put it after --, e.g. kmatrix exec --file ./t -- t -v "
                     "(kmatrix exec --help)\n";
        return kUsage;
    }
    std::vector<KernelEntry> entries;
    if (!selected_kernels(o, entries)) return kUsage;
    SetupErrors setup_errors;
    RunSettings settings = base_settings(o, entries, setup_errors);
    std::optional<std::vector<BroughtFile>> files = stage_files("kmatrix exec", o, settings);
    if (!files) return kUsage;
    for (auto& [arch, binaries] : settings.binaries)
        binaries.generated_files[kGuestExecArgv + 1] = json_text(nlohmann::json(o.command)) + "\n";
    settings.plan.mode = GuestMode::exec;
    settings.command_timeout_s = o.command_timeout_s;
    RunInfo info;
    info.kind = RunKind::exec;
    info.command = o.command;
    info.files = std::move(*files);
    std::vector<CellResult> results = run_cells(o, entries, settings, setup_errors, info);
    if (!write_all_reports(o.out, results, info)) return outcome_exit_code(Outcome::infra_error);
    if (!write_json_option("kmatrix exec", o.json_path, exec_results_json(o.command, info.files, results)))
        return outcome_exit_code(Outcome::infra_error);
    std::cout << "\n" << exec_text(results) << "\n" << summary_table(results);
    if (info.interrupted) std::cout << "interrupted: partial results\n";
    std::cout << "reports: " << o.out << "/index.html, " << o.out << "/summary.md, " << o.out << "/exec.json, " << o.out
              << "/<kernel>/junit.xml\n";
    return run_exit_code(results, info.interrupted);
}

// Two failure classes need a guest unlike every kernels.txt cell, so the lab boots one kernel
// twice more: as an unprivileged loader (not-permitted) and without the clsact and cls_bpf
// modules (missing-module). /init reads these switches from the kernel command line, where
// the entry's cmdline comes after the plan's, so a variant is only an entry with more cmdline.
void add_lab_variants(std::vector<KernelEntry>& entries, const std::string& base_name) {
    auto base = std::find_if(entries.begin(), entries.end(), [&](const KernelEntry& e) { return e.name == base_name; });
    if (base == entries.end()) return;
    const KernelEntry copy = *base;
    for (const auto& [suffix, switches] : {std::pair<const char*, const char*>{"+unprivileged", "kmatrix.check_unprivileged=1"},
                                           {"+nomodules", "kmatrix.modules=none"}}) {
        KernelEntry v = copy;
        v.name += suffix;
        v.cmdline = (copy.cmdline.empty() ? std::string() : copy.cmdline + " ") + switches;
        entries.push_back(v);
    }
}

int cmd_lab(const std::vector<std::string>& args) {
    Options o;
    if (auto done = parse_command(args, Verb::lab, "lab", o)) return *done;
    std::optional<ExpectedGrid> expected;
    if (o.write_expected.empty()) {
        try {
            expected = parse_expected_grid(read_file(o.expect));
        } catch (const Error& e) {
            std::cerr << "kmatrix lab: " << o.expect << ": " << e.what() << "\n";
            return kUsage;
        }
    }
    try {
        o.objects = list_fixture_objects(o.fixtures);
    } catch (const Error& e) {
        std::cerr << "kmatrix lab: " << e.what() << "\n";
        return kUsage;
    }
    std::vector<KernelEntry> entries;
    if (!selected_kernels(o, entries)) return kUsage;
    add_lab_variants(entries, o.variants_of);
    SetupErrors setup_errors;
    RunSettings settings = base_settings(o, entries, setup_errors);
    std::size_t objects = 0;
    if (!stage_objects("kmatrix lab", o, o.objects, settings, entries, objects)) return kUsage;
    std::cerr << "kmatrix lab: " << objects << " fixture objects on " << entries.size() << " kernel(s)\n";
    RunInfo info;
    std::vector<CellResult> results = run_check(o, entries, settings, setup_errors, info);
    if (!write_all_reports(o.out, results, info)) return 1;
    std::cout << "\n" << summary_table(results) << "\n" << check_grid_text(results) << "\n" << check_tally(results);
    if (!o.write_expected.empty()) {
        write_file_atomic(o.write_expected, expected_grid_text(results));
        std::cout << "wrote the observed grid to " << o.write_expected << "\n";
        return 0;
    }
    std::vector<std::string> differences = compare_with_expected(*expected, results);
    for (const auto& d : differences) std::cout << "lab: " << d << "\n";
    std::cout << "lab: " << (differences.empty() ? "the grid matches " : std::to_string(differences.size()) +
                                                                            " difference(s) from ")
              << o.expect << "\n";
    return differences.empty() && !info.interrupted ? 0 : 1;
}

// The initramfs sha256 the last `kmatrix run` recorded for NAME, to show repro boots the same bytes.
std::string recorded_initramfs_sha(const std::string& out, const std::string& name) {
    try {
        auto j = nlohmann::json::parse(read_file(out + "/results.json"));
        for (const auto& k : j.at("kernels"))
            if (k.value("name", "") == name) return k.value("initramfs_sha256", "");
    } catch (const std::exception&) {
        // No earlier run, or an unreadable report: nothing to compare against.
    }
    return {};
}

int cmd_repro(const std::vector<std::string>& args) {
    Options o;
    if (auto done = parse_command(args, Verb::repro, "repro", o)) return *done;
    std::vector<KernelEntry> entries;
    try {
        entries = o.source.load_kernels();
    } catch (const Error& e) {
        std::cerr << "kmatrix: " << e.what() << "\n";
        return kUsage;
    }
    auto it = std::find_if(entries.begin(), entries.end(), [&](const KernelEntry& e) { return e.name == o.name; });
    if (o.name.empty() || it == entries.end()) {
        std::cerr << (o.name.empty() ? "kmatrix repro: which kernel?" : "kmatrix repro: no kernel named '" + o.name + "'")
                  << " Known:";
        for (const auto& e : entries) std::cerr << " " << e.name;
        std::cerr << "\n";
        return kUsage;
    }
    const KernelEntry& entry = *it;
    if (o.shell && !::isatty(0)) {
        std::cerr << "kmatrix repro: --shell needs a terminal on stdin (ssh -t, docker run -it)\n";
        return kUsage;
    }

    SetupErrors setup_errors;
    RunSettings settings = base_settings(o, {entry}, setup_errors);
    if (!setup_errors.empty()) {
        std::cerr << "kmatrix repro: " << setup_errors.begin()->second << "\n";
        return outcome_exit_code(Outcome::infra_error);
    }
    std::optional<TempDir> tmp;
    if (o.keep) {
        settings.out_dir = o.out + "/repro";
    } else {
        tmp.emplace("kmatrix-repro");
        settings.out_dir = tmp->path();
    }
    settings.keep_initramfs = o.keep;
    settings.interactive = o.shell;
    settings.plan.mode = o.shell ? (o.test.empty() ? GuestMode::shell : GuestMode::suite_then_shell)
                                 : (o.test.empty() ? GuestMode::load_check : GuestMode::suite);
    if (!o.object.empty()) {
        std::size_t objects = 0;
        std::vector<KernelEntry> kernel{entry};
        if (!stage_objects("kmatrix repro", o, {o.object}, settings, kernel, objects)) return kUsage;
        settings.plan.mode = o.shell ? GuestMode::check_then_shell : GuestMode::check;
        settings.plan.check_log_limit = 8 << 20;  // the full log, within reason for a serial port
        settings.plan.check_size_maps = o.size_maps;
    }
    if (!stage_files("kmatrix repro", o, settings)) return kUsage;
    settings.plan.test_filter = o.test.empty() ? "*" : o.test;
    settings.plan.full_verifier_log = true;

    SignalScope signals;
    KernelCache cache(o.source.cache_root(), o.source.offline);
    cache.cancel_on(g_cancel);
    std::mutex fetch_mu;
    CellResult unrun;
    auto spec = fetch_cell(cache, fetch_mu, entry,
                           [](const std::string& k, const std::string& msg) { std::cerr << "[" << k << "] " << msg << "\n"; },
                           unrun);
    if (!spec) {
        std::cout << "outcome: " << outcome_name(unrun.cls.outcome) << ": " << unrun.cls.reason << "\n";
        return outcome_exit_code(unrun.cls.outcome);
    }
    AccelChooser chooser = make_chooser(o, [](const std::string& msg) { std::cerr << "kmatrix: " << msg << "\n"; });
    std::cerr << "kernel:    " << spec->vmlinuz << " (sha256 " << spec->image_sha256 << ")\n";
    std::cerr << "boot:      " << spec->boot << "\n";
    if (o.shell) std::cerr << "kmatrix: interactive VM; exit the shell to power off, or Ctrl-A x to quit QEMU\n";
    std::string last_state;
    CellResult r = run_cell(*spec, settings, chooser, &g_cancel, [&](const std::string& s) {
        if (o.shell || s == last_state) return;
        last_state = s;
        std::cerr << "[" << entry.name << "] " << s << "\n";
    });
    std::string recorded = recorded_initramfs_sha(o.out, entry.name);
    const bool brought = !o.files.empty() || !o.object.empty();
    std::cerr << "initramfs: sha256 " << r.initramfs_sha256
              << (recorded.empty()                        ? ""
                  : recorded == r.initramfs_sha256 ? " (same bytes as the last run)"
                                                   : " (differs from the last run: " + recorded +
                                                         (brought ? "; this one also holds the files brought along)" : ")"))
              << "\ncmdline:   " << r.cmdline << "\naccel:     " << r.accel << "\n";

    const auto& ck = r.suite.check;
    if (!o.object.empty()) {
        std::cout << "--- flowattr check " << o.object << " on " << entry.name << " (exit " << ck.rc << ") ---\n";
        diagnose::print_check_report(ck.programs, true, std::cout);
        if (!ck.output.empty()) std::cout << "--- flowattr check stderr ---\n" << ck.output;
    }
    const auto& lc = r.suite.load_check;
    if (lc.ran) std::cout << "--- flowattr load --check --full-log (exit " << lc.rc << ") ---\n" << lc.output;
    for (const auto& t : r.suite.tests) {
        std::cout << "--- " << t.name << ": " << t.result << (t.timed_out ? " (timed out)" : "") << " ---\n";
        if (!t.output.empty()) std::cout << t.output;
        if (!t.splat.empty()) std::cout << "kernel splat: " << t.splat << "\n";
    }
    if (!r.console_log.empty() && (r.cls.outcome == Outcome::boot_fail || r.cls.outcome == Outcome::panic ||
                                   r.cls.outcome == Outcome::splat || r.cls.outcome == Outcome::timeout)) {
        std::string console;
        try {
            console = read_file(r.console_log);
        } catch (const Error&) {
        }
        std::size_t from = console.size() > 6000 ? console.size() - 6000 : 0;
        std::cout << "--- console (last " << console.size() - from << " bytes) ---\n" << console.substr(from);
    }
    std::cout << "outcome: " << outcome_name(r.cls.outcome) << (r.cls.reason.empty() ? "" : ": " + r.cls.reason)
              << (r.cls.test.empty() ? "" : " [" + r.cls.test + "]") << "\n";
    if (o.keep && !r.dir.empty()) std::cout << "kept: " << r.dir << "\n";
    if (!o.object.empty() && r.cls.outcome == Outcome::pass) return check_exit_code({r}, false);
    return outcome_exit_code(r.cls.outcome);
}

}  // namespace

int run_kmatrix_cli(int argc, char** argv) {
    auto app = cli::make_app("kmatrix", "kmatrix: flowattr's kernel matrix, every kernel of kernels.txt under QEMU.");
    app->footer("Run `kmatrix COMMAND --help` for a command's options.");
    using Command = std::function<int(const std::vector<std::string>&)>;
    std::vector<std::pair<CLI::App*, Command>> commands;
    auto add = [&](const std::string& name, const std::string& description, Command command) {
        CLI::App* sub = app->add_subcommand(name, description);
        // The command parses its own words, --help included (command_app, fetch_cli.cpp).
        sub->set_help_flag();
        sub->prefix_command();
        commands.emplace_back(sub, std::move(command));
    };
    add("run", verb_description(Verb::run), cmd_run);
    add("repro", verb_description(Verb::repro), cmd_repro);
    add("check", verb_description(Verb::check), cmd_check);
    add("lab", verb_description(Verb::lab), cmd_lab);
    add("exec", verb_description(Verb::exec), cmd_exec);
    add("fetch", fetch_description(), [](const auto& args) { return run_fetch_cli(args, std::cout, std::cerr); });
    add("list", list_description(), [](const auto& args) { return run_list_cli(args, std::cout, std::cerr); });
    add("help", "this help", [&app](const auto&) {
        std::cout << cli::program_help(*app);
        return 0;
    });
    // Set last: subcommands take the setting their parent has when they are added.
    app->allow_extras();

    const std::vector<std::string> args(argv + std::min(argc, 1), argv + argc);
    if (args.empty()) {
        std::cerr << app->help();
        return kUsage;
    }
    if (auto done = cli::parse(*app, args, std::cout, std::cerr)) return *done;
    for (const auto& [sub, command] : commands) {
        if (!sub->parsed()) continue;
        try {
            return command(sub->remaining());
        } catch (const Error& e) {
            std::cerr << "kmatrix " << sub->get_name() << ": " << e.what() << "\n";
            if (!e.log().empty()) std::cerr << e.log() << "\n";
            return outcome_exit_code(Outcome::infra_error);
        }
    }
    std::cerr << cli::unknown_command(*app, args.front()) << "\n";
    return kUsage;
}

}  // namespace flowattr::matrix
