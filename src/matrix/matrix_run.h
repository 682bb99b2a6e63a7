#pragma once
// One matrix cell end to end (initramfs -> QEMU -> outcome) and a pool running many cells
// in parallel. Independent of where kernels come from: the CLI turns fetched kernels into
// CellSpecs, so this layer is testable with any vmlinuz on disk.
#include <atomic>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "matrix/initramfs.h"
#include "matrix/outcome.h"
#include "matrix/qemu_runner.h"
#include "matrix/vm_suite.h"

namespace flowattr::matrix {

struct CellSpec {
    std::string name, version;
    Arch arch = host_arch();
    std::string entry_cmdline;  // kernels.txt cmdline ("-" none)
    std::string image_sha256;
    std::string vmlinuz;
    std::string modules_dir;
    std::string channel_modules_dir;  // "" when the results channel needs no module
    std::string busybox;              // the kernel source's own busybox; "" for the binaries'
    std::string pvh_vmlinux;          // what QEMU starts when set (KernelImage::pvh_vmlinux), else vmlinuz
    std::string boot;                 // KernelImage::boot
};

struct RunSettings {
    std::string out_dir = "out/matrix";
    // The VM binaries per architecture; modules_dir, channel_modules_dir and (when the
    // kernel brings one) busybox are taken per cell.
    std::map<Arch, InitramfsInputs> binaries;
    std::string qemu;  // "" for the architecture's own (guest_arch.h)
    int memory_mb = 512;
    double timeout_scale = 1.0;
    std::string extra_cmdline;
    GuestPlan plan;
    // exec: the command's own limit in seconds (0: the per-test one); the VM's idle and
    // whole-run limits grow with it, since the guest is silent while the command runs.
    int command_timeout_s = 0;
    bool interactive = false;
    bool keep_initramfs = false;
};

// Wall-clock marks (seconds since the Unix epoch; 0 = never reached) for the timeline.
struct VmMarks {
    double spawn = 0, init = 0, first_test = 0, done = 0, exit = 0;
};

struct CellTimings {
    double to_init = -1;             // QEMU start -> /init's first record (host seconds)
    double init_to_first_test = -1;  // /init's first record -> test list
    double vm = -1;                  // QEMU start -> exit
};

struct CellResult {
    std::string name, version;
    Arch arch = host_arch();
    std::string image_sha256, initramfs_sha256;
    std::string accel;    // "kvm"/"tcg", empty when no VM ran
    std::string cmdline;  // the full kernel command line booted
    std::string qemu_command;  // the QEMU command line run, shell-quoted: what a boot-fail reproduces with
    std::string boot;          // how QEMU started the kernel (KernelImage::boot)
    std::string dir;      // this cell's output directory
    std::string console_log;  // path, empty when none was written
    Classification cls;
    SuiteResults suite;
    VmMarks marks;
    CellTimings timings;
    bool ran_vm = false;
};

// A cell that never reached QEMU (unavailable/unsupported kernel, fetch or artifact error).
CellResult unrun_cell(const std::string& name, const std::string& version, Outcome outcome, const std::string& reason,
                      Arch arch = host_arch());

// Directory-safe form of a kernel name ("5.10-nolsm" stays, '/' and blanks become '_').
std::string cell_dir_name(const std::string& name);

using StateFn = std::function<void(const std::string& state)>;

// Builds the initramfs into the cell directory, boots it, classifies. Never throws:
// every failure becomes the cell's outcome (infra-error when the runner itself failed).
CellResult run_cell(const CellSpec& spec, const RunSettings& settings, AccelChooser& accel,
                    const std::atomic<bool>* cancel, const StateFn& state = {});

// "state" of a running cell for progress displays, from the records seen so far; empty
// when the record is not worth a progress line.
std::string describe_progress(guest::RecordType record_type, const SuiteResults& so_far);

// Runs JOB(i) for i in [0, count) on up to JOBS threads; returns when all are done.
void run_pool(std::size_t count, int jobs, const std::function<void(std::size_t)>& job);

// Default parallelism: one VM more than CORES, within half of AVAILABLE_KB at MEMORY_MB
// (+ QEMU's own overhead) per VM; at least 1. default_jobs asks this machine.
int jobs_for(long cores, long long available_kb, int memory_mb);
int default_jobs(int memory_mb);

}  // namespace flowattr::matrix
