#pragma once
// Child processes (apt-get, dpkg-deb, xz, qemu-system-x86_64 ...) run by fork/exec with an
// argv vector: no shell, so no quoting bugs, and stderr is kept for the Error's log.
#include <sys/types.h>

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "common/unique_fd.h"

namespace flowattr {

struct RunOptions {
    std::string cwd;                     // empty: inherit
    std::vector<std::string> env;        // "KEY=VALUE" added to (or replacing in) the inherited environment
    std::string stdin_data;              // written to the child's stdin, then closed; empty: /dev/null
    std::string stdout_path;             // non-empty: stdout goes to this file (created 0644, truncated), not captured
    std::chrono::milliseconds timeout{0};  // 0: none; on expiry the child's process group gets SIGKILL
    // Called with each chunk as it arrives (e.g. to show a serial console live or watch for a marker).
    // The chunk is also captured unless stdout_path redirects it.
    std::function<void(const std::string& chunk)> on_stdout;
    std::function<void(const std::string& chunk)> on_stderr;
    // Asked after each chunk: true starts the timeout over from now. A child that runs several
    // steps, each with the limit (kmatrix's /init running a batch of tests), says so when the
    // next one begins.
    std::function<bool()> restart_timeout;
    std::size_t max_capture = 64 << 20;  // per stream; beyond this only the tail is kept
};

struct RunResult {
    int exit_code = -1;   // -1 when killed by a signal
    int term_signal = 0;  // the signal that ended the child, 0 if it exited
    bool timed_out = false;
    std::string out;
    std::string err;
    std::chrono::milliseconds elapsed{0};

    bool ok() const { return exit_code == 0 && !timed_out; }
    // "exited with status 2" / "killed by signal 9" / "timed out after 30000 ms"
    std::string status_text() const;
};

// The one fork/exec of the project, under run_command and the VM runner's ChildProcess:
// argv[0] looked up in PATH, the environment merged, the child in its own process group
// (a kill of -pid reaches its children too) and killed when this process dies
// (PR_SET_PDEATHSIG), signals at their defaults.
struct SpawnSpec {
    std::vector<std::string> argv;
    std::vector<std::string> env;  // "KEY=VALUE" added to (or replacing in) the inherited environment
    std::string cwd;               // empty: inherit
    int stdin_fd = -1, stdout_fd = -1, stderr_fd = -1;  // -1: inherit
    bool own_group = true;         // false: stay in ours (an interactive QEMU keeps the terminal)
};

// A child's ends that are files: PATH created 0644 and truncated for its output, /dev/null for
// its stdin. Both throw flowattr::Error naming what could not be opened.
UniqueFd create_output_file(const std::string& path);
UniqueFd open_dev_null();

// Returns the child's pid once exec succeeded; throws flowattr::Error with exec's errno (or
// fork's) when the child could not start, after reaping it.
pid_t spawn(const SpawnSpec& spec);

// Runs argv[0] (looked up in PATH) and waits for it. Throws flowattr::Error only when the child
// cannot be started (fork/pipe/exec failure, errno kept); a non-zero exit is a result, not an error.
RunResult run_command(const std::vector<std::string>& argv, const RunOptions& options = {});

// run_command, then throws flowattr::Error("<what>: <argv0> <status>", 0, stderr) unless ok().
RunResult check_command(const std::vector<std::string>& argv, const std::string& what,
                        const RunOptions& options = {});

// "apt-get download 'a b'" — for messages only, never executed.
std::string format_argv(const std::vector<std::string>& argv);

}  // namespace flowattr
