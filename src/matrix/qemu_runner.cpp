#include "matrix/qemu_runner.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "common/error.h"
#include "common/file.h"
#include "common/subprocess.h"
#include "common/unique_fd.h"
#include "matrix/guest_arch.h"

#include <nlohmann/json.hpp>

namespace flowattr::matrix {

double wall_clock_now() {
    return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

namespace {

// QEMU option values use ',' as a separator; a literal comma is written twice.
std::string qemu_escape(const std::string& s) {
    std::string out;
    for (char c : s) {
        out.push_back(c);
        if (c == ',') out.push_back(',');
    }
    return out;
}

int decode_status(int status) {
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
    return -1;
}

// Reads what a file grew by since the last call; the file may not exist yet (QEMU
// creates it once it has parsed its options).
class FileTail {
public:
    explicit FileTail(std::string path) : path_(std::move(path)) {}
    std::string read_new() {
        if (fd_.get() < 0) {
            fd_.reset(::open(path_.c_str(), O_RDONLY | O_CLOEXEC));
            if (fd_.get() < 0) return {};
        }
        std::string out;
        char buf[65536];
        for (;;) {
            ssize_t n = ::read(fd_.get(), buf, sizeof buf);
            if (n > 0) {
                out.append(buf, std::size_t(n));
                continue;
            }
            if (n < 0 && errno == EINTR) continue;
            break;
        }
        return out;
    }

private:
    std::string path_;
    UniqueFd fd_;
};

}  // namespace

const char* accel_name(Accel a) { return a == Accel::kvm ? "kvm" : "tcg"; }

Timeouts Timeouts::for_accel(Accel a, double scale) {
    // KVM figures are generous multiples of what a healthy boot and test take; TCG gets
    // 4x (measured: a TCG boot to /init takes 2-3 s vs well under 1 s with KVM, and BPF
    // verification is CPU-bound).
    double k = (a == Accel::tcg ? 4.0 : 1.0) * (scale > 0 ? scale : 1.0);
    Timeouts t;
    t.boot_s = 20 * k;
    t.per_test_s = int(30 * k);
    t.idle_s = t.per_test_s + 15 * k;
    t.vm_s = 300 * k;
    return t;
}

std::string kernel_cmdline(Arch arch, const std::string& entry_cmdline, const std::string& plan, const std::string& extra) {
    const GuestArch& a = guest_arch(arch);
    std::string s = std::string("console=") + a.console + " panic=-1 quiet cryptomgr.notests";
    const std::string arch_args = a.kernel_args;
    for (const std::string* part : {&arch_args, &entry_cmdline, &plan, &extra})
        if (!part->empty()) s += " " + *part;
    return s;
}

std::vector<std::string> build_qemu_argv(const QemuConfig& cfg) {
    std::vector<std::string> a = {cfg.qemu, "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
                                  "-m", std::to_string(cfg.memory_mb)};
    const GuestArch& arch = guest_arch(cfg.arch);
    if (cfg.accel == Accel::kvm) {
        a.insert(a.end(), {"-accel", "kvm", "-cpu", "host"});
    } else {
        a.insert(a.end(), {"-accel", "tcg"});
        a.insert(a.end(), arch.tcg_machine.begin(), arch.tcg_machine.end());
    }
    a.insert(a.end(), {"-kernel", cfg.kernel});
    if (!cfg.initrd.empty()) a.insert(a.end(), {"-initrd", cfg.initrd});
    a.insert(a.end(), {"-append", cfg.append});
    if (cfg.interactive) {
        // Console and monitor share the terminal (Ctrl-A x quits); signal=off hands
        // Ctrl-C to the guest's shell instead of killing QEMU.
        a.insert(a.end(), {"-chardev", "stdio,id=con,mux=on,signal=off", "-serial", "chardev:con", "-mon",
                           "chardev=con,mode=readline"});
    } else {
        a.insert(a.end(), {"-chardev", "file,id=con,path=" + qemu_escape(cfg.console_log), "-serial", "chardev:con"});
    }
    // The results channel, apart from the console so kernel messages cannot split a record.
    if (!cfg.results.empty()) {
        a.insert(a.end(), {"-chardev", "file,id=res,path=" + qemu_escape(cfg.results)});
        a.insert(a.end(), arch.results_device.begin(), arch.results_device.end());
    }
    return a;
}

AccelChooser::AccelChooser(std::string requested, std::function<bool()> kvm_device_usable_fn, Probe probe, Note note)
    : requested_(std::move(requested)),
      device_usable_(std::move(kvm_device_usable_fn)),
      probe_(std::move(probe)),
      note_(std::move(note)) {
    if (requested_ != "auto" && requested_ != "kvm" && requested_ != "tcg")
        throw Error("unknown accelerator '" + requested_ + "' (want auto, kvm or tcg)");
}

Accel AccelChooser::choose(const std::string& kernel) {
    std::lock_guard<std::mutex> lock(mu_);
    if (chosen_) return *chosen_;
    if (requested_ == "tcg") {
        chosen_ = Accel::tcg;
        reason_ = "TCG requested";
    } else if (requested_ == "kvm") {
        if (!device_usable_()) throw Error("KVM requested but /dev/kvm cannot be opened", EACCES);
        chosen_ = Accel::kvm;
        reason_ = "KVM requested";
    } else if (!device_usable_()) {
        chosen_ = Accel::tcg;
        reason_ = "/dev/kvm not usable; using TCG (slower, timeouts scaled)";
    } else if (!probe_(kernel)) {
        chosen_ = Accel::tcg;
        reason_ = "KVM probe boot did not reach the kernel banner; using TCG (slower, timeouts scaled)";
    } else {
        chosen_ = Accel::kvm;
        reason_ = "KVM probe boot succeeded";
    }
    if (note_ && *chosen_ == Accel::tcg && requested_ == "auto") note_(reason_);
    return *chosen_;
}

KvmVerdictFile::KvmVerdictFile(std::string path, std::string qemu, std::string boot_id)
    : path_(std::move(path)), qemu_(std::move(qemu)), boot_id_(std::move(boot_id)) {
    if (boot_id_.empty()) {
        try {
            boot_id_ = read_file("/proc/sys/kernel/random/boot_id");
        } catch (const Error&) {
            boot_id_.clear();  // no boot_id: nothing is ever taken from the file
        }
        while (!boot_id_.empty() && boot_id_.back() == '\n') boot_id_.pop_back();
    }
}

std::optional<bool> KvmVerdictFile::load() const {
    if (boot_id_.empty()) return std::nullopt;
    try {
        const auto j = nlohmann::json::parse(read_file(path_));
        if (j.value("boot_id", "") != boot_id_ || j.value("qemu", "") != qemu_ || !j.contains("kvm_boots") ||
            !j["kvm_boots"].is_boolean())
            return std::nullopt;
        return j["kvm_boots"].get<bool>();
    } catch (const std::exception&) {
        return std::nullopt;  // unreadable or not ours: probe again, and store() rewrites it
    }
}

void KvmVerdictFile::store(bool kvm_boots) const {
    if (boot_id_.empty()) return;
    write_file_atomic(path_, nlohmann::json{{"boot_id", boot_id_}, {"qemu", qemu_}, {"kvm_boots", kvm_boots}}.dump() + "\n");
}

bool kvm_device_usable() {
    UniqueFd fd(::open("/dev/kvm", O_RDWR | O_CLOEXEC));
    return fd.get() >= 0;
}

bool probe_kvm_boot(const std::string& qemu, const std::string& kernel, double timeout_s) {
    TempDir dir("kmatrix-kvm-probe");
    QemuConfig cfg;
    cfg.qemu = qemu;
    cfg.memory_mb = 256;
    cfg.accel = Accel::kvm;
    cfg.kernel = kernel;
    cfg.append = "console=ttyS0 panic=-1";
    cfg.console_log = dir.path() + "/console";
    try {
        ChildProcess child(build_qemu_argv(cfg), dir.path() + "/qemu.log", true);
        FileTail tail(cfg.console_log);
        std::string seen;
        auto start = std::chrono::steady_clock::now();
        while (std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() < timeout_s) {
            seen += tail.read_new();
            if (seen.find("Linux version") != std::string::npos) return true;
            if (child.poll()) return (seen + tail.read_new()).find("Linux version") != std::string::npos;
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
        return false;
    } catch (const Error&) {
        return false;
    }
}

ChildProcess::ChildProcess(const std::vector<std::string>& argv, const std::string& output_path, bool own_group)
    : own_group_(own_group) {
    SpawnSpec spec;
    spec.argv = argv;
    spec.own_group = own_group;
    UniqueFd out, dev_null;
    if (!output_path.empty()) {
        out = create_output_file(output_path);
        dev_null = open_dev_null();
        spec.stdin_fd = dev_null.get();
        spec.stdout_fd = spec.stderr_fd = out.get();
    }
    pid_ = spawn(spec);
}

ChildProcess::~ChildProcess() {
    if (pid_ <= 0) return;
    if (!status_) terminate(1.0);
    // A pgid stays reserved while any member lives, so this cannot hit a stranger.
    if (own_group_) ::kill(-pid_, SIGKILL);
}

std::optional<int> ChildProcess::poll() {
    if (status_ || pid_ <= 0) return status_;
    int status;
    pid_t r = waitpid(pid_, &status, WNOHANG);
    if (r == pid_) status_ = status;
    return status_;
}

int ChildProcess::terminate(double grace_s) {
    if (poll()) return *status_;
    pid_t target = own_group_ ? -pid_ : pid_;
    ::kill(target, SIGTERM);
    auto start = std::chrono::steady_clock::now();
    while (std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() < grace_s) {
        if (poll()) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    if (!status_) {
        ::kill(target, SIGKILL);
        int status;
        while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
        }
        status_ = status;
    }
    if (own_group_) ::kill(-pid_, SIGKILL);
    return *status_;
}

const char* vm_end_name(VmEnd e) {
    switch (e) {
        case VmEnd::exited: return "exited";
        case VmEnd::boot_timeout: return "boot-timeout";
        case VmEnd::idle_timeout: return "idle-timeout";
        case VmEnd::vm_timeout: return "vm-timeout";
        case VmEnd::cancelled: return "cancelled";
    }
    return "exited";
}

VmRun run_vm(const QemuConfig& cfg, const Timeouts& limits, const std::atomic<bool>* cancel, const LineFn& on_line) {
    VmRun run;
    // Stale output of an earlier run must not be mistaken for this one's.
    std::remove(cfg.results.c_str());
    if (!cfg.interactive) std::remove(cfg.console_log.c_str());
    ChildProcess child(build_qemu_argv(cfg), cfg.interactive ? std::string() : cfg.qemu_log, !cfg.interactive);
    run.spawn = wall_clock_now();
    using clock = std::chrono::steady_clock;
    auto start = clock::now();
    auto last_line = start;
    bool spoke = false;
    FileTail results(cfg.results);
    std::string pending;
    auto since = [](clock::time_point t) { return std::chrono::duration<double>(clock::now() - t).count(); };
    auto take = [&](const std::string& line) {
        if (line.empty() || line == "\r") return;
        spoke = true;
        last_line = clock::now();
        if (on_line) on_line(line);
    };
    auto drain = [&] {
        pending += results.read_new();
        std::size_t nl;
        while ((nl = pending.find('\n')) != std::string::npos) {
            std::string line = pending.substr(0, nl);
            pending.erase(0, nl + 1);
            take(line);
        }
    };
    for (;;) {
        auto status = child.poll();
        drain();
        if (status) {
            run.end = VmEnd::exited;
            run.exit_code = decode_status(*status);
            break;
        }
        std::optional<VmEnd> stop;
        if (cancel && cancel->load()) {
            stop = VmEnd::cancelled;
        } else if (!cfg.interactive) {
            if (!spoke && since(start) > limits.boot_s) {
                stop = VmEnd::boot_timeout;
                run.limit_s = limits.boot_s;
            } else if (spoke && since(last_line) > limits.idle_s) {
                stop = VmEnd::idle_timeout;
                run.limit_s = limits.idle_s;
            } else if (since(start) > limits.vm_s) {
                stop = VmEnd::vm_timeout;
                run.limit_s = limits.vm_s;
            }
        }
        if (stop) {
            run.end = *stop;
            run.exit_code = decode_status(child.terminate());
            drain();
            break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    take(pending);
    run.exit = wall_clock_now();
    if (!cfg.interactive) {
        struct stat st;
        if (::stat(cfg.console_log.c_str(), &st) == 0) run.console = read_file(cfg.console_log);
        if (::stat(cfg.qemu_log.c_str(), &st) == 0) run.qemu_log = read_file(cfg.qemu_log);
    }
    return run;
}

}  // namespace flowattr::matrix
