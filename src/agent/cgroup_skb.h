#pragma once
// Owner of bpf/cgroup_skb.bpf.c: per-cgroup packet and byte accounting on the watched
// cgroup tree, and optional egress token-bucket limits per cgroup.
#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "agent/libbpf_support.h"
#include "agent/options.h"
#include "flowattr.h"

struct cgroup_skb_bpf;

namespace flowattr::agent {

struct CgroupUsage {
    std::uint64_t cgroup_id = 0;
    fa_cgroup_stats stats{};
};

class CgroupAccounting {
public:
    // limits: resolved relative to cgroup_root when not absolute.
    CgroupAccounting(const std::string& cgroup_root, const std::vector<RateLimitSpec>& limits);
    ~CgroupAccounting();
    CgroupAccounting(const CgroupAccounting&) = delete;
    CgroupAccounting& operator=(const CgroupAccounting&) = delete;

    std::vector<CgroupUsage> snapshot() const;

private:
    Skeleton<cgroup_skb_bpf> skel_;
    UniqueFd cgroup_fd_;
    BpfLink ingress_;
    BpfLink egress_;
};

// One cgroup's counts in fa_cgroup_stats, the CPUs' slots summed; nullopt when it has no
// entry.
std::optional<fa_cgroup_stats> read_cgroup_stats(int map_fd, std::uint64_t cgroup_id);

// The cgroup v2 id of a cgroup directory (its kernfs node id, as bpf_skb_cgroup_id reports).
std::uint64_t cgroup_id_of(const std::string& path);

// A limit's bucket size: 50 ms of traffic, at least two full-size frames, so one packet never
// exceeds the bucket and a short burst does not skew the average.
inline std::uint64_t rate_limit_burst_bytes(std::uint64_t bytes_per_sec) {
    return std::max<std::uint64_t>(bytes_per_sec / 20, 3028);
}
// "app" under "/sys/fs/cgroup" -> "/sys/fs/cgroup/app"; absolute paths pass through.
std::string resolve_cgroup_path(const std::string& root, const std::string& path);

}  // namespace flowattr::agent
