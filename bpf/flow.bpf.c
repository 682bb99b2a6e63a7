// SPDX-License-Identifier: GPL-2.0
/*
 * Per-flow accounting on an interface, attributed to the process owning the
 * local socket. One handler behind four entry points; the agent autoloads one
 * pair: TCX (kernel >= 6.6) or, before that, classic tc with clsact.
 * The entry point fixes the direction, so fa_tc_ingress and fa_tc_egress can be
 * tested apart with BPF_PROG_TEST_RUN.
 *
 * min kernel 5.8 (ring buffer); every helper used is older: skb_load_bytes 4.5,
 * sk_fullsock 5.1, skc_lookup_tcp 5.2, sk_storage_get from tc 5.2.
 * tcx/ingress and tcx/egress attach from 6.6 only; their load on older kernels
 * is skipped with bpf_program__set_autoload(false).
 *
 * Observe, never interfere: every path returns TCX_NEXT / TC_ACT_UNSPEC, and the
 * headers are read from the linear data where they lie there and with
 * bpf_skb_load_bytes otherwise (fa_load), so that non-linear skbs and truncated
 * packets cost a counter, never a verifier-unsafe access.
 *
 * Frames are parsed from an Ethernet header at offset 0, as tc sees them on
 * Ethernet-type devices (ARPHRD_ETHER: NICs, veth, bridges, VLAN devices) and
 * on loopback. Devices without a link-layer header (tun, WireGuard, ipip) put
 * the IP header at offset 0 and would be counted as non-IP: the agent should
 * not attach there.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "flowattr.h"
#include "counters.bpf.h"
#include "identity_map.bpf.h"
#include "packet.bpf.h"

#define FA_MAX_VLAN_TAGS 2

#define IP_OFFSET 0x1FFF
#define IPV6_FRAG_OFFSET 0xFFF8
#define FA_MAX_IPV6_EXT_HEADERS 8

#define NEXTHDR_HOP 0
#define NEXTHDR_ROUTING 43
#define NEXTHDR_FRAGMENT 44
#define NEXTHDR_AUTH 51
#define NEXTHDR_DEST 60

#define TCP_FLAG_FIN 0x01
#define TCP_FLAG_RST 0x04

#define ICMP_ECHOREPLY 0
#define ICMP_ECHO 8
#define ICMPV6_ECHO_REQUEST 128
#define ICMPV6_ECHO_REPLY 129

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	/* The agent sizes it to --max-flows before load. This default is for loaders that do
	 * not (the kernel tests, `flowattr check`, bpftool): an LRU table is allocated and
	 * linked whole at load, which for 65,536 entries took a 6.1 VM under TCG about 50 ms
	 * of every load. */
	__uint(max_entries, 16384);
	__type(key, struct fa_flow_key);
	__type(value, struct fa_flow_stats);
} fa_flows SEC(".maps");

/* 4 MiB, about 24,000 events (168 bytes and an 8-byte header each): while the agent
 * prints an interval's report it drains the ring only between batches of its table
 * read, and connection churn keeps producing meanwhile (256 KiB, before the report
 * drained it at all, lost events at 20,000 connections/s; 4 MiB none at 19,000, the
 * most bench/churn_bench.cpp makes here). */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4 * 1024 * 1024);
} fa_events SEC(".maps");

FA_COUNTER_MAP(fa_flow_counters);

/* Which watched network namespace this copy of the programs serves, set by the
 * agent before load: one copy per namespace, all sharing the maps above, so
 * that (netns, ifindex) names an interface. Read-only data is frozen at load,
 * and the verifier folds this into a constant. */
const volatile __u16 fa_netns_slot = 0;

enum fa_parse_result {
	FA_PARSE_OK = 0,
	FA_PARSE_NOT_IP,
	FA_PARSE_ERROR,
	FA_PARSE_NONLINEAR, /* direct pass only: a header is not in the linear data */
	FA_PARSE_NO_L4,     /* L3 only: a later fragment, keyed with ports 0 */
};

/* A packet's 5-tuple as seen on the wire (source/destination, not local/remote). */
struct fa_packet {
	__u8 saddr[FA_ADDR_LEN];
	__u8 daddr[FA_ADDR_LEN];
	__u16 sport; /* host order */
	__u16 dport;
	__u8 family;
	__u8 proto;
	__u8 tcp_flags;
};

struct fa_ipv4_header {
	__u8 version_ihl;
	__u8 tos;
	__be16 tot_len;
	__be16 id;
	__be16 frag_off;
	__u8 ttl;
	__u8 protocol;
	__be16 check;
	__u8 saddr[4];
	__u8 daddr[4];
};

struct fa_ipv6_header {
	__be32 version_class_label;
	__be16 payload_len;
	__u8 nexthdr;
	__u8 hop_limit;
	__u8 saddr[16];
	__u8 daddr[16];
};

/* The first 8 bytes every IPv6 extension header has (the Fragment header is exactly 8). */
struct fa_ipv6_ext_header {
	__u8 nexthdr;
	__u8 len;
	__be16 frag_off; /* Fragment header only */
	__u32 rest;
};

/* The direct pass reads headers up to this far into the frame: VLAN tags, IPv4
 * options and a bounded IPv6 extension chain; a longer chain goes to the second
 * pass. Only the IPv6 walk, whose offsets come from the packet, tests it: every
 * other offset is bounded by its arithmetic, and a test of an offset the
 * verifier holds as a constant (one per VLAN layout) would make it tell those
 * layouts apart to the end of the program (a third more instructions
 * processed). Capping the walk's offset keeps its ranges few. */
#define FA_MAX_DIRECT_OFF 1024

/*
 * Copy len bytes at off of the frame into to. The parser runs in one of two
 * modes, fixed at compile time per copy of it: direct reads straight from the
 * linear packet data (nearly always enough, and always under PROG_TEST_RUN: a
 * helper call per header was most of the per-packet cost), and a header outside
 * the linear data ends the direct pass with FA_PARSE_NONLINEAR; the second
 * pass reads through bpf_skb_load_bytes, for headers in non-linear fragments
 * and for truncated packets. One decision per pass, not per header, keeps the
 * verifier from exploring every mix of the two.
 */
static __always_inline int fa_load(struct __sk_buff *skb, __u32 off, void *to, __u32 len,
				   const bool direct)
{
	if (direct) {
		void *data = (void *)(long)skb->data;
		void *data_end = (void *)(long)skb->data_end;

		if (data + off + len > data_end)
			return FA_PARSE_NONLINEAR;
		fa_packet_copy(to, data + off, len);
		return FA_PARSE_OK;
	}
	return bpf_skb_load_bytes(skb, off, to, len) ? FA_PARSE_ERROR : FA_PARSE_OK;
}

/*
 * The flows' clock, CLOCK_MONOTONIC either way, read when a flow starts or ends:
 * the coarse one (5.11+, a tick's resolution) where the kernel has it, as it
 * costs a fraction of the precise one, and first/last seen are reported per
 * interval, not per packet. Every other packet reads only jiffies
 * (fa_flow_stats): even the coarse clock was 13 of the 90 ns a packet of an
 * existing flow cost (bench/flow_bench.cpp).
 *
 * The kernel's version, which libbpf takes from uname at load, decides: every
 * kernel since 5.11 has the coarse clock, and on an older one the branch is dead
 * and the verifier removes it with its unknown helper. A CO-RE test of the
 * helper's enum did the same, but made libbpf parse the kernel's whole BTF at
 * every load of this object, which needs it for nothing else: 30-60 ms of each
 * load in a VM under TCG.
 */
extern int LINUX_KERNEL_VERSION __kconfig;

static __always_inline __u64 fa_now(void)
{
	if (LINUX_KERNEL_VERSION >= KERNEL_VERSION(5, 11, 0))
		return bpf_ktime_get_coarse_ns();
	return bpf_ktime_get_ns();
}

/* Ports (and, for ICMP, the echo identifier) of the L4 header at off. */
static __always_inline int fa_parse_l4(struct __sk_buff *skb, __u32 off, struct fa_packet *pkt,
				       const bool direct)
{
	__u8 tcp[14];
	int ret;
	__be16 ports[2];
	struct {
		__u8 type;
		__u8 code;
		__be16 checksum;
		__be16 id;
	} icmp;

	switch (pkt->proto) {
	case FA_PROTO_TCP:
		/* Ports, sequence and ack numbers, data offset, then the flags byte. */
		if ((ret = fa_load(skb, off, tcp, sizeof(tcp), direct)))
			return ret;
		pkt->sport = (tcp[0] << 8) | tcp[1];
		pkt->dport = (tcp[2] << 8) | tcp[3];
		pkt->tcp_flags = tcp[13];
		return FA_PARSE_OK;
	case FA_PROTO_UDP:
		if ((ret = fa_load(skb, off, ports, sizeof(ports), direct)))
			return ret;
		pkt->sport = bpf_ntohs(ports[0]);
		pkt->dport = bpf_ntohs(ports[1]);
		return FA_PARSE_OK;
	case FA_PROTO_ICMP:
	case FA_PROTO_ICMPV6:
		if ((ret = fa_load(skb, off, &icmp, sizeof(icmp), direct)))
			return ret;
		/* An echo exchange is a flow of its own, told apart by its identifier;
		 * every other ICMP message of a host pair shares ports 0. */
		if ((pkt->proto == FA_PROTO_ICMP &&
		     (icmp.type == ICMP_ECHO || icmp.type == ICMP_ECHOREPLY)) ||
		    (pkt->proto == FA_PROTO_ICMPV6 &&
		     (icmp.type == ICMPV6_ECHO_REQUEST || icmp.type == ICMPV6_ECHO_REPLY))) {
			pkt->sport = bpf_ntohs(icmp.id);
			pkt->dport = pkt->sport;
		}
		return FA_PARSE_OK;
	default:
		return FA_PARSE_OK;
	}
}

/* The L3 parsers leave the L4 header's offset in *off and its protocol in pkt->proto. */
static __always_inline int fa_parse_ipv4(struct __sk_buff *skb, __u32 *off, struct fa_packet *pkt,
					 const bool direct)
{
	struct fa_ipv4_header ip;
	__u32 ihl;
	int ret;

	if ((ret = fa_load(skb, *off, &ip, sizeof(ip), direct)))
		return ret;
	ihl = (ip.version_ihl & 0x0F) * 4;
	if ((ip.version_ihl >> 4) != 4 || ihl < sizeof(ip))
		return FA_PARSE_ERROR;
	pkt->family = FA_AF_INET;
	pkt->proto = ip.protocol;
	__builtin_memcpy(pkt->saddr, ip.saddr, 4);
	__builtin_memcpy(pkt->daddr, ip.daddr, 4);
	/* Only the first fragment carries the L4 header: later ones key with ports 0. */
	if (ip.frag_off & bpf_htons(IP_OFFSET))
		return FA_PARSE_NO_L4;
	*off += ihl;
	return FA_PARSE_OK;
}

static __always_inline bool fa_ipv6_extension(__u32 nexthdr)
{
	return nexthdr == NEXTHDR_HOP || nexthdr == NEXTHDR_ROUTING || nexthdr == NEXTHDR_FRAGMENT ||
	       nexthdr == NEXTHDR_AUTH || nexthdr == NEXTHDR_DEST;
}

/* fa_ipv6_walk's result: a parse result, the upper-layer protocol and its offset. */
#define FA_WALK_RESULT(ret, proto, off) (((ret) << 24) | (((proto) & 0xFF) << 16) | ((off) & 0xFFFF))

/*
 * The walk over IPv6 extension headers to the upper-layer header at off, nexthdr
 * naming the first. Called through a global function per pass, so that the
 * verifier checks it once, on its own and with unknown arguments, rather than
 * once for every state the parser reaches it in (each VLAN layout, each pass):
 * unrolled eight times and inlined, it made the verifier process 8,700
 * instructions instead of 5,600. Global functions take only the context and
 * scalars before 5.12, hence the packed result (FA_WALK_RESULT; offsets stay
 * below 2^16: eight headers of at most 2 KiB). Only packets that carry
 * extension headers pay the call.
 */
static __always_inline int fa_ipv6_walk(struct __sk_buff *skb, __u64 off, __u32 nexthdr,
					const bool direct)
{
	struct fa_ipv6_ext_header ext;
	int i, ret;

	/* Never true (the fixed headers before the walk end by byte 62), but the
	 * verifier knows nothing of a global function's arguments, and packet
	 * offsets need a bound. */
	if (off > FA_MAX_DIRECT_OFF)
		return FA_WALK_RESULT(FA_PARSE_ERROR, 0, 0);

	/* Bounded: the verifier of 5.x kernels needs a fixed trip count, and no
	 * legitimate packet chains more. */
#pragma unroll
	for (i = 0; i < FA_MAX_IPV6_EXT_HEADERS; i++) {
		if (!fa_ipv6_extension(nexthdr))
			return FA_WALK_RESULT(FA_PARSE_OK, nexthdr, off);
		if ((ret = fa_load(skb, off, &ext, sizeof(ext), direct)))
			return FA_WALK_RESULT(ret, 0, 0);
		if (nexthdr == NEXTHDR_FRAGMENT) {
			off += 8;
			if (ext.frag_off & bpf_htons(IPV6_FRAG_OFFSET))
				return FA_WALK_RESULT(FA_PARSE_NO_L4, ext.nexthdr, off);
		} else if (nexthdr == NEXTHDR_AUTH) {
			off += (ext.len + 2) * 4; /* AH counts 4-byte words (RFC 4302) */
		} else {
			off += (ext.len + 1) * 8;
		}
		if (direct && off > FA_MAX_DIRECT_OFF)
			return FA_WALK_RESULT(FA_PARSE_NONLINEAR, 0, 0);
		nexthdr = ext.nexthdr;
	}
	return FA_WALK_RESULT(FA_PARSE_ERROR, 0, 0);
}

/* One global function per pass: a pass is fixed at compile time (fa_load). */
__noinline int fa_ipv6_walk_direct(struct __sk_buff *skb, __u64 off, __u32 nexthdr)
{
	return fa_ipv6_walk(skb, off, nexthdr, true);
}

__noinline int fa_ipv6_walk_loaded(struct __sk_buff *skb, __u64 off, __u32 nexthdr)
{
	return fa_ipv6_walk(skb, off, nexthdr, false);
}

static __always_inline int fa_parse_ipv6(struct __sk_buff *skb, __u32 *off, struct fa_packet *pkt,
					 const bool direct)
{
	struct fa_ipv6_header ip;
	int ret, walk;

	if ((ret = fa_load(skb, *off, &ip, sizeof(ip), direct)))
		return ret;
	if ((bpf_ntohl(ip.version_class_label) >> 28) != 6)
		return FA_PARSE_ERROR;
	pkt->family = FA_AF_INET6;
	__builtin_memcpy(pkt->saddr, ip.saddr, 16);
	__builtin_memcpy(pkt->daddr, ip.daddr, 16);
	*off += sizeof(ip);
	pkt->proto = ip.nexthdr;
	if (!fa_ipv6_extension(ip.nexthdr))
		return FA_PARSE_OK;
	walk = direct ? fa_ipv6_walk_direct(skb, *off, ip.nexthdr)
		      : fa_ipv6_walk_loaded(skb, *off, ip.nexthdr);
	pkt->proto = (walk >> 16) & 0xFF;
	*off = walk & 0xFFFF;
	/* The walk keeps a direct pass's offset within the bound; the verifier
	 * needs to see it here too, as it sees the result as any number. */
	if (direct && *off > FA_MAX_DIRECT_OFF)
		return FA_PARSE_NONLINEAR;
	return walk >> 24;
}

static __always_inline int fa_parse(struct __sk_buff *skb, struct fa_packet *pkt, const bool direct)
{
	__u32 off = ETH_HLEN;
	__be16 proto;
	int i, ret;

	/* A tag the NIC or the stack already stripped (skb->vlan_present) is not
	 * in the data: the Ethernet type then names the payload directly. Tags
	 * still in the data (QinQ inner tag, or an unstripped egress tag) are
	 * skipped here. */
	if ((ret = fa_load(skb, ETH_HLEN - 2, &proto, sizeof(proto), direct)))
		return ret;
#pragma unroll
	for (i = 0; i < FA_MAX_VLAN_TAGS; i++) {
		if (proto != bpf_htons(ETH_P_8021Q) && proto != bpf_htons(ETH_P_8021AD))
			break;
		if ((ret = fa_load(skb, off + 2, &proto, sizeof(proto), direct)))
			return ret;
		off += 4;
	}
	if (proto == bpf_htons(ETH_P_IP))
		ret = fa_parse_ipv4(skb, &off, pkt, direct);
	else if (proto == bpf_htons(ETH_P_IPV6))
		ret = fa_parse_ipv6(skb, &off, pkt, direct);
	else
		return FA_PARSE_NOT_IP;
	/* One L4 parse after either L3 header, not one per way out of the IPv6
	 * walk: the verifier goes through each copy of it. */
	if (ret == FA_PARSE_NO_L4)
		return FA_PARSE_OK;
	if (ret)
		return ret;
	return fa_parse_l4(skb, off, pkt, direct);
}

/*
 * Identity of the local socket by its 4-tuple. Egress needs this too:
 * SYN-ACKs and RSTs leave from request and timewait sockets, which are not full
 * sockets, so the listener is found here instead. The tuple is written from the
 * socket's receive side (source = remote), as the lookup helpers expect.
 */
static __always_inline void fa_identity_by_lookup(struct __sk_buff *skb,
						  const struct fa_packet *pkt,
						  enum fa_direction dir, struct fa_identity *out)
{
	const __u8 *local = dir == FA_DIR_EGRESS ? pkt->saddr : pkt->daddr;
	const __u8 *remote = dir == FA_DIR_EGRESS ? pkt->daddr : pkt->saddr;
	__u16 local_port = dir == FA_DIR_EGRESS ? pkt->sport : pkt->dport;
	__u16 remote_port = dir == FA_DIR_EGRESS ? pkt->dport : pkt->sport;
	struct bpf_sock_tuple tuple = {};
	struct fa_identity *id = 0;
	struct bpf_sock *sk, *full;
	__u32 len;

	if (pkt->family == FA_AF_INET) {
		__builtin_memcpy(&tuple.ipv4.saddr, remote, 4);
		__builtin_memcpy(&tuple.ipv4.daddr, local, 4);
		tuple.ipv4.sport = bpf_htons(remote_port);
		tuple.ipv4.dport = bpf_htons(local_port);
		len = sizeof(tuple.ipv4);
	} else {
		__builtin_memcpy(tuple.ipv6.saddr, remote, 16);
		__builtin_memcpy(tuple.ipv6.daddr, local, 16);
		tuple.ipv6.sport = bpf_htons(remote_port);
		tuple.ipv6.dport = bpf_htons(local_port);
		len = sizeof(tuple.ipv6);
	}

	if (pkt->proto == FA_PROTO_TCP) {
		/* skc_: also finds request and timewait sockets, which have no
		 * storage; bpf_sk_lookup_tcp would hand them over as full sockets
		 * only to fail the same way later. */
		sk = bpf_skc_lookup_tcp(skb, &tuple, len, BPF_F_CURRENT_NETNS, 0);
		if (!sk)
			return;
		full = bpf_sk_fullsock(sk);
		if (full)
			id = bpf_sk_storage_get(&fa_sk_identity, full, 0, 0);
	} else if (pkt->proto == FA_PROTO_UDP) {
		sk = bpf_sk_lookup_udp(skb, &tuple, len, BPF_F_CURRENT_NETNS, 0);
		if (!sk)
			return;
		id = bpf_sk_storage_get(&fa_sk_identity, sk, 0, 0);
	} else {
		return;
	}
	if (id)
		*out = *id;
	bpf_sk_release(sk);
}

/* Fill *out with the local socket's identity if it has one; leave it untouched otherwise. */
static __always_inline void fa_find_identity(struct __sk_buff *skb, const struct fa_packet *pkt,
					     enum fa_direction dir, struct fa_identity *out)
{
	struct fa_identity *id = 0;
	struct bpf_sock *sk;

	if (dir == FA_DIR_EGRESS) {
		sk = skb->sk;
		if (sk)
			sk = bpf_sk_fullsock(sk);
		if (sk)
			id = bpf_sk_storage_get(&fa_sk_identity, sk, 0, 0);
		if (id) {
			*out = *id;
			return;
		}
	}
	fa_identity_by_lookup(skb, pkt, dir, out);
}

static __always_inline void fa_emit(__u32 type, enum fa_direction dir,
				    const struct fa_flow_key *key, const struct fa_flow_stats *stats)
{
	struct fa_flow_event *event;

	event = bpf_ringbuf_reserve(&fa_events, sizeof(*event), 0);
	if (!event) {
		fa_count(&fa_flow_counters, FA_CNT_RINGBUF_DROPS);
		return;
	}
	event->type = type;
	event->direction = dir;
	event->key = *key;
	event->pad = 0;
	event->stats = *stats;
	bpf_ringbuf_submit(event, 0);
}

static __always_inline void fa_handle(struct __sk_buff *skb, enum fa_direction dir)
{
	struct fa_flow_stats *stats, fresh;
	struct fa_packet pkt = {};
	struct fa_flow_key key;
	__u64 len = skb->len;
	__u64 now, now_jiffies;
	int ret;

	ret = fa_parse(skb, &pkt, true);
	if (ret == FA_PARSE_NONLINEAR) {
		__builtin_memset(&pkt, 0, sizeof(pkt));
		ret = fa_parse(skb, &pkt, false);
	}
	if (ret != FA_PARSE_OK) {
		fa_count(&fa_flow_counters,
			 ret == FA_PARSE_NOT_IP ? FA_CNT_NOT_IP : FA_CNT_PARSE_ERRORS);
		return;
	}
	fa_flow_key_init(&key, skb->ifindex, fa_netns_slot, pkt.family, pkt.proto, dir, pkt.saddr, pkt.daddr,
			 pkt.sport, pkt.dport);
	now_jiffies = bpf_jiffies64();

	stats = bpf_map_lookup_elem(&fa_flows, &key);
	if (!stats) {
		now = fa_now();
		__builtin_memset(&fresh, 0, sizeof(fresh));
		fresh.packets[dir] = 1;
		fresh.bytes[dir] = len;
		fresh.first_seen_ns = now;
		fresh.first_seen_jiffies = now_jiffies;
		fresh.last_seen_jiffies = now_jiffies;
		fresh.tcp_flags = pkt.tcp_flags;
		fresh.fin_seen[dir] = !!(pkt.tcp_flags & TCP_FLAG_FIN);
		fresh.ended = !!(pkt.tcp_flags & TCP_FLAG_RST);
		fa_find_identity(skb, &pkt, dir, &fresh.identity);
		if (bpf_map_update_elem(&fa_flows, &key, &fresh, BPF_NOEXIST) == 0) {
			fa_emit(FA_EVENT_FLOW_START, dir, &key, &fresh);
			if (fresh.ended)
				fa_emit(FA_EVENT_FLOW_END, dir, &key, &fresh);
			return;
		}
		/* Another CPU inserted this flow in between: account on its entry. */
		stats = bpf_map_lookup_elem(&fa_flows, &key);
		if (!stats)
			return;
	}

	/* The hot path: one lookup, two atomic adds, no event, no clock. */
	__sync_fetch_and_add(&stats->packets[dir], 1);
	__sync_fetch_and_add(&stats->bytes[dir], len);
	stats->last_seen_jiffies = now_jiffies;
	/* No atomic OR on a byte (and none at all before 5.12): a flag bit set by a
	 * concurrent packet of the same flow on another CPU may be lost. Written only
	 * when it adds a bit, so steady traffic does not dirty the line further. */
	if (pkt.tcp_flags & ~stats->tcp_flags)
		stats->tcp_flags |= pkt.tcp_flags;
	/* A flow without an owner (forwarded traffic, a socket stamped later) looks
	 * again at its 2nd, 4th, 8th ... packet: an identity that appears later is
	 * still picked up, and a flow that never has one costs a few socket
	 * lookups in all rather than one per packet. */
	if (!stats->identity.tgid) {
		__u64 seen = stats->packets[FA_DIR_INGRESS] + stats->packets[FA_DIR_EGRESS];

		if ((seen & (seen - 1)) == 0)
			fa_find_identity(skb, &pkt, dir, &stats->identity);
	}
	/* A half-closed connection goes on: it ends with a RST, or once both
	 * directions have sent a FIN. Tested on every packet, not only on FINs: two
	 * FINs crossing on two CPUs may each miss the other's store, and the last
	 * ACK that always follows them settles it. Without compare-and-swap two
	 * CPUs may both see ended == 0 and emit two FLOW_END events; consumers
	 * treat END as idempotent. */
	if ((pkt.tcp_flags & TCP_FLAG_FIN) && !stats->fin_seen[dir])
		stats->fin_seen[dir] = 1;
	if (!stats->ended && ((pkt.tcp_flags & TCP_FLAG_RST) ||
			      (stats->fin_seen[FA_DIR_INGRESS] && stats->fin_seen[FA_DIR_EGRESS]))) {
		stats->ended = 1;
		fa_emit(FA_EVENT_FLOW_END, dir, &key, stats);
	}
}

SEC("tcx/ingress")
int fa_tcx_ingress(struct __sk_buff *skb)
{
	fa_handle(skb, FA_DIR_INGRESS);
	return TCX_NEXT;
}

SEC("tcx/egress")
int fa_tcx_egress(struct __sk_buff *skb)
{
	fa_handle(skb, FA_DIR_EGRESS);
	return TCX_NEXT;
}

SEC("tc")
int fa_tc_ingress(struct __sk_buff *skb)
{
	fa_handle(skb, FA_DIR_INGRESS);
	return TC_ACT_UNSPEC;
}

SEC("tc")
int fa_tc_egress(struct __sk_buff *skb)
{
	fa_handle(skb, FA_DIR_EGRESS);
	return TC_ACT_UNSPEC;
}

char LICENSE[] SEC("license") = "GPL";
