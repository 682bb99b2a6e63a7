// kmatrix_provoke: a stand-in for both `flowattr` and `flowattr_kernel_tests` inside a
// matrix VM, so the `matrix` CTest label can provoke every outcome for real (a real kernel
// panic, a real hang killed by the guest's timeout, a real line in the kernel log) and
// check that kmatrix classifies each one. Its role comes from the name /init calls it by.
//
//   flowattr load --check       fails when the kernel command line has provoke.load_fail
//   flowattr_kernel_tests       gtest-compatible enough for /init: --gtest_list_tests,
//                               --gtest_filter, the tests' markers (src/guest/test_marker.h);
//                               tests Provoke.* (Crash: SIGSEGV mid-test; Teardown: passes, then
//                               the process aborts; Flood: 16 MiB of output, then a pass;
//                               Vanish: power off mid-test)
#include <fcntl.h>
#include <fnmatch.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "guest/test_marker.h"

namespace {

const char* const kTests[] = {"Pass", "Fail", "Panic", "Hang", "Crash", "Teardown", "Splat", "Flood", "Vanish"};

std::string read_all(const char* path) {
    std::ifstream in(path);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

bool matches(const std::string& filter, const std::string& name) {
    std::stringstream ss(filter);
    std::string pattern;
    while (std::getline(ss, pattern, ':'))
        if (fnmatch(pattern.c_str(), name.c_str(), 0) == 0) return true;
    return false;
}

// What /init reads of a test (src/guest/test_marker.h): its begin marker, then its end marker
// with its result, as flowattr_kernel_tests prints them.
void begin(const std::string& test) { std::printf("%s\n", flowattr::guest::test_begin_line("Provoke." + test).c_str()); }

void end(const std::string& test, const std::string& failure) {
    flowattr::guest::TestOutcome outcome;
    outcome.test = "Provoke." + test;
    if (!failure.empty()) outcome.failures.push_back(failure);
    std::printf("%s\n", flowattr::guest::test_end_line(outcome).c_str());
    std::fflush(stdout);
}

// Writes to a kernel interface; a failure is reported, since the provoked outcome then cannot happen.
bool poke(const char* path, const std::string& data) {
    int fd = ::open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) {
        std::perror(path);
        return false;
    }
    bool ok = ::write(fd, data.data(), data.size()) == ssize_t(data.size());
    if (!ok) std::perror(path);
    ::close(fd);
    return ok;
}

int agent(int argc, char** argv) {
    if (argc < 3 || std::strcmp(argv[1], "load") != 0 || std::strcmp(argv[2], "--check") != 0) {
        std::fprintf(stderr, "kmatrix_provoke: only `load --check` is provoked\n");
        return 2;
    }
    if (read_all("/proc/cmdline").find("provoke.load_fail") != std::string::npos) {
        std::printf("FAIL provoke  fa_provoked  lsm/socket_post_create  rejected by the verifier (provoked)\n");
        return 1;
    }
    std::printf("ok   provoke  fa_provoked  tc  1 insns processed\n");
    return 0;
}

// One provoked test; false when it failed.
bool provoke(const std::string& test) {
    begin(test);
    if (test == "Fail") {
        std::printf("provoked failure\n");
        end(test, "Value of: provoked\n  Actual: false");
        return false;
    }
    if (test == "Splat") {
        // Shaped like the first line of a WARN(): what the per-test dmesg check looks for.
        if (!poke("/dev/kmsg", "<4>WARNING: CPU: 0 PID: 1 at provoke.c:1 provoked_splat+0x0/0x0\n")) {
            end(test, "cannot write /dev/kmsg");
            return false;
        }
    }
    if (test == "Panic") {
        std::fflush(stdout);
        poke("/proc/sysrq-trigger", "c");
        end(test, "sysrq is not built in");  // only reached then
        return false;
    }
    if (test == "Hang") {
        std::fflush(stdout);
        for (;;) pause();
    }
    if (test == "Crash") {
        // Killed by a signal mid-test, as a bad pointer would: no end marker, the process gone.
        std::fflush(stdout);
        std::raise(SIGSEGV);
    }
    if (test == "Flood") {
        // 16 MiB: at the serial ports' ~110 KB/s, two and a half minutes if all of it went
        // through them; /init must keep the console and the record short and pass it.
        std::string line(1023, 'x');
        line += '\n';
        for (int i = 0; i < 16 * 1024; i++) std::fwrite(line.data(), 1, line.size(), stdout);
    }
    if (test == "Vanish") {
        // The guest powers off mid-test: no result, no "done".
        std::fflush(stdout);
        poke("/proc/sysrq-trigger", "o");
        for (;;) pause();
    }
    end(test, "");
    return true;
}

// gtest-compatible enough for /init: the listing, then the tests the filter selects, in order.
int suite(int argc, char** argv) {
    std::string filter = "*";
    bool list = false;
    for (int i = 1; i < argc; i++) {
        std::string a = argv[i];
        if (a == "--gtest_list_tests") list = true;
        if (a.rfind("--gtest_filter=", 0) == 0) filter = a.substr(15);
    }
    if (list) {
        std::printf("Running main() from kmatrix_provoke\nProvoke.\n");
        for (const char* t : kTests)
            if (matches(filter, std::string("Provoke.") + t)) std::printf("  %s\n", t);
        return 0;
    }
    bool passed = true, teardown = false;
    for (const char* t : kTests)
        if (matches(filter, std::string("Provoke.") + t)) {
            passed = provoke(t) && passed;
            teardown = teardown || std::strcmp(t, "Teardown") == 0;
        }
    // Teardown passes, then its process dies after the last test, as a crash in a suite's
    // teardown or at exit would.
    if (teardown) std::abort();
    return passed ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
    std::string self = argv[0];
    std::string base = self.substr(self.rfind('/') + 1);
    return base == "flowattr" ? agent(argc, argv) : suite(argc, argv);
}
