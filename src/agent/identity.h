#pragma once
// Owner of bpf/identity.bpf.c: stamps every new socket with the creating process, through
// the bpf LSM where it is active and cgroup/sock_create on the watched cgroup otherwise,
// and proves the chosen hook fires instead of assuming it. Its object, identity.bpf.o, also
// holds task_sockets.bpf.c's start-up walk, loaded with the hook where the kernel takes it.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "agent/libbpf_support.h"
#include "agent/options.h"
#include "agent/probe.h"

struct identity_bpf;

namespace flowattr::agent {

enum class IdentityPath { lsm, sock_create };

// identity.bpf.o opened with these programs to load: the creation hook HOOK (none without one)
// and, if TASK_WALK, the start-up walk; its identity map reused from SK_STORAGE_FD when given
// (a map of its own otherwise). Throws flowattr::Error when the object cannot be opened.
Skeleton<identity_bpf> open_identity(std::optional<IdentityPath> hook, bool task_walk,
                                     std::optional<int> sk_storage_fd = std::nullopt);

struct IdentityStatus {
    IdentityPath path = IdentityPath::sock_create;
    std::string reason;       // why this path was chosen
    bool hook_fired = false;  // a socket created after attaching reached the hook
};

class IdentityTracker {
public:
    // cgroup_root: the cgroup v2 directory the fallback attaches to.
    IdentityTracker(IdentityMode mode, const std::string& cgroup_root);
    ~IdentityTracker();
    IdentityTracker(const IdentityTracker&) = delete;
    IdentityTracker& operator=(const IdentityTracker&) = delete;

    // The sk_storage map other objects reuse (bpf_map__reuse_fd) before they load.
    int sk_storage_fd() const;
    const IdentityStatus& status() const { return status_; }
    std::uint64_t hook_count() const;
    std::uint64_t stamped_count() const;
    // Whether the start-up walk (iter/task_file) loaded with the hook, or why not.
    const FeatureCheck& walk() const { return walk_; }
    // The walk's one pass over every task's files (task_sockets.h); throws flowattr::Error,
    // also when walk() says it did not load (the agent then walks /proc instead).
    std::uint64_t stamp_preexisting();

private:
    friend std::optional<bool> lsm_canary_fires();
    struct Unloaded {};
    explicit IdentityTracker(Unloaded);
    void load(IdentityPath path);
    int open_and_load(IdentityPath path, bool walk);
    bool fires();

    std::string cgroup_root_;
    Skeleton<identity_bpf> skel_;
    BpfLink link_;
    UniqueFd cgroup_fd_;
    IdentityStatus status_;
    FeatureCheck walk_;  // the canary loads no walk: left unavailable
};

std::string identity_path_name(IdentityPath path);

// The LSM canary: identity.bpf.c's socket_post_create hook, attached and tested with a
// socket. True when it fired, false when it attached and never fired (bpf not an active
// LSM), nullopt when it could not load or attach here.
std::optional<bool> lsm_canary_fires();

}  // namespace flowattr::agent
