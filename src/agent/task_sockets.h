#pragma once
// Owner of bpf/task_sockets.bpf.c: one pass of iter/task_file over every task's files at
// start-up, stamping sockets that were opened before the agent's hook was attached.
#include <cstdint>

namespace flowattr::agent {

// Returns how many sockets were given an identity. Throws flowattr::Error when the
// iterator cannot load (bpf_sock_from_file needs Linux 5.11; before that the agent uses
// proc_sockets.h instead).
std::uint64_t stamp_preexisting_sockets(int sk_storage_fd);

}  // namespace flowattr::agent
