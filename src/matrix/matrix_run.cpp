#include "matrix/matrix_run.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <thread>

#include "common/error.h"
#include "common/file.h"
#include "common/sha256.h"
#include "common/subprocess.h"
#include "matrix/guest_arch.h"

namespace flowattr::matrix {

namespace {

double seconds_between(double from, double to) { return from > 0 && to > 0 ? to - from : -1; }

}  // namespace

std::string cell_dir_name(const std::string& name) {
    std::string out;
    for (char c : name) {
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                  c == '-' || c == '_' || c == '+';
        out.push_back(ok ? c : '_');
    }
    if (out.empty() || out == "." || out == "..") out = "_" + out;
    return out;
}

CellResult unrun_cell(const std::string& name, const std::string& version, Outcome outcome, const std::string& reason,
                      Arch arch) {
    CellResult r;
    r.name = name;
    r.version = version;
    r.arch = arch;
    r.cls = {outcome, reason, {}};
    return r;
}

std::string describe_progress(guest::RecordType type, const SuiteResults& s) {
    using guest::RecordType;
    switch (type) {
        case RecordType::init:
        case RecordType::mounts: return "setting up";
        case RecordType::setup:
            return s.mode == GuestMode::shell ? "shell"
                   : s.mode && guest::mode_execs(*s.mode) ? "running the command"
                                                          : "probing features";
        case RecordType::probe: return s.mode && guest::mode_checks(*s.mode) ? "checking objects" : "load check";
        // Every 25th program: a line per program would flood a CI log with hundreds of lines.
        case RecordType::check:
            return s.check.programs.size() % 25 == 0 ? "checked " + std::to_string(s.check.programs.size()) + " programs"
                                                     : std::string();
        case RecordType::load_check: return s.mode == GuestMode::load_check ? "shutting down" : "listing tests";
        // A finished test changes nothing worth a line: the next "begin" follows at once.
        case RecordType::test: return {};
        case RecordType::list: return s.list_ok ? "running " + std::to_string(s.tests_listed) + " tests" : "listing failed";
        case RecordType::begin: {
            int n = s.tests_listed < 0 ? 0 : s.tests_listed;
            int k = int(s.tests.size()) + (s.running_test ? 1 : 0);
            std::string st = "test " + std::to_string(std::min(k, n)) + "/" + std::to_string(n);
            if (s.running_test) st += " " + *s.running_test;
            return st;
        }
        case RecordType::check_done:
        case RecordType::exec:
        case RecordType::done: return "shutting down";
    }
    return {};
}

CellResult run_cell(const CellSpec& spec, const RunSettings& settings, AccelChooser& chooser,
                    const std::atomic<bool>* cancel, const StateFn& state) {
    CellResult r;
    r.name = spec.name;
    r.version = spec.version;
    r.arch = spec.arch;
    r.image_sha256 = spec.image_sha256;
    r.boot = spec.boot;
    auto say = [&](const std::string& s) {
        if (state) state(s);
    };
    try {
        r.dir = settings.out_dir + "/" + cell_dir_name(spec.name);
        make_directories(r.dir);
        say("building initramfs");
        const GuestArch& arch = guest_arch(spec.arch);
        auto binaries = settings.binaries.find(spec.arch);
        if (binaries == settings.binaries.end())
            throw Error(std::string("no VM binaries for ") + arch_name(spec.arch) + " were looked up");
        InitramfsInputs inputs = binaries->second;
        inputs.arch = spec.arch;
        inputs.modules_dir = spec.modules_dir;
        inputs.channel_modules_dir = spec.channel_modules_dir;
        if (!spec.busybox.empty()) {
            inputs.busybox = spec.busybox;
            inputs.busybox_applets.clear();  // the guest links them (it cannot be run here)
        }
        std::string initramfs = build_initramfs(inputs);
        r.initramfs_sha256 = sha256_hex(initramfs);
        std::string initrd_path = r.dir + "/initramfs.cpio";
        write_file_atomic(initrd_path, initramfs);

        if (cancel && cancel->load()) {
            r.cls = {Outcome::infra_error, "interrupted before the VM started", {}};
            return r;
        }
        // KVM runs the host's architecture only.
        Accel accel = Accel::tcg;
        if (spec.arch == host_arch()) {
            say("probing accelerator");
            accel = chooser.choose(spec.vmlinuz);
        }
        r.accel = accel_name(accel);
        Timeouts limits = Timeouts::for_accel(accel, settings.timeout_scale * (accel == Accel::tcg ? arch.tcg_scale : 1.0));
        GuestPlan plan = settings.plan;
        plan.results_tty = arch.results_tty;
        plan.per_test_timeout_s = limits.per_test_s;
        if (settings.command_timeout_s > 0) {
            plan.per_test_timeout_s = settings.command_timeout_s;
            limits.idle_s = std::max(limits.idle_s, settings.command_timeout_s + limits.idle_s - limits.per_test_s);
            limits.vm_s = std::max(limits.vm_s, settings.command_timeout_s + limits.vm_s - limits.per_test_s);
        }
        r.cmdline = kernel_cmdline(spec.arch, spec.entry_cmdline, guest_plan_cmdline(plan), settings.extra_cmdline);

        QemuConfig cfg;
        cfg.arch = spec.arch;
        cfg.qemu = settings.qemu.empty() ? arch.qemu : settings.qemu;
        cfg.memory_mb = settings.memory_mb;
        cfg.accel = accel;
        cfg.kernel = spec.pvh_vmlinux.empty() ? spec.vmlinuz : spec.pvh_vmlinux;
        cfg.initrd = initrd_path;
        cfg.append = r.cmdline;
        cfg.console_log = r.dir + "/console.log";
        cfg.results = r.dir + "/results.jsonl";
        cfg.qemu_log = r.dir + "/qemu.log";
        cfg.interactive = settings.interactive;
        r.qemu_command = format_argv(build_qemu_argv(cfg));
        say("booting");
        VmRun run = run_vm(cfg, limits, cancel, [&](const std::string& line) {
            auto type = r.suite.add_line(line);
            if (!type) return;
            double now = wall_clock_now();
            if (*type == guest::RecordType::init) r.marks.init = now;
            // The tests start after the list; an exec's command right after the setup.
            bool starts = *type == guest::RecordType::list ||
                          (*type == guest::RecordType::setup && r.suite.mode && guest::mode_execs(*r.suite.mode));
            if (starts && !r.marks.first_test) r.marks.first_test = now;
            if (*type == guest::RecordType::done) r.marks.done = now;
            std::string st = describe_progress(*type, r.suite);
            if (!st.empty()) say(st);
        });
        r.ran_vm = true;
        r.console_log = settings.interactive ? std::string() : cfg.console_log;
        r.marks.spawn = run.spawn;
        r.marks.exit = run.exit;
        r.timings.to_init = seconds_between(r.marks.spawn, r.marks.init);
        r.timings.init_to_first_test = seconds_between(r.marks.init, r.marks.first_test);
        r.timings.vm = seconds_between(r.marks.spawn, r.marks.exit);
        r.cls = classify({run.end, run.exit_code, run.limit_s, run.console, run.qemu_log, r.suite});
        if (!settings.keep_initramfs) std::remove(initrd_path.c_str());
    } catch (const std::exception& e) {
        r.cls = {Outcome::infra_error, e.what(), {}};
    }
    return r;
}

void run_pool(std::size_t count, int jobs, const std::function<void(std::size_t)>& job) {
    std::size_t workers = std::min<std::size_t>(count, std::size_t(std::max(1, jobs)));
    std::mutex mu;
    std::size_t next = 0;
    std::vector<std::thread> threads;
    for (std::size_t w = 0; w < workers; w++) {
        threads.emplace_back([&] {
            for (;;) {
                std::size_t i;
                {
                    std::lock_guard<std::mutex> lock(mu);
                    if (next >= count) return;
                    i = next++;
                }
                job(i);
            }
        });
    }
    for (auto& t : threads) t.join();
}

int jobs_for(long cores, long long available_kb, int memory_mb) {
    // A VM is one emulator thread (one vCPU), idle while its guest waits on a condition, a
    // sleep or an RCU grace period: in the matrix its tests spend about as long waiting as
    // working (idle_s against busy_s in results.json), so two VMs a core, and one more, keep
    // every core busy. 9 VMs under TCG on 2 cores: -j3 75.9 to 78.9 s, -j4 77.0, -j5 66.6 to
    // 71.2, -j6 66.9 and 69.1, -j9 66.9 (PERFORMANCE.md).
    const long by_cores = 2 * (cores > 0 ? cores : 1) + 1;
    // QEMU/TCG needs ~200 MiB beyond guest RAM (translation cache, device model).
    const long long per_vm_kb = (long long)(memory_mb + 200) * 1024;
    const long long by_memory = available_kb > 0 ? (available_kb / 2) / per_vm_kb : 1;
    return int(std::max(1LL, std::min<long long>(by_cores, by_memory)));
}

int default_jobs(int memory_mb) {
    long long avail_kb = 0;
    std::ifstream in("/proc/meminfo");
    std::string key;
    long long value;
    std::string unit;
    while (in >> key >> value >> unit)
        if (key == "MemAvailable:") avail_kb = value;
    return jobs_for(sysconf(_SC_NPROCESSORS_ONLN), avail_kb, memory_mb);
}

}  // namespace flowattr::matrix
