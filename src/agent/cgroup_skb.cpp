#include "agent/cgroup_skb.h"

#include <bpf/bpf.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>

#include <cerrno>
#include <cstring>

#include "cgroup_skb.skel.h"
#include "common/clock.h"
#include "common/error.h"

namespace flowattr::agent {

std::string resolve_cgroup_path(const std::string& root, const std::string& path) {
    if (!path.empty() && path[0] == '/') return path;
    return root + "/" + path;
}

std::uint64_t cgroup_id_of(const std::string& path) {
    struct {
        struct file_handle handle;
        std::uint64_t id;
    } fh{};
    fh.handle.handle_bytes = sizeof(fh.id);
    int mount_id = 0;
    if (name_to_handle_at(AT_FDCWD, path.c_str(), &fh.handle, &mount_id, 0) != 0)
        throw Error("cannot resolve cgroup " + path, errno);
    std::uint64_t id = 0;
    std::memcpy(&id, fh.handle.f_handle, sizeof(id));
    return id;
}

CgroupAccounting::CgroupAccounting(const std::string& cgroup_root, const std::vector<RateLimitSpec>& limits) {
    struct stat st {};
    if (stat(cgroup_root.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) throw BadInputError("unknown cgroup " + cgroup_root, errno);
    LibbpfLogCapture log;
    skel_.reset(cgroup_skb_bpf__open());
    if (!skel_) throw Error("cannot open the cgroup_skb programs", errno, log.text());
    skel_->rodata->fa_rate_limited = !limits.empty();
    if (const int err = cgroup_skb_bpf__load(skel_.get()))
        throw Error("cannot load the cgroup_skb programs", -err, log.text());
    for (const auto& limit : limits) {
        std::string path = resolve_cgroup_path(cgroup_root, limit.cgroup);
        std::uint64_t id = cgroup_id_of(path);
        fa_rate_limit bucket{};
        bucket.rate_bytes_per_sec = limit.bytes_per_sec;
        bucket.burst_bytes = rate_limit_burst_bytes(limit.bytes_per_sec);
        bucket.tokens = bucket.burst_bytes;
        bucket.last_refill_ns = clock_ns(CLOCK_MONOTONIC);
        if (bpf_map_update_elem(bpf_map__fd(skel_->maps.fa_rate_limits), &id, &bucket, BPF_ANY) != 0)
            throw Error("cannot set the rate limit for " + path, errno);
    }
    cgroup_fd_ = UniqueFd(open(cgroup_root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!cgroup_fd_) throw Error("cannot open cgroup " + cgroup_root, errno);
    ingress_.reset(bpf_program__attach_cgroup(skel_->progs.fa_cgroup_ingress, cgroup_fd_.get()));
    if (!ingress_) throw Error("cannot attach cgroup_skb/ingress to " + cgroup_root, errno, log.text());
    egress_.reset(bpf_program__attach_cgroup(skel_->progs.fa_cgroup_egress, cgroup_fd_.get()));
    if (!egress_) throw Error("cannot attach cgroup_skb/egress to " + cgroup_root, errno, log.text());
}

CgroupAccounting::~CgroupAccounting() = default;

std::optional<fa_cgroup_stats> read_cgroup_stats(int map_fd, std::uint64_t cgroup_id) {
    static_assert(sizeof(fa_cgroup_stats) % 8 == 0, "a per-CPU value is laid out in 8-byte steps");
    const int cpus = libbpf_num_possible_cpus();
    if (cpus <= 0) throw Error("cannot count possible CPUs", -cpus);
    std::vector<fa_cgroup_stats> per_cpu(static_cast<std::size_t>(cpus));
    if (bpf_map_lookup_elem(map_fd, &cgroup_id, per_cpu.data()) != 0) {
        // Gone between the key walk and the lookup: the kernel removes nothing itself,
        // so only another reader of a pinned map could; not an error either way.
        if (errno == ENOENT) return std::nullopt;
        throw Error("cannot read the counts of cgroup " + std::to_string(cgroup_id), errno);
    }
    fa_cgroup_stats sum{};
    for (const auto& cpu : per_cpu) {
        for (int dir = 0; dir < FA_DIR_COUNT; dir++) {
            sum.packets[dir] += cpu.packets[dir];
            sum.bytes[dir] += cpu.bytes[dir];
        }
        sum.dropped_packets += cpu.dropped_packets;
        sum.dropped_bytes += cpu.dropped_bytes;
    }
    return sum;
}

std::vector<CgroupUsage> CgroupAccounting::snapshot() const {
    std::vector<CgroupUsage> out;
    int fd = bpf_map__fd(skel_->maps.fa_cgroup_stats);
    std::uint64_t key = 0, next = 0;
    const void* prev = nullptr;
    while (bpf_map_get_next_key(fd, prev, &next) == 0) {
        if (auto stats = read_cgroup_stats(fd, next)) out.push_back(CgroupUsage{next, *stats});
        key = next;
        prev = &key;
    }
    return out;
}

}  // namespace flowattr::agent
