#pragma once
// pid -> what a person wants to know about it, from /proc. Parsers take the file text so
// the unit tests pin them without a live process.
#include <cstdint>
#include <optional>
#include <string>

namespace flowattr::agent {

struct ProcessInfo {
    std::uint32_t pid = 0;
    std::string comm;
    std::string exe;           // empty when it could not be read (gone before it was first seen)
    std::string cgroup_path;   // cgroup v2 path, "/system.slice/x.service"
    std::string container_id;  // 64-hex id found in the cgroup path, or empty
    bool alive = false;        // false: exited, or the pid now belongs to another process;
                               // comm, exe and cgroup then keep what they were while it lived
};

// The whole text of a /proc file (whose stat size is 0); nullopt when it cannot be read,
// typically because the process exited.
std::optional<std::string> read_proc_file(const std::string& path);
// The real uid from the "Uid:" line of /proc/PID/status.
std::optional<std::uint32_t> parse_status_real_uid(const std::string& proc_pid_status);
// "0::/user.slice/..." line of /proc/PID/cgroup (the unified hierarchy); empty if absent.
std::string parse_cgroup_v2_path(const std::string& proc_pid_cgroup);
// Docker, containerd, CRI-O and podman ids: docker-<id>.scope, /docker/<id>,
// cri-containerd-<id>.scope, crio-<id>.scope, libpod-<id>.scope.
std::string container_id_from_cgroup(const std::string& cgroup_path);
// Field 22 of /proc/PID/stat (start time in clock ticks after boot); comm may hold
// spaces and parentheses, so the parse anchors on the last ')'.
std::optional<std::uint64_t> parse_stat_start_ticks(const std::string& proc_pid_stat);

// Field 3 of /proc/PID/stat: R, S, D, Z (exited, not yet reaped), ...; '?' when unreadable.
char parse_stat_state(const std::string& proc_pid_stat);
// Whether PID is still the process that started at START_TIME_NS (boot-time ns; 0: any).
// A zombie counts as gone.
bool process_alive(std::uint32_t pid, std::uint64_t start_time_ns, const std::string& proc_root = "/proc");

// Reads /proc/PID; `start_time_ns` (boot-time ns, from the BPF identity) tells a reused pid
// apart: a mismatch marks the process as gone rather than reporting a stranger.
ProcessInfo read_process_info(std::uint32_t pid, std::uint64_t start_time_ns,
                              const std::string& proc_root = "/proc");

}  // namespace flowattr::agent
