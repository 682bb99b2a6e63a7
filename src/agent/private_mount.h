#pragma once
// A filesystem the agent needs but cannot see, mounted where nothing of the host's lives and
// removed again at exit. `ip netns exec` remounts /sys, so a hybrid host's cgroup2 at
// /sys/fs/cgroup/unified vanishes from view; cilium solves the same by mounting its own
// cgroup2 under /run.
#include <string>

namespace flowattr::agent {

// Where the agent mounts a cgroup2 hierarchy of its own when none is visible.
inline constexpr const char* kPrivateCgroupDir = "/run/flowattr/cgroup2";

class PrivateMount {
public:
    // Creates DIR (and its parent) and mounts FSTYPE there; throws flowattr::Error when DIR
    // already is a mount point or the mount fails.
    PrivateMount(std::string dir, const std::string& fstype);
    ~PrivateMount();
    PrivateMount(const PrivateMount&) = delete;
    PrivateMount& operator=(const PrivateMount&) = delete;
    const std::string& path() const { return dir_; }

private:
    std::string dir_;
};

}  // namespace flowattr::agent
