// SPDX-License-Identifier: GPL-2.0
/*
 * Benchmark baseline: the plainest useful flow program — count packets per
 * IPv4 5-tuple in a hash map. No VLANs, IPv6, identity or events, but the same
 * bpf_skb_load_bytes parsing as flow.bpf.c, so the difference between the two
 * is the cost of what flow.bpf.c adds. Non-IPv4 and short packets are ignored.
 * min kernel: 4.5 (every helper used); any kernel of the matrix.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "flowattr.h"

#define ETH_HLEN 14
#define ETH_P_IP 0x0800

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, struct fa_plain_key);
	__type(value, __u64);
} fa_plain_counts SEC(".maps");

SEC("tc")
int fa_plain_counter(struct __sk_buff *skb)
{
	struct fa_plain_key key = {};
	__u64 one = 1, *count;
	__u8 ip[20];
	__be16 proto;
	__u32 ihl;

	if (bpf_skb_load_bytes(skb, ETH_HLEN - 2, &proto, sizeof(proto)) ||
	    proto != bpf_htons(ETH_P_IP) || bpf_skb_load_bytes(skb, ETH_HLEN, ip, sizeof(ip)))
		return TC_ACT_UNSPEC;
	ihl = (ip[0] & 0x0F) * 4;
	key.proto = ip[9];
	__builtin_memcpy(&key.saddr, &ip[12], 4);
	__builtin_memcpy(&key.daddr, &ip[16], 4);
	if (key.proto == FA_PROTO_TCP || key.proto == FA_PROTO_UDP)
		/* sport and dport are adjacent in the key as on the wire; a failed
		 * load zeroes them, keying a truncated packet with ports 0. */
		bpf_skb_load_bytes(skb, ETH_HLEN + ihl, &key.sport, 4);

	count = bpf_map_lookup_elem(&fa_plain_counts, &key);
	if (count)
		__sync_fetch_and_add(count, 1);
	else
		bpf_map_update_elem(&fa_plain_counts, &key, &one, BPF_NOEXIST);
	return TC_ACT_UNSPEC;
}

char LICENSE[] SEC("license") = "GPL";
