#pragma once
// Owner of bpf/task_sockets.bpf.c: one pass of iter/task_file over every task's files at
// start-up, stamping sockets that were opened before the agent's hook was attached.
#include <cstdint>

#include "agent/probe.h"

namespace flowattr::agent {

// Returns how many sockets were given an identity. Throws flowattr::Error when the
// iterator cannot load (bpf_sock_from_file needs Linux 5.11; before that the agent uses
// proc_sockets.h instead).
std::uint64_t stamp_preexisting_sockets(int sk_storage_fd);

// Whether this kernel's verifier accepts the walk, asked by loading it: it needs
// bpf_sock_from_file (5.11), and a verifier that takes the socket's sk from it as a trusted
// pointer (measured: 6.18.44 "fc" builds type it untrusted and refuse bpf_sk_storage_get on
// it, where Debian's 6.12 and 7.2 accept it). The detail names the verifier's reason.
inline constexpr const char* kFeatureTaskWalk = "task_walk";
FeatureCheck probe_task_walk();

}  // namespace flowattr::agent
