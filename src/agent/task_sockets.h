#pragma once
// Owner of bpf/task_sockets.bpf.c: one pass of iter/task_file over every task's files at
// start-up, stamping sockets that were opened before the agent's hook was attached.
#include <cstdint>
#include <optional>

#include "agent/libbpf_support.h"
#include "agent/probe.h"

struct task_sockets_bpf;

namespace flowattr::agent {

// Whether this kernel's verifier accepts the walk, asked by loading it: it needs
// bpf_sock_from_file (5.11), and a verifier that takes the socket's sk from it as a trusted
// pointer (measured: 6.18.44 "fc" builds type it untrusted and refuse bpf_sk_storage_get on
// it, where Debian's 6.12 and 7.2 accept it). The detail names the verifier's reason.
inline constexpr const char* kFeatureTaskWalk = "task_walk";

// iter/task_file loaded once, for both questions an agent asks of it at start-up: can this
// kernel walk (check()), and then the walk itself (stamp()). SK_STORAGE_FD is the identity map
// the walk stamps into; nullopt loads it with a map of its own, only to ask.
class TaskWalk {
public:
    explicit TaskWalk(std::optional<int> sk_storage_fd);
    ~TaskWalk();
    TaskWalk(const TaskWalk&) = delete;
    TaskWalk& operator=(const TaskWalk&) = delete;

    const FeatureCheck& check() const { return check_; }
    // One pass over every task's files; returns how many sockets were given an identity.
    // Throws flowattr::Error, also when check() says the walk does not load (the agent then
    // uses proc_sockets.h instead).
    std::uint64_t stamp();

private:
    Skeleton<task_sockets_bpf> skel_;
    FeatureCheck check_;
};

FeatureCheck probe_task_walk();

}  // namespace flowattr::agent
