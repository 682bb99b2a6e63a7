#pragma once
// Whether anything at all is attached on a clsact hook. libbpf's tc API reads one filter by
// handle and priority; deciding that a clsact qdisc is unused needs a listing of all of them.
#include <bpf/libbpf.h>

namespace flowattr::agent {

// True when the hook at POINT of IFINDEX (in the calling thread's network namespace) holds
// any filter; throws flowattr::Error when the kernel cannot be asked.
bool tc_hook_has_filters(int ifindex, bpf_tc_attach_point point);

}  // namespace flowattr::agent
