// SPDX-License-Identifier: GPL-2.0
/*
 * Benchmark baseline: the fastest reasonable flow counter, to hold flow.bpf.c
 * against. It reads the packet as flow.bpf.c does (direct packet access, up to
 * two VLAN tags, IPv4 and IPv6) and counts packets per 5-tuple in the same map
 * type (LRU hash), but keeps no identity, sends no events and walks no IPv6
 * extension headers, so the difference between the two is the cost of what
 * flow.bpf.c adds. Headers outside the linear data, other protocols and short
 * packets are ignored.
 * min kernel: 4.10 (LRU hash); any kernel of the matrix.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "flowattr.h"
#include "packet.bpf.h"

/* As flow.bpf.c: a bound on header offsets the verifier can follow. */
#define FA_PLAIN_MAX_OFF 1024

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct fa_plain_key);
	__type(value, __u64);
} fa_plain_counts SEC(".maps");

SEC("tc")
int fa_plain_counter(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct fa_plain_key key = {};
	__u64 one = 1, *count;
	__u32 off = ETH_HLEN, kind;
	__be16 proto;
	__u8 *ip;
	int i;

	if (data + ETH_HLEN > data_end)
		return TC_ACT_UNSPEC;
	proto = *(__be16 *)(data + ETH_HLEN - 2);
#pragma unroll
	for (i = 0; i < 2; i++) {
		if (proto != bpf_htons(ETH_P_8021Q) && proto != bpf_htons(ETH_P_8021AD))
			break;
		if (data + off + 4 > data_end)
			return TC_ACT_UNSPEC;
		proto = *(__be16 *)(data + off + 2);
		off += 4;
	}
	ip = data + off;
	if (proto == bpf_htons(ETH_P_IP)) {
		if ((void *)(ip + 20) > data_end)
			return TC_ACT_UNSPEC;
		kind = fa_half(FA_AF_INET, ip[9]);
		fa_packet_copy(key.saddr, ip + 12, 4);
		fa_packet_copy(key.daddr, ip + 16, 4);
		off += (ip[0] & 0x0F) * 4;
	} else if (proto == bpf_htons(ETH_P_IPV6)) {
		if ((void *)(ip + 40) > data_end)
			return TC_ACT_UNSPEC;
		kind = fa_half(FA_AF_INET6, ip[6]);
		fa_packet_copy(key.saddr, ip + 8, 16);
		fa_packet_copy(key.daddr, ip + 24, 16);
		off += 40;
	} else {
		return TC_ACT_UNSPEC;
	}
	/* Family, protocol and padding stored as the one word the map's hash reads,
	 * as flow.bpf.c does (fa_flow_key_init says why). */
	__builtin_memcpy(&key.family, &kind, sizeof(kind));
	/* sport and dport are adjacent in the key as on the wire; a truncated
	 * packet is keyed with ports 0. */
	if ((key.proto == FA_PROTO_TCP || key.proto == FA_PROTO_UDP) && off <= FA_PLAIN_MAX_OFF &&
	    data + off + 4 <= data_end)
		fa_packet_copy(&key.sport, data + off, 4);

	count = bpf_map_lookup_elem(&fa_plain_counts, &key);
	if (count)
		__sync_fetch_and_add(count, 1);
	else
		bpf_map_update_elem(&fa_plain_counts, &key, &one, BPF_NOEXIST);
	return TC_ACT_UNSPEC;
}

char LICENSE[] SEC("license") = "GPL";
