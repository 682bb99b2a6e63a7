#pragma once
// Pre-existing sockets on kernels without bpf_sock_from_file (before 5.11), where
// task_sockets.bpf.c cannot load: walk /proc/PID/fd from userspace, duplicate every socket
// into the agent with pidfd_getfd(2) (5.6) and write the owner's identity through the
// SK_STORAGE map's syscall interface, which takes a socket fd of the caller as its key.
#include <cstdint>
#include <string>

namespace flowattr::agent {

struct ProcWalkResult {
    std::uint64_t sockets = 0;  // IPv4/IPv6 sockets found
    std::uint64_t stamped = 0;  // given an identity (the rest already had one)
    std::uint64_t unreachable = 0;  // processes whose files could not be duplicated
    std::string first_error;    // why, for the first of those
};

// Identities carry source FA_ID_PROC_WALK, pid = tgid (/proc cannot tell which thread
// created a socket), the real uid, and the cgroup id as the inode of the process's cgroup
// directory under CGROUP_ROOT (the kernfs id bpf_get_current_cgroup_id() returns).
// Existing identities are never overwritten (BPF_NOEXIST). Throws flowattr::Error when
// PROC_ROOT cannot be read or the kernel has no pidfd_getfd.
ProcWalkResult stamp_sockets_from_proc(int sk_storage_fd, const std::string& cgroup_root,
                                       const std::string& proc_root = "/proc");

}  // namespace flowattr::agent
