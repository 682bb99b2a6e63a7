// SPDX-License-Identifier: GPL-2.0
// Baseline for benchmarks: a TC program that only returns TC_ACT_OK.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

SEC("tc")
int fa_noop(struct __sk_buff *skb)
{
	return 0; /* TC_ACT_OK */
}

char LICENSE[] SEC("license") = "GPL";
