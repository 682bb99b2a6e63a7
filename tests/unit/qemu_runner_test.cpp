#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <fstream>
#include <thread>

#include "common/error.h"
#include "common/file.h"
#include "guest/record.h"
#include "matrix/guest_arch.h"
#include "matrix/qemu_runner.h"
#include "matrix/vm_suite.h"
#include "matrix_fixtures.h"

namespace fm = flowattr::matrix;

namespace {

bool has_seq(const std::vector<std::string>& v, std::vector<std::string> seq) {
    return std::search(v.begin(), v.end(), seq.begin(), seq.end()) != v.end();
}

fm::QemuConfig config(fm::Accel accel) {
    fm::QemuConfig c;
    c.accel = accel;
    c.kernel = "/k/vmlinuz";
    c.initrd = "/o/initramfs.cpio";
    c.append = "console=ttyS0";
    c.console_log = "/o/a,b/console.log";
    c.results = "/o/results.jsonl";
    c.qemu_log = "/o/qemu.log";
    return c;
}

TEST(QemuArgv, TcgWithTwoSerialPorts) {
    auto a = fm::build_qemu_argv(config(fm::Accel::tcg));
    EXPECT_EQ(a.front(), "qemu-system-x86_64");
    EXPECT_TRUE(has_seq(a, {"-accel", "tcg", "-cpu", "max,-erms,-fsrm"}));
    EXPECT_TRUE(has_seq(a, {"-no-reboot"}));
    EXPECT_TRUE(has_seq(a, {"-m", "512"}));
    EXPECT_TRUE(has_seq(a, {"-kernel", "/k/vmlinuz", "-initrd", "/o/initramfs.cpio", "-append", "console=ttyS0"}));
    // Console first (ttyS0), results second (ttyS1); commas in paths doubled for QEMU.
    EXPECT_TRUE(has_seq(a, {"-chardev", "file,id=con,path=/o/a,,b/console.log", "-serial", "chardev:con"}));
    EXPECT_TRUE(has_seq(a, {"-chardev", "file,id=res,path=/o/results.jsonl", "-serial", "chardev:res"}));
    auto con = std::find(a.begin(), a.end(), "chardev:con"), res = std::find(a.begin(), a.end(), "chardev:res");
    EXPECT_LT(con, res);
    EXPECT_EQ(std::count(a.begin(), a.end(), "kvm"), 0);
}

// The VMs reach nothing outside: -nodefaults gives them no network card, and nothing adds one.
TEST(QemuArgv, NoNetworkDevice) {
    for (bool interactive : {false, true}) {
        auto c = config(fm::Accel::tcg);
        c.interactive = interactive;
        auto a = fm::build_qemu_argv(c);
        EXPECT_TRUE(has_seq(a, {"-nodefaults"}));
        for (const char* opt : {"-nic", "-net", "-netdev"}) EXPECT_EQ(std::count(a.begin(), a.end(), opt), 0) << opt;
        EXPECT_EQ(std::count_if(a.begin(), a.end(), [](const std::string& s) { return s.find("virtio-net") != std::string::npos; }), 0);
    }
}

TEST(QemuArgv, KvmAndInteractive) {
    auto c = config(fm::Accel::kvm);
    c.interactive = true;
    auto a = fm::build_qemu_argv(c);
    EXPECT_TRUE(has_seq(a, {"-accel", "kvm", "-cpu", "host"}));
    EXPECT_TRUE(has_seq(a, {"-chardev", "stdio,id=con,mux=on,signal=off", "-serial", "chardev:con"}));
    EXPECT_TRUE(has_seq(a, {"-serial", "chardev:res"}));
    EXPECT_EQ(std::count_if(a.begin(), a.end(), [](const std::string& s) { return s.find("console.log") != std::string::npos; }), 0);
}

// The KVM probe's boot: the kernel alone, its console to a file, no results channel.
TEST(QemuArgv, KernelAloneWithoutInitrdOrResults) {
    auto c = config(fm::Accel::kvm);
    c.initrd.clear();
    c.results.clear();
    auto a = fm::build_qemu_argv(c);
    EXPECT_TRUE(has_seq(a, {"-kernel", "/k/vmlinuz", "-append", "console=ttyS0"}));
    EXPECT_EQ(std::count(a.begin(), a.end(), "-initrd"), 0);
    EXPECT_EQ(std::count(a.begin(), a.end(), "chardev:res"), 0);
    EXPECT_TRUE(has_seq(a, {"-chardev", "file,id=con,path=/o/a,,b/console.log", "-serial", "chardev:con"}));
}

// aarch64 under TCG: the virt machine and a Neoverse N1 (no -cpu max: its pointer
// authentication is slow under TCG), the PL011 console, and the results channel on a virtio
// console because virt has no second UART.
TEST(QemuArgv, Aarch64VirtMachineWithAVirtioResultsChannel) {
    auto c = config(fm::Accel::tcg);
    c.arch = fm::Arch::aarch64;
    c.qemu = fm::guest_arch(fm::Arch::aarch64).qemu;
    auto a = fm::build_qemu_argv(c);
    EXPECT_EQ(a.front(), "qemu-system-aarch64");
    EXPECT_TRUE(has_seq(a, {"-accel", "tcg", "-machine", "virt", "-cpu", "neoverse-n1"}));
    EXPECT_TRUE(has_seq(a, {"-chardev", "file,id=con,path=/o/a,,b/console.log", "-serial", "chardev:con"}));
    EXPECT_TRUE(has_seq(a, {"-chardev", "file,id=res,path=/o/results.jsonl", "-device", "virtio-serial-pci", "-device",
                            "virtconsole,chardev=res"}));
    EXPECT_EQ(std::count(a.begin(), a.end(), "chardev:res"), 0);
    EXPECT_EQ(fm::kernel_cmdline(fm::Arch::aarch64, "", "P", ""), "console=ttyAMA0 panic=-1 quiet cryptomgr.notests kpti=0 P");
    EXPECT_EQ(std::string(fm::guest_arch(fm::Arch::aarch64).results_tty), "/dev/hvc0");
    EXPECT_EQ(fm::guest_arch(fm::Arch::aarch64).artifacts_subdir(), "aarch64");
    EXPECT_EQ(fm::guest_arch(fm::Arch::x86_64).artifacts_subdir(), "") << "the host's own binaries are at the root";
}

TEST(QemuCmdline, PanicRebootsAndUserArgsComeLast) {
    EXPECT_EQ(fm::kernel_cmdline(fm::Arch::x86_64, "", "kmatrix.mode=suite", ""), "console=ttyS0 panic=-1 quiet cryptomgr.notests kmatrix.mode=suite");
    EXPECT_EQ(fm::kernel_cmdline(fm::Arch::x86_64, "lsm=bpf", "P", "loglevel=7"), "console=ttyS0 panic=-1 quiet cryptomgr.notests lsm=bpf P loglevel=7");
}

TEST(QemuTimeouts, TcgIsScaled) {
    auto k = fm::Timeouts::for_accel(fm::Accel::kvm), t = fm::Timeouts::for_accel(fm::Accel::tcg);
    EXPECT_GT(t.boot_s, k.boot_s);
    EXPECT_GT(t.per_test_s, k.per_test_s);
    EXPECT_GT(t.vm_s, k.vm_s);
    EXPECT_GT(k.idle_s, k.per_test_s);  // the guest's own limit fires first
    auto t2 = fm::Timeouts::for_accel(fm::Accel::tcg, 2.0);
    EXPECT_DOUBLE_EQ(t2.boot_s, 2 * t.boot_s);
}

struct FakeKvm {
    bool device = true, probe_ok = false;
    int probes = 0;
    std::vector<std::string> notes;
    fm::AccelChooser chooser(const std::string& requested) {
        return fm::AccelChooser(
            requested, [this] { return device; },
            [this](const std::string& kernel) {
                EXPECT_EQ(kernel, "/k/vmlinuz");
                probes++;
                return probe_ok;
            },
            [this](const std::string& n) { notes.push_back(n); });
    }
};

TEST(AccelChooser, HangingKvmFallsBackToTcgOnceAndSaysSo) {
    FakeKvm f;
    auto c = f.chooser("auto");
    EXPECT_EQ(c.choose("/k/vmlinuz"), fm::Accel::tcg);
    EXPECT_EQ(c.choose("/k/vmlinuz"), fm::Accel::tcg);
    EXPECT_EQ(f.probes, 1);
    ASSERT_EQ(f.notes.size(), 1u);
    EXPECT_NE(f.notes[0].find("TCG"), std::string::npos);
}

TEST(AccelChooser, WorkingKvmIsUsedQuietly) {
    FakeKvm f;
    f.probe_ok = true;
    auto c = f.chooser("auto");
    EXPECT_EQ(c.choose("/k/vmlinuz"), fm::Accel::kvm);
    EXPECT_TRUE(f.notes.empty());
}

TEST(AccelChooser, NoDeviceMeansNoProbe) {
    FakeKvm f;
    f.device = false;
    auto c = f.chooser("auto");
    EXPECT_EQ(c.choose("/k/vmlinuz"), fm::Accel::tcg);
    EXPECT_EQ(f.probes, 0);
    EXPECT_EQ(f.notes.size(), 1u);
}

TEST(AccelChooser, ExplicitChoices) {
    FakeKvm f;
    EXPECT_EQ(f.chooser("tcg").choose("/k/vmlinuz"), fm::Accel::tcg);
    EXPECT_EQ(f.chooser("kvm").choose("/k/vmlinuz"), fm::Accel::kvm);
    EXPECT_EQ(f.probes, 0);
    f.device = false;
    auto forced = f.chooser("kvm");
    EXPECT_THROW(forced.choose("/k/vmlinuz"), flowattr::Error);
    EXPECT_THROW(f.chooser("hvf"), flowattr::Error);
}

TEST(AccelChooser, ProbesOnceAcrossThreads) {
    FakeKvm f;
    auto c = f.chooser("auto");
    std::vector<std::thread> ts;
    for (int i = 0; i < 4; i++) ts.emplace_back([&] { c.choose("/k/vmlinuz"); });
    for (auto& t : ts) t.join();
    EXPECT_EQ(f.probes, 1);
}

// A verdict serves the boot and the QEMU it was probed for, nothing else; a file that is not
// one is no verdict (and the next store replaces it).
TEST(KvmVerdictFile, KeptPerBootAndQemu) {
    flowattr::TempDir dir("kvm-verdict");
    const std::string path = dir.path() + "/kvm-probe.json";
    const fm::KvmVerdictFile here(path, "qemu-system-x86_64", "boot-a");
    EXPECT_EQ(here.load(), std::nullopt) << "nothing stored yet";
    here.store(false);
    EXPECT_EQ(here.load(), std::optional<bool>(false));
    EXPECT_EQ(fm::KvmVerdictFile(path, "qemu-system-x86_64", "boot-b").load(), std::nullopt) << "after a reboot";
    EXPECT_EQ(fm::KvmVerdictFile(path, "/opt/qemu/bin/qemu-system-x86_64", "boot-a").load(), std::nullopt)
        << "another QEMU";
    here.store(true);
    EXPECT_EQ(here.load(), std::optional<bool>(true));
    flowattr::write_file_atomic(path, "{\"boot_id\": \"boot-a\", \"qemu\": \"qemu-system-x86_64\", \"kvm_boots\": \"yes\"}");
    EXPECT_EQ(here.load(), std::nullopt) << "a verdict that is not a boolean";
    flowattr::write_file_atomic(path, "not json");
    EXPECT_EQ(here.load(), std::nullopt);
    // This machine's own boot_id is read when none is given.
    const fm::KvmVerdictFile this_boot(path, "qemu-system-x86_64");
    this_boot.store(false);
    std::string boot_id = flowattr::read_file("/proc/sys/kernel/random/boot_id");
    boot_id.pop_back();
    EXPECT_EQ(fm::KvmVerdictFile(path, "qemu-system-x86_64", boot_id).load(), std::optional<bool>(false));
}

// Killed processes may linger as zombies until their (re)parent reaps them; those count as gone.
bool alive(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    std::string pid_field, comm, state;
    if (!(in >> pid_field >> comm >> state)) return false;
    return state != "Z" && state != "X";
}

pid_t read_pid(const std::string& path) {
    for (int i = 0; i < 200; i++) {
        std::ifstream in(path);
        pid_t p = 0;
        if (in >> p && p > 0) return p;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return -1;
}

TEST(ChildProcess, DestructorKillsTheWholeGroup) {
    flowattr::TempDir dir("child-test");
    std::string pidfile = dir.path() + "/grandchild";
    pid_t child, grandchild;
    {
        fm::ChildProcess p({"sh", "-c", "sleep 60 & echo $! > " + pidfile + "; wait"}, dir.path() + "/out", true);
        child = p.pid();
        grandchild = read_pid(pidfile);
        ASSERT_GT(grandchild, 0);
        EXPECT_TRUE(alive(grandchild));
    }
    EXPECT_FALSE(alive(child));
    for (int i = 0; i < 100 && alive(grandchild); i++) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    EXPECT_FALSE(alive(grandchild)) << "a grandchild outlived its ChildProcess";
}

TEST(ChildProcess, ExecFailureThrowsWithErrno) {
    try {
        fm::ChildProcess p({"/nonexistent/qemu"}, "", true);
        FAIL() << "no exception";
    } catch (const flowattr::Error& e) {
        EXPECT_EQ(e.err(), ENOENT);
    }
}

TEST(ChildProcess, ExitStatusAndTerminate) {
    fm::ChildProcess quick({"sh", "-c", "exit 3"}, "", true);
    std::optional<int> st;
    for (int i = 0; i < 500 && !(st = quick.poll()); i++) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    ASSERT_TRUE(st);
    int status = *st;
    EXPECT_EQ(quick.terminate(), status);  // already reaped: terminate only reports
    EXPECT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 3);
    fm::ChildProcess stubborn({"sh", "-c", "trap '' TERM; sleep 60"}, "", true);
    auto start = std::chrono::steady_clock::now();
    int s2 = stubborn.terminate(0.3);
    EXPECT_TRUE(WIFSIGNALED(s2));
    EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 5.0);
}

// A stand-in for qemu-system-x86_64: finds the two chardev paths in its argv and runs
// SCRIPT with $con and $res set, so run_vm's loop is tested without a VM.
class FakeQemu : public ::testing::Test {
protected:
    void SetUp() override { dir_ = std::make_unique<flowattr::TempDir>("fake-qemu"); }
    fm::QemuConfig make(const std::string& script) {
        std::string path = dir_->path() + "/qemu";
        flowattr::write_file_atomic(path, "#!/bin/sh\nfor a; do case \"$a\" in file,id=con,path=*) con=${a#file,id=con,path=};; "
                                          "file,id=res,path=*) res=${a#file,id=res,path=};; esac; done\n" +
                                              script + "\n");
        ::chmod(path.c_str(), 0755);
        fm::QemuConfig c = config(fm::Accel::tcg);
        c.qemu = path;
        c.console_log = dir_->path() + "/console.log";
        c.results = dir_->path() + "/results.jsonl";
        c.qemu_log = dir_->path() + "/qemu.log";
        return c;
    }
    static fm::Timeouts quick() { return {1.0, 1.0, 5.0, 1}; }
    std::unique_ptr<flowattr::TempDir> dir_;
};

TEST_F(FakeQemu, EveryLineReachesTheCallback) {
    using namespace flowattr::matrix::fixtures;
    std::string records = init_line() + "\n" + setup_line() + "\n" + load_line(0) + "\n" + list_line(1) + "\n" +
                          passing_test("A", "one") + "\n" + done_line() + "\n";
    flowattr::write_file_atomic(dir_->path() + "/records", records);
    auto cfg = make("echo booted > \"$con\"; cat " + dir_->path() + "/records > \"$res\"; echo 'qemu says hi' >&2");
    fm::SuiteResults suite;
    std::vector<std::string> seen;
    auto run = fm::run_vm(cfg, quick(), nullptr, [&](const std::string& line) {
        if (auto t = suite.add_line(line)) seen.push_back(flowattr::guest::record_type_name(*t));
    });
    EXPECT_EQ(run.end, fm::VmEnd::exited);
    EXPECT_EQ(run.exit_code, 0);
    EXPECT_TRUE(suite.done);
    EXPECT_EQ(seen, (std::vector<std::string>{"init", "setup", "load_check", "list", "test", "done"}));
    EXPECT_EQ(run.console, "booted\n");
    EXPECT_NE(run.qemu_log.find("qemu says hi"), std::string::npos);
    EXPECT_GT(run.spawn, 0);
    EXPECT_GE(run.exit, run.spawn);
}

TEST_F(FakeQemu, BootTimeoutKillsIt) {
    auto cfg = make("exec sleep 60");
    auto start = std::chrono::steady_clock::now();
    auto run = fm::run_vm(cfg, quick(), nullptr, [](const std::string&) {});
    EXPECT_EQ(run.end, fm::VmEnd::boot_timeout);
    EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 5.0);
}

TEST_F(FakeQemu, IdleTimeoutAfterInit) {
    using namespace flowattr::matrix::fixtures;
    auto cfg = make("echo '" + init_line() + "' > \"$res\"; exec sleep 60");
    std::size_t lines = 0;
    auto run = fm::run_vm(cfg, quick(), nullptr, [&](const std::string&) { lines++; });
    EXPECT_EQ(run.end, fm::VmEnd::idle_timeout);
    EXPECT_EQ(lines, 1u);
}

TEST_F(FakeQemu, WholeVmTimeoutEvenWhileTalking) {
    using namespace flowattr::matrix::fixtures;
    auto cfg = make("echo '" + init_line() + "' > \"$res\"; while :; do echo '" + begin_line("A.x") +
                    "' >> \"$res\"; sleep 0.2; done");
    auto run = fm::run_vm(cfg, {1.0, 1.0, 1.5, 1}, nullptr, [](const std::string&) {});
    EXPECT_EQ(run.end, fm::VmEnd::vm_timeout);
}

TEST_F(FakeQemu, CancelStopsItPromptly) {
    auto cfg = make("exec sleep 60");
    std::atomic<bool> cancel{false};
    std::thread t([&] {
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
        cancel = true;
    });
    auto run = fm::run_vm(cfg, {30, 30, 30, 1}, &cancel, [](const std::string&) {});
    t.join();
    EXPECT_EQ(run.end, fm::VmEnd::cancelled);
}

}  // namespace
