#include "agent/proc_sockets.h"

#include <bpf/bpf.h>
#include <dirent.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <optional>
#include <vector>

#include "agent/procfs.h"
#include "common/error.h"
#include "common/unique_fd.h"
#include "flowattr.h"

namespace flowattr::agent {
namespace {

struct DirCloser {
    void operator()(DIR* d) const { closedir(d); }
};
using DirPtr = std::unique_ptr<DIR, DirCloser>;

std::vector<std::string> numeric_entries(const std::string& dir) {
    std::vector<std::string> out;
    DirPtr d(opendir(dir.c_str()));
    if (!d) return out;
    while (dirent* e = readdir(d.get()))
        if (e->d_name[0] >= '0' && e->d_name[0] <= '9') out.emplace_back(e->d_name);
    return out;
}

// The identity the creation hook would have written, rebuilt from /proc/PID; nullopt when
// the process is gone.
std::optional<fa_identity> identity_of_process(const std::string& pid_dir, std::uint32_t tgid,
                                               const std::string& cgroup_root) {
    auto stat = read_proc_file(pid_dir + "/stat");
    auto status = read_proc_file(pid_dir + "/status");
    auto comm = read_proc_file(pid_dir + "/comm");
    if (!stat || !status || !comm) return std::nullopt;
    auto ticks = parse_stat_start_ticks(*stat);
    auto uid = parse_status_real_uid(*status);
    long hz = sysconf(_SC_CLK_TCK);
    if (!ticks || !uid || hz <= 0) return std::nullopt;

    fa_identity id{};
    id.tgid = id.pid = tgid;
    id.uid = *uid;
    id.source = FA_ID_PROC_WALK;
    id.start_time_ns = *ticks * (1000000000ull / std::uint64_t(hz));
    std::string name = comm->substr(0, comm->find('\n'));
    std::memcpy(id.comm, name.data(), std::min(name.size(), sizeof(id.comm) - 1));
    if (auto cg = read_proc_file(pid_dir + "/cgroup")) {
        struct stat st {};
        std::string path = parse_cgroup_v2_path(*cg);
        if (!path.empty() && ::stat((cgroup_root + path).c_str(), &st) == 0) id.cgroup_id = st.st_ino;
    }
    return id;
}

bool is_ip_socket(int fd) {
    int domain = 0;
    socklen_t len = sizeof(domain);
    return getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) == 0 && (domain == AF_INET || domain == AF_INET6);
}

}  // namespace

ProcWalkResult stamp_sockets_from_proc(int sk_storage_fd, const std::string& cgroup_root,
                                       const std::string& proc_root) {
    if (access(proc_root.c_str(), R_OK) != 0) throw Error("cannot read " + proc_root, errno);
    ProcWalkResult r;
    for (const auto& pid : numeric_entries(proc_root)) {
        std::string pid_dir = proc_root + "/" + pid;
        std::vector<std::string> socket_fds;
        for (const auto& fd : numeric_entries(pid_dir + "/fd")) {
            char target[64];
            ssize_t n = readlink((pid_dir + "/fd/" + fd).c_str(), target, sizeof(target) - 1);
            if (n > 7 && std::strncmp(target, "socket:", 7) == 0) socket_fds.push_back(fd);
        }
        if (socket_fds.empty()) continue;
        std::uint32_t tgid = std::uint32_t(std::stoul(pid));
        UniqueFd pidfd(int(syscall(SYS_pidfd_open, pid_t(tgid), 0)));
        if (!pidfd) {
            if (errno == ESRCH) continue;
            throw Error("pidfd_open(" + pid + ") failed (needs Linux 5.3)", errno);
        }
        auto id = identity_of_process(pid_dir, tgid, cgroup_root);
        if (!id) continue;
        for (const auto& fd : socket_fds) {
            UniqueFd mine(int(syscall(SYS_pidfd_getfd, pidfd.get(), std::stoi(fd), 0)));
            if (!mine) {
                if (errno == ENOSYS) throw Error("pidfd_getfd is missing (needs Linux 5.6)", errno);
                if (errno == EBADF || errno == ESRCH) continue;  // closed or exited meanwhile
                if (!r.unreachable++)
                    r.first_error = describe_errno("pidfd_getfd(" + pid + ", " + fd + ")", errno);
                break;
            }
            if (!is_ip_socket(mine.get())) continue;
            r.sockets++;
            int key = mine.get();
            if (bpf_map_update_elem(sk_storage_fd, &key, &*id, BPF_NOEXIST) == 0)
                r.stamped++;
            else if (errno != EEXIST)
                throw Error("cannot write the identity of socket " + pid + "/" + fd, errno);
        }
    }
    return r;
}

}  // namespace flowattr::agent
