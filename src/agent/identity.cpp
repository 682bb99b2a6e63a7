#include "agent/identity.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agent/probe.h"
#include "agent/task_sockets.h"
#include "common/error.h"
#include "flowattr.h"
#include "identity.skel.h"

namespace flowattr::agent {

std::string identity_path_name(IdentityPath path) {
    return path == IdentityPath::lsm ? "lsm/socket_post_create" : "cgroup/sock_create";
}

IdentityTracker::IdentityTracker(IdentityMode mode, const std::string& cgroup_root)
    : cgroup_root_(cgroup_root), walk_(task_walk_precondition()) {
    std::string lsm_list;
    bool lsm_active = bpf_lsm_active(&lsm_list);
    if (mode == IdentityMode::sock_create) {
        load(IdentityPath::sock_create);
        status_.reason = "requested with --identity sock-create";
    } else if (mode == IdentityMode::lsm) {
        // Attached, then proven by the hook counter: where bpf is not an active LSM the
        // kernel loads and attaches the program all the same, and it never runs.
        load(IdentityPath::lsm);
        if (!fires())
            throw Error("--identity lsm: the LSM program attached but never fired" +
                        (lsm_active ? std::string()
                                    : ": bpf is not an active LSM (lsm=" + lsm_list +
                                          "); boot with lsm=...,bpf or use --identity auto"));
        status_.reason = "requested with --identity lsm";
    } else if (!lsm_active) {
        load(IdentityPath::sock_create);
        status_.reason = "bpf LSM not active (lsm=" + lsm_list + ")";
    } else {
        try {
            load(IdentityPath::lsm);
            if (fires()) {
                status_.reason = "bpf LSM active";
            } else {
                load(IdentityPath::sock_create);
                status_.reason = "LSM program attached but never fired";
            }
        } catch (const Error& e) {
            load(IdentityPath::sock_create);
            status_.reason = std::string("LSM program refused: ") + e.what();
        }
    }
    status_.hook_fired = fires();
}

IdentityTracker::IdentityTracker(Unloaded) {}

IdentityTracker::~IdentityTracker() = default;

Skeleton<identity_bpf> open_identity(std::optional<IdentityPath> hook, bool task_walk,
                                     std::optional<int> sk_storage_fd) {
    LibbpfLogCapture log;
    Skeleton<identity_bpf> skel(identity_bpf__open());
    if (!skel) throw Error("cannot open the identity BPF object", errno, log.text());
    bpf_program__set_autoload(skel->progs.fa_socket_post_create, hook == IdentityPath::lsm);
    bpf_program__set_autoload(skel->progs.fa_sock_create, hook == IdentityPath::sock_create);
    bpf_program__set_autoload(skel->progs.fa_stamp_task_sockets, task_walk);
    if (sk_storage_fd)
        check_libbpf(bpf_map__reuse_fd(skel->maps.fa_sk_identity, *sk_storage_fd),
                     "cannot share the identity map", log);
    return skel;
}

int IdentityTracker::open_and_load(IdentityPath path, bool walk) {
    skel_ = open_identity(path, walk);
    return identity_bpf__load(skel_.get());
}

void IdentityTracker::load(IdentityPath path) {
    link_.reset();
    skel_.reset();
    LibbpfLogCapture log;
    const bool lsm = path == IdentityPath::lsm;
    // The walk loads with the hook (one object, one parse of the kernel's BTF) unless the
    // kernel cannot take it. Refused, it may be what failed: the hook alone decides, and the
    // walk's own reason is asked apart.
    int err = open_and_load(path, walk_.available);
    if (err != 0 && walk_.available && open_and_load(path, false) == 0) {
        walk_ = task_walk_refused(err);
        err = 0;
    }
    check_libbpf(err, "cannot load " + identity_path_name(path), log);
    bpf_link* link = nullptr;
    if (lsm) {
        link = bpf_program__attach_lsm(skel_->progs.fa_socket_post_create);
    } else {
        if (!cgroup_fd_) {
            cgroup_fd_ = UniqueFd(open(cgroup_root_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
            if (!cgroup_fd_) throw Error("cannot open cgroup " + cgroup_root_, errno);
        }
        link = bpf_program__attach_cgroup(skel_->progs.fa_sock_create, cgroup_fd_.get());
    }
    if (!link) throw Error("cannot attach " + identity_path_name(path), errno, log.text());
    link_.reset(link);
    status_.path = path;
}

bool IdentityTracker::fires() {
    std::uint64_t before = hook_count();
    UniqueFd probe(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    if (!probe) throw Error("cannot create a socket to test the identity hook", errno);
    return hook_count() > before;
}

int IdentityTracker::sk_storage_fd() const { return bpf_map__fd(skel_->maps.fa_sk_identity); }

std::uint64_t IdentityTracker::hook_count() const {
    return sum_percpu_counter(bpf_map__fd(skel_->maps.fa_identity_counters), FA_CNT_IDENTITY_HOOK);
}

std::uint64_t IdentityTracker::stamp_preexisting() {
    if (!walk_.available) throw Error("cannot load iter/task_file: " + walk_.detail);
    return stamp_task_sockets(skel_.get());
}

std::uint64_t IdentityTracker::stamped_count() const {
    return sum_percpu_counter(bpf_map__fd(skel_->maps.fa_identity_counters), FA_CNT_IDENTITY_STAMPED);
}

std::optional<bool> lsm_canary_fires() {
    IdentityTracker canary{IdentityTracker::Unloaded{}};
    try {
        canary.load(IdentityPath::lsm);
    } catch (const Error&) {
        return std::nullopt;
    }
    return canary.fires();
}

}  // namespace flowattr::agent
