#pragma once
// Owner of bpf/task_sockets.bpf.c: one pass of iter/task_file over every task's files at
// start-up, stamping sockets that were opened before the agent's hook was attached. The walk
// is linked into identity.bpf.o with the creation hooks (bpf/CMakeLists.txt), so the agent's
// IdentityTracker loads it with them, one object and one parse of the kernel's BTF.
#include <linux/bpf.h>

#include <cstdint>

#include "agent/libbpf_support.h"
#include "agent/probe.h"

struct identity_bpf;

namespace flowattr::agent {

// Whether this kernel's verifier accepts the walk, asked by loading it: it needs
// bpf_sock_from_file (5.11), and a verifier that takes the socket's sk from it as a trusted
// pointer (measured: 6.18.44 "fc" builds type it untrusted and refuse bpf_sk_storage_get on
// it, where Debian's 6.12 and 7.2 accept it). The detail names the verifier's reason.
inline constexpr const char* kFeatureTaskWalk = "task_walk";

// Before any load: unavailable, naming why, where the kernel lacks bpf_sock_from_file (as
// SOCK_FROM_FILE, the helper's own check, says); otherwise available, to be confirmed by
// loading the walk.
FeatureCheck task_walk_precondition(const FeatureCheck& sock_from_file = probe_helper_exists(
                                        kFeatureSockFromFile, BPF_FUNC_sock_from_file));
// The check of a walk the kernel refused with ERR: the verifier's reason, from a second load
// of the walk alone with a verifier log (the first loads without one, as a log costs time on
// every start: seconds' worth under TCG over a matrix suite).
FeatureCheck task_walk_refused(int err);
// One pass over every task's files with the walk of LOADED; returns how many sockets were
// given an identity. Throws flowattr::Error when it cannot attach or iterate.
std::uint64_t stamp_task_sockets(identity_bpf* loaded);

// The walk loaded alone (PRECONDITION unmet: not tried).
FeatureCheck probe_task_walk(const FeatureCheck& precondition = task_walk_precondition());

}  // namespace flowattr::agent
