// SPDX-License-Identifier: GPL-2.0
// Baselines for benchmarks: programs that only let the packet pass, at the agent's hooks (a
// tc program for clsact filters and TCX links, and cgroup_skb ingress and egress), so a
// benchmark can tell the cost of a hook from the cost of the agent's instructions.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

SEC("tc")
int fa_noop(struct __sk_buff *skb)
{
	return 0; /* TC_ACT_OK; TCX_PASS on a TCX link */
}

SEC("cgroup_skb/ingress")
int fa_noop_cgroup_ingress(struct __sk_buff *skb)
{
	return 1; /* pass */
}

SEC("cgroup_skb/egress")
int fa_noop_cgroup_egress(struct __sk_buff *skb)
{
	return 1; /* pass */
}

char LICENSE[] SEC("license") = "GPL";
