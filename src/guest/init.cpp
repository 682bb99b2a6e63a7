#include "guest/init.h"

#include <dirent.h>
#include <fcntl.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/klog.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <optional>
#include <sstream>
#include <utility>

#include "common/error.h"
#include "common/file.h"
#include "common/subprocess.h"
#include "diagnose/check_record.h"
#include "guest/plan.h"
#include "guest/record.h"
#include "guest/test_marker.h"

namespace flowattr::guest {

namespace {

struct Mount {
    const char* fstype;
    const char* target;
};
// /proc, /sys and /dev first: the console is reopened on /dev, the rest live below /sys.
constexpr Mount kEarlyMounts[] = {{"proc", "/proc"}, {"sysfs", "/sys"}, {"devtmpfs", "/dev"}};
// What the agent, the tests and a shell user expect: bpffs for pins, cgroup2 for cgroup
// programs, tracefs for kprobes, securityfs for the active LSM list, debugfs for both.
constexpr Mount kMounts[] = {{"bpf", "/sys/fs/bpf"},
                             {"cgroup2", "/sys/fs/cgroup"},
                             {"tracefs", "/sys/kernel/tracing"},
                             {"securityfs", "/sys/kernel/security"},
                             {"debugfs", "/sys/kernel/debug"}};

// syslog(2) actions (glibc has no names for them).
constexpr int kSyslogReadAll = 3, kSyslogReadClear = 4, kSyslogSizeBuffer = 10;

// All of TEXT to FD, unless the port fails: the guest has no one to tell but the console.
void write_all(int fd, const std::string& text) {
    std::size_t off = 0;
    while (off < text.size()) {
        ssize_t n = ::write(fd, text.data() + off, text.size() - off);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return;
        off += std::size_t(n);
    }
}

// The console: what a person watching `kmatrix repro` (or console.log) reads.
void say(const std::string& text) { write_all(STDOUT_FILENO, text); }

double uptime() {
    try {
        return std::stod(read_file("/proc/uptime"));
    } catch (const std::exception&) {
        return 0;
    }
}

CpuTicks guest_cpu() {
    try {
        return parse_proc_stat_cpu(read_file("/proc/stat"));
    } catch (const std::exception&) {
        return {};
    }
}

std::string trimmed(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
    return s;
}

std::string file_or_empty(const std::string& path) {
    try {
        return read_file(path);
    } catch (const Error&) {
        return {};
    }
}

std::vector<std::string> sorted_entries(const std::string& dir) {
    std::vector<std::string> names;
    if (DIR* d = ::opendir(dir.c_str())) {
        while (dirent* e = ::readdir(d))
            if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0) names.emplace_back(e->d_name);
        ::closedir(d);
    }
    std::sort(names.begin(), names.end());
    return names;
}

std::vector<std::string> mount_table(const Mount* begin, const Mount* end) {
    std::vector<std::string> failed;
    for (const Mount* m = begin; m != end; ++m) {
        ::mkdir(m->target, 0755);  // most exist already (sysfs provides them)
        if (::mount(m->fstype, m->target, m->fstype, 0, nullptr) != 0) {
            say(std::string("kmatrix: mount ") + m->fstype + " on " + m->target + ": " + std::strerror(errno) + "\n");
            failed.emplace_back(m->fstype);
        }
    }
    return failed;
}

// The kernel log since the last clear (or since boot), as `dmesg` prints it.
std::string kernel_log(bool clear) {
    int size = ::klogctl(kSyslogSizeBuffer, nullptr, 0);
    if (size <= 0) size = 1 << 20;
    std::string buf(std::size_t(size), '\0');
    int n = ::klogctl(clear ? kSyslogReadClear : kSyslogReadAll, buf.data(), size);
    if (n < 0) return {};
    buf.resize(std::size_t(n));
    return strip_log_priorities(buf);
}

// The kernel log a step left behind, echoed to the console under a heading, and its splat.
std::string step_splat(const std::string& what) {
    std::string log = kernel_log(true);
    if (!log.empty()) say("--- dmesg after " + what + " ---\n" + log);
    return find_splat(log);
}

class ResultsChannel {
public:
    explicit ResultsChannel(const std::string& tty) {
        fd_ = ::open(tty.c_str(), O_WRONLY | O_NOCTTY | O_CLOEXEC);
        if (fd_ < 0) {
            say("kmatrix: cannot open " + tty + ": " + std::strerror(errno) + "\n");
            return;
        }
        // Raw: no "\n" -> "\r\n" rewriting, no echo; the host reads bytes as written.
        termios t;
        if (::tcgetattr(fd_, &t) == 0) {
            ::cfmakeraw(&t);
            ::tcsetattr(fd_, TCSANOW, &t);
        }
    }
    ~ResultsChannel() {
        if (fd_ >= 0) {
            ::tcdrain(fd_);
            ::close(fd_);
        }
    }
    ResultsChannel(const ResultsChannel&) = delete;
    ResultsChannel& operator=(const ResultsChannel&) = delete;

    void emit(const nlohmann::json& record) {
        if (fd_ >= 0) write_all(fd_, record_line(record));
    }

private:
    int fd_ = -1;
};

struct Step {
    std::vector<std::string> argv;
    int timeout_s = 60;
    std::string cwd;
    bool echo = true;  // copy the output to the console as it comes
    // When set, stdout arrives here line by line (`flowattr check --json`) instead of into output.
    std::function<void(const std::string& line)> on_stdout_line;
};

// The serial ports move about 110 KB/s under TCG (measured: 1 MiB of output echoed and
// sent back cost 18 s), so a step that floods them would turn into a timeout. The console
// shows the head of each step's output, the results channel carries its tail (where a
// test's failure summary is), and both say what was cut.
constexpr std::size_t kConsoleEchoLimit = 64 << 10;
constexpr std::size_t kRecordOutputLimit = 256 << 10;

// The last LIMIT bytes of what was appended, and how many came before them.
class OutputTail {
public:
    explicit OutputTail(std::size_t limit) : limit_(limit) {}
    void append(const std::string& chunk) {
        tail_ += chunk;
        if (tail_.size() > 2 * limit_) {
            cut_ += tail_.size() - limit_;
            tail_.erase(0, tail_.size() - limit_);
        }
    }
    std::string str() const {
        std::size_t extra = tail_.size() > limit_ ? tail_.size() - limit_ : 0;
        if (cut_ + extra == 0) return tail_;
        return "[kmatrix: the first " + std::to_string(cut_ + extra) + " bytes of this output were cut]\n" +
               tail_.substr(extra);
    }

private:
    std::size_t limit_;
    std::size_t cut_ = 0;
    std::string tail_;
};

struct StepResult {
    int rc = -1;     // exit code, 128 + signal when killed (what a shell would say)
    int signal = 0;  // the signal that ended it, 0 when it exited
    bool timed_out = false;
    double start = 0, end = 0;  // guest uptime
    // The guest's CPU meanwhile, seconds: what the step kept busy (the kernel's work for it
    // included) and how long the guest sat idle waiting (grace periods, sleeps, timers).
    double busy_s = 0, idle_s = 0;
    std::string out;     // stdout alone (unless on_stdout_line took it), its last kRecordOutputLimit bytes
    std::string output;  // stdout and stderr interleaved as they arrived, their last kRecordOutputLimit bytes
};

// A step's output copied to the console as it comes, its first kConsoleEchoLimit bytes.
class ConsoleEcho {
public:
    explicit ConsoleEcho(bool on) : on_(on) {}
    void operator()(const std::string& chunk) {
        if (!on_) return;
        produced_ += chunk.size();
        if (echoed_ >= kConsoleEchoLimit) return;
        std::string part = chunk.substr(0, kConsoleEchoLimit - echoed_);
        echoed_ += part.size();
        say(part);
    }
    // Says what was not shown.
    void finish() const {
        if (echoed_ < produced_)
            say("\nkmatrix: " + std::to_string(produced_ - echoed_) + " more bytes of output not shown on the console\n");
    }

private:
    bool on_;
    std::size_t echoed_ = 0, produced_ = 0;
};

// A moment of the guest: its uptime and CPU ticks. Two of them give a step's start, end and
// the CPU it kept busy (the kernel's work for it included) or sat idle waiting (grace periods,
// sleeps, timers).
struct GuestMoment {
    double uptime = flowattr::guest::uptime();
    CpuTicks cpu = guest_cpu();
};

void put_span(StepResult& r, const GuestMoment& from, const GuestMoment& to) {
    // A NOHZ kernel's iowait (part of idle here) can step back: never a negative span.
    auto seconds = [tick_s = 1.0 / double(sysconf(_SC_CLK_TCK))](unsigned long long a, unsigned long long b) {
        return b > a ? double(b - a) * tick_s : 0.0;
    };
    r.start = from.uptime;
    r.end = to.uptime;
    r.busy_s = seconds(from.cpu.busy, to.cpu.busy);
    r.idle_s = seconds(from.cpu.idle, to.cpu.idle);
}

void set_exit(StepResult& r, const RunResult& rr) {
    r.timed_out = rr.timed_out;
    r.signal = rr.term_signal;
    r.rc = rr.term_signal ? 128 + rr.term_signal : rr.exit_code;
}

StepResult run_step(const Step& step) {
    StepResult r;
    OutputTail out(kRecordOutputLimit), output(kRecordOutputLimit);
    ConsoleEcho echo(step.echo);
    std::string pending;
    RunOptions o;
    o.cwd = step.cwd;
    o.timeout = std::chrono::seconds(step.timeout_s);
    // Everything arrives through the callbacks; run_command's own capture is not used.
    o.max_capture = 4096;
    o.on_stdout = [&](const std::string& chunk) {
        if (!step.on_stdout_line) {
            out.append(chunk);
            output.append(chunk);
            echo(chunk);
            return;
        }
        pending += chunk;
        std::size_t nl;
        while ((nl = pending.find('\n')) != std::string::npos) {
            step.on_stdout_line(pending.substr(0, nl));
            pending.erase(0, nl + 1);
        }
    };
    o.on_stderr = [&](const std::string& chunk) {
        output.append(chunk);
        echo(chunk);
    };
    const GuestMoment before;
    try {
        set_exit(r, run_command(step.argv, o));
    } catch (const Error& e) {
        r.rc = 127;
        output.append(std::string(e.what()) + "\n");
        say(std::string("kmatrix: ") + e.what() + "\n");
    }
    put_span(r, before, GuestMoment());
    if (step.on_stdout_line && !pending.empty()) step.on_stdout_line(pending);
    echo.finish();
    r.out = out.str();
    r.output = output.str();
    return r;
}

// finit_module on every .ko: no modules.dep in the initramfs, so each pass retries what
// failed until a pass loads nothing new; the errno of the last try is what is reported.
std::map<std::string, int> load_modules(const std::string& dir) {
    std::map<std::string, int> result;
    std::vector<std::string> pending;
    for (const auto& name : sorted_entries(dir))
        if (name.size() > 3 && name.compare(name.size() - 3, 3, ".ko") == 0) pending.push_back(name);
    while (!pending.empty()) {
        std::vector<std::string> left;
        for (const auto& name : pending) {
            std::string path = dir + "/" + name;
            int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
            int err = fd < 0 ? errno : 0;
            if (fd >= 0) {
                if (::syscall(SYS_finit_module, fd, "", 0) != 0 && errno != EEXIST) err = errno;
                ::close(fd);
            }
            result[name] = err;
            if (err) left.push_back(name);
        }
        if (left.size() == pending.size()) break;
        pending = std::move(left);
    }
    for (const auto& [name, err] : result)
        if (err) say("kmatrix: insmod " + name + ": " + std::strerror(err) + "\n");
    return result;
}

int bring_up_loopback() {
    int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return errno;
    ifreq ifr{};
    std::strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
    int err = 0;
    if (::ioctl(fd, SIOCGIFFLAGS, &ifr) != 0) {
        err = errno;
    } else {
        ifr.ifr_flags |= IFF_UP;
        if (::ioctl(fd, SIOCSIFFLAGS, &ifr) != 0) err = errno;
    }
    ::close(fd);
    return err;
}

void put_step(nlohmann::json& r, const StepResult& s) {
    r["rc"] = s.rc;
    r["start"] = s.start;
    r["end"] = s.end;
    r["busy_s"] = s.busy_s;
    r["idle_s"] = s.idle_s;
    r["timed_out"] = s.timed_out;
}

// The closing record of a step named WHAT: how it ended, its output and the splat it left,
// with a line on the console so a person reading it sees where each step ends.
nlohmann::json step_end_record(RecordType type, const StepResult& s, const std::string& what) {
    say("--- " + what + ": rc=" + std::to_string(s.rc) + " ---\n");
    auto r = make_record(type);
    put_step(r, s);
    r["output"] = s.output;
    r["splat"] = step_splat(what);
    return r;
}

void run_check(const GuestPlan& plan, ResultsChannel& out) {
    Step step;
    step.argv = {kGuestAgent, "check", "--json", "--log-limit", std::to_string(plan.check_log_limit)};
    if (plan.check_unprivileged) step.argv.emplace_back("--unprivileged");
    if (plan.check_size_maps) step.argv.emplace_back("--size-maps");
    for (const auto& spec : plan.check_section_types) step.argv.insert(step.argv.end(), {"--section-type", spec});
    // One file under each /check/NN, below the directories that tell same-named files apart.
    for (const auto& dir : sorted_entries(kGuestCheckDir)) {
        std::string path = std::string(kGuestCheckDir) + "/" + dir;
        struct stat st {};
        while (::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
            const auto inside = sorted_entries(path);
            if (inside.size() != 1) break;
            path += "/" + inside[0];
        }
        step.argv.push_back(path);
    }
    step.timeout_s = plan.per_test_timeout_s * 10;
    // Each program's record goes out the moment flowattr writes it, so a long check never
    // looks silent to the host.
    std::vector<diagnose::ProgramCheck> programs;
    step.on_stdout_line = [&](const std::string& line) {
        auto result = nlohmann::json::parse(line, nullptr, false);
        if (!result.is_object()) {
            say("kmatrix: not a check record: " + line + "\n");
            return;
        }
        if (auto program = diagnose::program_check_from_json(line)) programs.push_back(std::move(*program));
        auto r = make_record(RecordType::check);
        r["result"] = std::move(result);
        out.emit(r);
    };
    out.emit(step_end_record(RecordType::check_done, run_step(step), "flowattr check"));
    // Before a shell the person at the console sees each program's class, cause and fix
    // (the host prints the full logs once the VM is off).
    if (mode_ends_in_shell(plan.mode)) {
        std::ostringstream report;
        diagnose::print_check_report(programs, false, report);
        say(report.str());
    }
}

void run_load_check(const GuestPlan& plan, ResultsChannel& out) {
    Step step;
    step.argv = {kGuestAgent, "load", "--check"};
    if (plan.full_verifier_log) step.argv.emplace_back("--full-log");
    // The features the probe just found (when it worked): a second probe costs up to 0.45 s.
    if (::access(kGuestFeaturesCache, R_OK) == 0) step.argv.insert(step.argv.end(), {"--features", kGuestFeaturesCache});
    step.argv.insert(step.argv.end(), {"--json-out", kGuestLoadCheckResults});
    step.timeout_s = plan.per_test_timeout_s;
    out.emit(step_end_record(RecordType::load_check, run_step(step), "flowattr load --check"));
}

// A test's record: how it ended, its span, its kernel log's splat, its output when it failed
// or skipped (the reason is in it) and its gtest test case, in --gtest_output=json's shape.
nlohmann::json test_record(const std::string& name, const StepResult& s, bool skipped, const nlohmann::json& testcase) {
    auto r = make_record(RecordType::test);
    r["name"] = name;
    put_step(r, s);
    r["splat"] = step_splat(name);
    r["output"] = s.rc != 0 || skipped ? s.output : std::string();
    r["gtest"] = testcase.is_object() ? gtest_document(name, testcase) : nlohmann::json();
    return r;
}

// TESTS, all of one suite, in one process of the kernel tests, which marks where each begins
// and ends (test_marker.h): a record per test, each with its own span, CPU, kernel log, output
// and the per-test time limit. A test's record is sent when the next one begins or the process
// ends, so that a process that fails after its last test (a suite's teardown, its exit) fails
// that test rather than passing unseen. Returns the tests the process never began: it crashed,
// hung or exited in the one before, which gets the failure (or, when it began none, the first).
std::vector<std::string> run_test_batch(const std::vector<std::string>& tests, const GuestPlan& plan,
                                        ResultsChannel& out) {
    struct Running {
        std::string name;
        GuestMoment began;
        OutputTail output{kRecordOutputLimit};
        ConsoleEcho echo{true};
    };
    std::optional<Running> running;
    std::optional<nlohmann::json> held;      // the last ended test's record, not sent yet
    bool failed = false;                     // a test of this process failed
    OutputTail outside(kRecordOutputLimit);  // what the process printed outside any test
    std::vector<std::string> begun;
    bool restart = false;
    auto ours = [&](const std::string& name) { return std::find(tests.begin(), tests.end(), name) != tests.end(); };
    auto print = [&](const std::string& text) {
        if (running) {
            running->output.append(text);
            running->echo(text);
        } else {
            outside.append(text);
            say(text);
        }
    };
    auto send_held = [&] {
        if (held) out.emit(*held);
        held.reset();
    };
    auto begin = [&](const std::string& name) {
        send_held();
        running.emplace();
        running->name = name;
        begun.push_back(name);
        restart = true;
        auto br = make_record(RecordType::begin);
        br["name"] = name;
        br["uptime"] = running->began.uptime;
        out.emit(br);
    };
    // False for a line that only looks like a marker: a test this process was not asked for.
    auto on_marker = [&](const TestMarker& m) {
        if (!ours(m.test)) return false;
        if (m.kind == TestMarker::Kind::begin) {
            if (running) return false;  // a test inside a test: not gtest
            begin(m.test);
            return true;
        }
        if (!running || running->name != m.test) return false;
        StepResult s;
        put_span(s, running->began, GuestMoment());
        const bool skipped = m.testcase.value("result", "") == "SKIPPED";
        s.rc = m.testcase.contains("failures") ? 1 : 0;
        failed = failed || s.rc != 0;
        s.output = running->output.str();
        running->echo.finish();
        held = test_record(m.test, s, skipped, m.testcase);
        running.reset();
        return true;
    };
    std::string pending;
    RunOptions o;
    o.env = {std::string(kTestMarkersEnv) + "=1"};
    o.timeout = std::chrono::seconds(plan.per_test_timeout_s);
    o.max_capture = 4096;
    o.restart_timeout = [&] { return std::exchange(restart, false); };
    o.on_stdout = [&](const std::string& chunk) {
        pending += chunk;
        std::size_t nl;
        while ((nl = pending.find('\n')) != std::string::npos) {
            std::string line = pending.substr(0, nl + 1);
            pending.erase(0, nl + 1);
            auto m = parse_test_marker(line.substr(0, nl));
            if (!m || !on_marker(*m)) print(line);
        }
    };
    o.on_stderr = print;

    StepResult ended;
    try {
        set_exit(ended, run_command({kGuestTests, "--gtest_filter=" + exact_gtest_filter(tests)}, o));
    } catch (const Error& e) {
        ended.rc = 127;
        print(std::string("kmatrix: ") + e.what() + "\n");
    }
    print(pending);
    if (!running && begun.empty()) {
        // Nothing began: the process failed before its first test.
        begin(tests.front());
        running->output.append(outside.str());
    }
    if (running) {
        put_span(ended, running->began, GuestMoment());
        if (ended.rc == 0) {
            // gtest ends a test it began; a process that exited 0 in the middle of one did not.
            ended.rc = 1;
            running->output.append("kmatrix: the test process exited 0 before this test ended\n");
        }
        ended.output = running->output.str();
        running->echo.finish();
        send_held();
        out.emit(test_record(running->name, ended, false, nlohmann::json()));
    } else if (held && ended.rc != 0 && !failed) {
        // Every test passed, yet the process failed: after the last of them.
        const std::string status = ended.timed_out ? "timed out"
                                   : ended.signal  ? "was killed by signal " + std::to_string(ended.signal)
                                                   : "exited " + std::to_string(ended.rc);
        (*held)["rc"] = ended.rc;
        (*held)["timed_out"] = ended.timed_out;
        (*held)["output"] = (*held)["output"].get<std::string>() + "kmatrix: the test process " + status +
                            " after this test, the last of its suite to end; its output outside the tests:\n" +
                            outside.str();
    }
    send_held();
    std::vector<std::string> left;
    for (const auto& t : tests)
        if (std::find(begun.begin(), begun.end(), t) == begun.end()) left.push_back(t);
    return left;
}

// Every listed test, one process per suite (a crash or hang costs the rest of its suite a new
// process, not their results).
void run_suite(const GuestPlan& plan, ResultsChannel& out) {
    Step list;
    list.argv = {kGuestTests, "--gtest_list_tests", "--gtest_filter=" + plan.test_filter};
    list.timeout_s = plan.per_test_timeout_s;
    list.echo = false;
    StepResult listed = run_step(list);
    std::vector<std::string> tests = listed.rc == 0 ? parse_gtest_list(listed.out) : std::vector<std::string>{};
    auto lr = make_record(RecordType::list);
    lr["rc"] = listed.rc;
    lr["count"] = tests.size();
    lr["uptime"] = uptime();
    if (listed.rc != 0) lr["output"] = listed.output;
    out.emit(lr);
    kernel_log(true);
    for (const auto& suite : group_by_suite(tests))
        for (std::vector<std::string> left = suite; !left.empty();) left = run_test_batch(left, plan, out);
}

void run_exec(const GuestPlan& plan, ResultsChannel& out) {
    auto argv_doc = nlohmann::json::parse(file_or_empty(kGuestExecArgv), nullptr, false);
    Step step;
    if (argv_doc.is_array())
        for (const auto& a : argv_doc)
            if (a.is_string()) step.argv.push_back(a.get<std::string>());
    // The command's directory exists even when it brought no files along.
    ::mkdir(kGuestExecDir, 0755);
    step.cwd = kGuestExecDir;
    step.timeout_s = plan.per_test_timeout_s;
    StepResult s;
    if (step.argv.empty()) {
        s.rc = 127;
        s.output = std::string("no command in ") + kGuestExecArgv + "\n";
    } else {
        s = run_step(step);
    }
    auto r = step_end_record(RecordType::exec, s, "the command");
    r["argv"] = step.argv;
    r["signal"] = s.signal;
    out.emit(r);
}

// STARTED: the guest's uptime when /init began (the kernel's own boot, decompression included).
void run_plan(const GuestPlan& plan, double started, ResultsChannel& out) {
    utsname u{};
    ::uname(&u);
    auto init = make_record(RecordType::init);
    init["started"] = started;
    init["uptime"] = uptime();
    init["mode"] = guest_mode_name(plan.mode);
    init["release"] = u.release;
    init["boot_splat"] = find_splat(kernel_log(false));
    out.emit(init);

    auto mounts = make_record(RecordType::mounts);
    mounts["failed"] = mount_table(std::begin(kMounts), std::end(kMounts));
    out.emit(mounts);

    auto setup = make_record(RecordType::setup);
    setup["modules"] = plan.load_modules ? load_modules(kGuestModulesDir) : std::map<std::string, int>{};
    setup["lo"] = bring_up_loopback();
    setup["lsm"] = trimmed(file_or_empty("/sys/kernel/security/lsm"));
    setup["uptime"] = uptime();
    out.emit(setup);

    if (plan.mode == GuestMode::shell) return;
    if (!mode_execs(plan.mode)) {
        Step probe;
        probe.argv = {kGuestAgent, "probe", "--json"};
        probe.timeout_s = plan.per_test_timeout_s;
        probe.echo = false;
        StepResult s = run_step(probe);
        auto r = make_record(RecordType::probe);
        r["rc"] = s.rc;
        r["output"] = s.out;
        out.emit(r);
        // The suite's tests read these features instead of probing again.
        if (s.rc == 0) write_file_atomic(kGuestFeaturesCache, s.out);
        kernel_log(true);
    }
    if (mode_checks(plan.mode)) run_check(plan, out);
    if (mode_runs_suite(plan.mode) || plan.mode == GuestMode::load_check) run_load_check(plan, out);
    if (mode_runs_suite(plan.mode)) run_suite(plan, out);
    if (mode_execs(plan.mode)) run_exec(plan, out);
    auto done = make_record(RecordType::done);
    done["uptime"] = uptime();
    out.emit(done);
}

// busybox sh on the console's real tty (the one /sys/class/tty/console/active names, as
// busybox's cttyhack finds it): /dev/console itself cannot be a controlling terminal, and
// without one Ctrl-C would not reach the shell's children.
void interactive_shell() {
    say(std::string("kmatrix: interactive shell; binaries in /bin") +
        (::access(kGuestExecDir, F_OK) == 0 ? " and /exec (the files brought along)" : "") +
        (::access(kGuestCheckDir, F_OK) == 0 ? ", the checked objects under /check" : "") +
        ", modules loaded, bpffs at /sys/fs/bpf. Exit to power off.\n");
    std::string active = trimmed(file_or_empty("/sys/class/tty/console/active"));
    std::string tty = active.substr(active.rfind(' ') == std::string::npos ? 0 : active.rfind(' ') + 1);
    std::string dev = tty.empty() ? "/dev/console" : "/dev/" + tty;
    pid_t pid = ::fork();
    if (pid == 0) {
        ::setsid();
        int fd = ::open(dev.c_str(), O_RDWR);
        if (fd < 0) fd = ::open("/dev/console", O_RDWR);
        if (fd >= 0) {
            ::ioctl(fd, TIOCSCTTY, 1);
            ::dup2(fd, 0);
            ::dup2(fd, 1);
            ::dup2(fd, 2);
        }
        ::execl("/bin/sh", "sh", static_cast<char*>(nullptr));
        _exit(127);
    }
    // Orphans are reparented to PID 1 too: reap everything until the shell itself ends.
    int status;
    for (;;) {
        pid_t r = ::wait(&status);
        if (r == pid || (r < 0 && errno != EINTR)) break;
    }
}

[[noreturn]] void power_off() {
    ::sync();
    ::reboot(RB_POWER_OFF);
    for (;;) ::pause();
}

}  // namespace

CpuTicks parse_proc_stat_cpu(const std::string& proc_stat) {
    std::istringstream in(proc_stat);
    std::string label;
    unsigned long long user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0;
    CpuTicks t;
    if (!(in >> label) || label != "cpu") return t;
    // Fields a kernel does not have (steal before 2.6.11) read as 0.
    in >> user >> nice >> system >> idle >> iowait >> irq >> softirq >> steal;
    t.busy = user + nice + system + irq + softirq + steal;
    t.idle = idle + iowait;
    return t;
}

std::vector<std::string> parse_gtest_list(const std::string& listing) {
    std::vector<std::string> tests;
    std::istringstream in(listing);
    std::string line, suite;
    while (std::getline(in, line)) {
        if (line.rfind("  ", 0) == 0) {
            if (suite.empty()) continue;
            std::string name = line.substr(2);
            name = name.substr(0, name.find("  #"));
            tests.push_back(suite + name);
        } else {
            auto comment = line.find("  #");
            std::string head = comment == std::string::npos ? line : line.substr(0, comment);
            suite = !head.empty() && head.back() == '.' && head.find(' ') == std::string::npos ? head : "";
        }
    }
    return tests;
}

std::string strip_log_priorities(const std::string& raw) {
    std::string out;
    out.reserve(raw.size());
    std::size_t pos = 0;
    while (pos < raw.size()) {
        auto nl = raw.find('\n', pos);
        std::size_t end = nl == std::string::npos ? raw.size() : nl + 1;
        std::size_t skip = pos;
        if (raw[pos] == '<') {
            auto close = raw.find('>', pos);
            if (close != std::string::npos && close < end && close - pos <= 4 &&
                std::all_of(raw.begin() + long(pos) + 1, raw.begin() + long(close), ::isdigit))
                skip = close + 1;
        }
        out.append(raw, skip, end - skip);
        pos = end;
    }
    return out;
}

// Every applet as a link in /bin. An initramfs for another architecture than the host's
// cannot list them on the host (its busybox does not run there), so the guest does it;
// links already in the archive stay (EEXIST is not an error to busybox).
void install_busybox_applets() {
    Step install;
    install.argv = {"/bin/busybox", "--install", "-s", "/bin"};
    install.timeout_s = 10;
    install.echo = false;
    StepResult r = run_step(install);
    if (r.rc != 0) say("kmatrix: busybox --install -s /bin: rc=" + std::to_string(r.rc) + " " + r.output + "\n");
}

// The results channel's device: loads its modules when the kernel builds them as modules
// and waits up to 2 s for the driver to make it usable. devtmpfs creates the node
// asynchronously after the probe, and a virtio console's node exists a moment before its
// port is ready (ENODEV).
void wait_for_results_channel(const std::string& tty) {
    if (::access(tty.c_str(), F_OK) != 0) load_modules(kGuestChannelModulesDir);
    for (int i = 0; i < 200; i++) {
        int fd = ::open(tty.c_str(), O_WRONLY | O_NOCTTY | O_CLOEXEC);
        if (fd >= 0) {
            ::close(fd);
            return;
        }
        if (errno != ENOENT && errno != ENODEV && errno != ENXIO) return;
        ::usleep(10 * 1000);
    }
}

void run_guest_init() {
    mount_table(std::begin(kEarlyMounts), std::end(kEarlyMounts));
    int console = ::open("/dev/console", O_RDWR | O_NOCTTY);
    if (console >= 0) {
        ::dup2(console, 0);
        ::dup2(console, 1);
        ::dup2(console, 2);
        if (console > 2) ::close(console);
    }
    // Brought files first, so `kmatrix exec -- tool` runs the tool the user gave.
    ::setenv("PATH", "/exec:/bin", 1);
    if (std::string dirs = trimmed(file_or_empty(kGuestLibraryPath)); !dirs.empty())
        ::setenv("LD_LIBRARY_PATH", dirs.c_str(), 1);
    // Under TCG each BPF_PROG_TEST_RUN costs some fifty times what it does on the host: the
    // fuzz test's million frames run in `make check` on the host, a slice of them here
    // (the same program logic; what differs per kernel is the verifier, seen by any count).
    ::setenv("FLOWATTR_FUZZ_FRAMES", "50000", 1);
    ::setenv("FLOWATTR_FEATURES_CACHE", kGuestFeaturesCache, 1);
    ::setenv("FLOWATTR_LOAD_CHECK_RESULTS", kGuestLoadCheckResults, 1);
    const double started = uptime();
    say(std::string(kInitMarker) + "\n");
    GuestPlan plan = parse_guest_plan(file_or_empty("/proc/cmdline"));
    install_busybox_applets();
    wait_for_results_channel(plan.results_tty);
    try {
        ResultsChannel out(plan.results_tty);
        run_plan(plan, started, out);
    } catch (const std::exception& e) {
        say(std::string("kmatrix: /init failed: ") + e.what() + "\n");
    }
    if (mode_ends_in_shell(plan.mode)) interactive_shell();
    power_off();
}

}  // namespace flowattr::guest
