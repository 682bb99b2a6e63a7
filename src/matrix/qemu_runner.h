#pragma once
// Boots one matrix VM under QEMU and watches it: builds the argv and kernel command line,
// picks KVM only when a short probe boot proves it works (on nested hosts a KVM guest can
// hang right after the BIOS), enforces boot / idle / whole-VM timeouts, reads the results
// channel while the guest runs, and always reaps QEMU's whole process group.
#include <sys/types.h>

#include <atomic>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "matrix/kernel_list.h"

namespace flowattr::matrix {

enum class Accel { kvm, tcg };
const char* accel_name(Accel a);

// Host-side limits, seconds. The per-test limit is enforced by /init; the host's idle
// limit only catches a guest that stopped reporting altogether (deadlock, hung printk).
struct Timeouts {
    double boot_s;   // QEMU start -> the first line on the results channel
    double idle_s;   // max silence on the results channel once /init runs
    double vm_s;     // whole VM
    int per_test_s;  // passed to the guest
    // TCG runs the same guest 3-10x slower than KVM, so every limit is scaled for it.
    static Timeouts for_accel(Accel a, double scale = 1.0);
};

struct QemuConfig {
    Arch arch = host_arch();  // machine, console and results device (guest_arch.h)
    std::string qemu = "qemu-system-x86_64";
    int memory_mb = 512;
    Accel accel = Accel::tcg;
    std::string kernel, initrd, append;  // initrd "": none (the KVM probe boots the kernel alone)
    std::string console_log;  // the console (ttyS0, ttyAMA0); unused when interactive
    std::string results;      // the results channel (ttyS1, hvc0); "": none
    std::string qemu_log;     // QEMU's own stdout/stderr; unused when interactive
    bool interactive = false; // console (and QEMU monitor, Ctrl-A x) on this terminal
};

// "console=<arch's console> panic=-1 quiet cryptomgr.notests <arch's args> <entry cmdline> <plan> <extra>".
// panic=-1 turns a panic into an immediate reboot, which -no-reboot turns into QEMU exiting:
// a panic ends the VM at once instead of hanging until a timeout. quiet keeps the emulated
// UART (slow under TCG: ~2 s of boot) to warnings and worse; `--cmdline loglevel=7` brings
// the rest back. cryptomgr.notests skips the crypto API's boot-time self-tests, nothing BPF
// uses: under TCG they were about 0.4 s of an x86_64 boot to /init (docs/PERFORMANCE.md).
// An oops is not made fatal (no oops=panic) so it is reported as a splat of the test that
// caused it. An empty part adds nothing.
std::string kernel_cmdline(Arch arch, const std::string& entry_cmdline, const std::string& plan, const std::string& extra);

std::vector<std::string> build_qemu_argv(const QemuConfig& cfg);

// Chooses the accelerator once per process. KVM is used only when it was asked for or
// when /dev/kvm is usable AND the probe (a short real boot) succeeds; otherwise TCG, and
// the reason is reported once through NOTE.
class AccelChooser {
public:
    using Probe = std::function<bool(const std::string& kernel)>;
    using Note = std::function<void(const std::string&)>;
    // REQUESTED: "auto", "kvm" or "tcg". Throws flowattr::Error for anything else.
    AccelChooser(std::string requested, std::function<bool()> kvm_device_usable, Probe probe, Note note);
    // KERNEL: a vmlinuz the probe may boot (the first cell's). Throws flowattr::Error when
    // "kvm" was requested and /dev/kvm cannot be used.
    Accel choose(const std::string& kernel);
    const std::string& reason() const { return reason_; }

private:
    std::string requested_;
    std::function<bool()> device_usable_;
    Probe probe_;
    Note note_;
    std::mutex mu_;
    std::optional<Accel> chosen_;
    std::string reason_;
};

// The KVM probe's verdict kept for the rest of this boot of the machine, in one small file:
// every probe boots a VM (until the kernel's banner, or up to 4 s where KVM guests hang)
// before a kmatrix command's first x86_64 VM can start. Keyed by the kernel's boot_id and the QEMU named: a reboot, or
// another QEMU, probes again (so does deleting the file).
class KvmVerdictFile {
public:
    // BOOT_ID: /proc/sys/kernel/random/boot_id's text (the default reads it).
    KvmVerdictFile(std::string path, std::string qemu, std::string boot_id = "");
    // The verdict stored for this boot and QEMU; nullopt when none is (or the file is unreadable).
    std::optional<bool> load() const;
    // Throws flowattr::Error when the file cannot be written.
    void store(bool kvm_boots) const;
    const std::string& path() const { return path_; }

private:
    std::string path_, qemu_, boot_id_;
};

bool kvm_device_usable();
// Boots KERNEL under KVM with no initramfs and waits up to TIMEOUT_S for the kernel's
// banner on the console. A working KVM prints it in well under a second; the nested-virt
// hang prints nothing.
bool probe_kvm_boot(const std::string& qemu, const std::string& kernel, double timeout_s);

// A QEMU running while the caller watches it (run_command waits instead), started by the
// one spawn() of common/subprocess.h: in its own process group (unless interactive: it then
// needs the terminal's foreground group). Destruction kills the group and reaps the child:
// no QEMU outlives its owner, whichever way the owner leaves. PR_SET_PDEATHSIG covers the
// owner dying.
class ChildProcess {
public:
    // OUTPUT_PATH: stdout+stderr file ("" = inherit). Throws flowattr::Error when QEMU
    // cannot be started (carrying execvp's errno).
    ChildProcess(const std::vector<std::string>& argv, const std::string& output_path, bool own_group);
    ~ChildProcess();
    ChildProcess(const ChildProcess&) = delete;
    ChildProcess& operator=(const ChildProcess&) = delete;

    pid_t pid() const { return pid_; }
    // The wait status once the child exited, without blocking.
    std::optional<int> poll();
    // TERM to the group, up to GRACE_S to exit, then KILL; reaps. Returns the wait status.
    int terminate(double grace_s = 2.0);

private:
    pid_t pid_ = -1;
    bool own_group_;
    std::optional<int> status_;
};

enum class VmEnd { exited, boot_timeout, idle_timeout, vm_timeout, cancelled };
const char* vm_end_name(VmEnd e);

// Seconds since the Unix epoch: the clock of every timeline mark.
double wall_clock_now();

struct VmRun {
    VmEnd end = VmEnd::exited;
    int exit_code = -1;    // QEMU's exit code, or 128+signal
    double limit_s = 0;    // the limit that expired, for boot/idle/vm timeouts
    double spawn = 0, exit = 0;  // wall clock (seconds since the Unix epoch)
    std::string console;   // console log text (empty when interactive)
    std::string qemu_log;  // QEMU's own messages
};

// One line of the results channel, without its newline, as it arrives.
using LineFn = std::function<void(const std::string& line)>;

// Runs one VM to completion. CANCEL (may be null) is polled; once set, QEMU is killed and
// the run ends as `cancelled`. ON_LINE sees every line of the results channel: the runner
// knows lines and silences, not what the guest says (vm_suite.h reads that). Throws
// flowattr::Error only when QEMU cannot be started.
VmRun run_vm(const QemuConfig& cfg, const Timeouts& limits, const std::atomic<bool>* cancel, const LineFn& on_line);

}  // namespace flowattr::matrix
