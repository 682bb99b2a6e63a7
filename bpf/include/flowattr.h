/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Structs shared by the BPF programs (bpf/NAME.bpf.c) and the agent (src/agent/).
 * Both sides compile this one header, so a layout change cannot drift between them.
 * Fixed-width fields and explicit padding only: the structs are map keys and values.
 */
#ifndef FLOWATTR_H
#define FLOWATTR_H

#ifndef __bpf__
#include <linux/bpf.h> /* struct bpf_spin_lock */
#include <linux/types.h>
#endif

#define FA_COMM_LEN 16
#define FA_ADDR_LEN 16

#define FA_AF_INET 2
#define FA_AF_INET6 10

#define FA_PROTO_ICMP 1
#define FA_PROTO_TCP 6
#define FA_PROTO_UDP 17
#define FA_PROTO_ICMPV6 58

/* Where an identity came from: the LSM hook, the cgroup/sock_create fallback,
 * or the start-up walk over pre-existing sockets (iter/task_file, or from
 * userspace through /proc and pidfd_getfd where the kernel lacks
 * bpf_sock_from_file). */
enum fa_identity_source {
	FA_ID_NONE = 0,
	FA_ID_LSM = 1,
	FA_ID_SOCK_CREATE = 2,
	FA_ID_TASK_ITER = 3,
	FA_ID_PROC_WALK = 4,
};

/* The process that created a socket, stored in the socket's sk_storage. */
struct fa_identity {
	__u32 tgid;
	__u32 pid;
	__u32 uid;
	__u32 source; /* enum fa_identity_source */
	__u64 cgroup_id;
	__u64 start_time_ns; /* task->start_boottime: tells a reused pid apart */
	char comm[FA_COMM_LEN];
};

enum fa_direction {
	FA_DIR_INGRESS = 0,
	FA_DIR_EGRESS = 1,
	FA_DIR_COUNT = 2,
};

/*
 * A flow seen on one interface, normalised to the local host's point of view:
 * egress packets have local = source, ingress packets have local = destination,
 * so both directions of a connection share one key. Ports are in host byte order;
 * for ICMP echo both ports carry the echo identifier, other ICMP messages use 0.
 * IPv4 addresses fill the first 4 bytes of the 16-byte address fields.
 */
struct fa_flow_key {
	__u32 ifindex;
	__u8 family; /* FA_AF_INET / FA_AF_INET6 */
	__u8 proto;  /* FA_PROTO_* or any other IP protocol number */
	__u16 local_port;
	__u16 remote_port;
	/* The agent's number for the network namespace the interface lives in:
	 * interfaces in different namespaces often share an ifindex (a veth pair
	 * between two fresh namespaces has 2 on both ends). */
	__u16 netns;
	__u8 local_addr[FA_ADDR_LEN];
	__u8 remote_addr[FA_ADDR_LEN];
};

/* Per-flow statistics: the value of the LRU flow table. */
struct fa_flow_stats {
	__u64 packets[FA_DIR_COUNT];
	__u64 bytes[FA_DIR_COUNT]; /* skb->len: L2 header included */
	/* CLOCK_MONOTONIC: the coarse clock where the kernel has it (5.11), the precise one before. */
	__u64 first_seen_ns;
	/* The kernel's jiffies at first_seen_ns and at the latest packet: reading them
	 * costs a fraction of a clock read, and the kernel steps jiffies from the
	 * monotonic clock a tick apart, so last seen is first_seen_ns plus the ticks
	 * between (userspace: FlowClock). */
	__u64 first_seen_jiffies;
	__u64 last_seen_jiffies;
	__u8 tcp_flags; /* OR of every TCP flag byte seen */
	/* The connection is over: a RST, or a FIN in each direction. One FIN is a
	 * half-close: the other side may go on sending for as long as it likes. */
	__u8 ended;
	/* A FIN was seen in this direction. A byte each, not bits of one: packets of
	 * the two directions run on different CPUs at once (a simultaneous close),
	 * and without an atomic OR (none before 5.12) one bit would overwrite the
	 * other and the flow would never end. */
	__u8 fin_seen[FA_DIR_COUNT];
	__u8 pad[4];
	struct fa_identity identity; /* tgid == 0 while unknown */
};

enum fa_event_type {
	FA_EVENT_FLOW_START = 1,
	FA_EVENT_FLOW_END = 2,
};

/* Ring-buffer record: a flow started or ended (RST, or FIN both ways), with the
 * flow's statistics as of the packet that caused it. The agent prints it as it is:
 * joining it with the table instead cost a map lookup (a syscall) per event, half
 * of what printing an event cost (docs/PERFORMANCE.md). */
struct fa_flow_event {
	__u32 type;      /* enum fa_event_type */
	__u32 direction; /* enum fa_direction of the packet that caused it */
	struct fa_flow_key key;
	__u32 pad;
	struct fa_flow_stats stats;
};

/* Indexes into the per-CPU counter arrays each object exports. */
enum fa_counter {
	FA_CNT_RINGBUF_DROPS = 0,  /* flow events lost: ring buffer full */
	FA_CNT_PARSE_ERRORS = 1,   /* packets too short or malformed to key */
	FA_CNT_NOT_IP = 2,         /* packets that are neither IPv4 nor IPv6 */
	FA_CNT_IDENTITY_HOOK = 3,  /* identity program invocations (LSM or sock_create) */
	FA_CNT_IDENTITY_STAMPED = 4, /* sockets given an identity */
	FA_CNT_RATE_DROPPED = 5,   /* cgroup_skb packets dropped by the rate limit */
	FA_CNT_MAX = 8,
};

/* cgroup_skb: per-cgroup accounting, keyed by cgroup id. */
struct fa_cgroup_stats {
	__u64 packets[FA_DIR_COUNT]; /* packets let through */
	__u64 bytes[FA_DIR_COUNT];   /* skb->len: from the IP header on */
	__u64 dropped_packets;
	__u64 dropped_bytes;
};

/*
 * cgroup_skb: token bucket for one cgroup, keyed by cgroup id; egress only.
 * Userspace writes rate and burst, and either tokens = last_refill_ns = 0 (the
 * first packet then starts the bucket full) or tokens = burst and
 * last_refill_ns = now. tokens and last_refill_ns belong to the BPF program
 * afterwards, serialised by lock (kernels before 5.12 have no compare-and-swap,
 * and two CPUs refilling one bucket would double the rate). The syscall update
 * and lookup paths never copy the lock field. burst_bytes must stay below 2^62.
 */
struct fa_rate_limit {
	__u64 rate_bytes_per_sec;
	__u64 burst_bytes;
	__s64 tokens;       /* bytes currently allowed; negative: debt, down to -burst */
	__u64 last_refill_ns; /* bpf_ktime_get_ns() (CLOCK_MONOTONIC) */
	struct bpf_spin_lock lock;
	__u32 pad;
};

/* counter.bpf.c (benchmark baseline): key of its plain per-5-tuple packet
 * counter, as on the wire (network order, source first); IPv4 addresses fill
 * the first 4 bytes. */
struct fa_plain_key {
	__u8 saddr[FA_ADDR_LEN];
	__u8 daddr[FA_ADDR_LEN];
	__u16 sport;
	__u16 dport;
	__u8 family; /* FA_AF_INET / FA_AF_INET6 */
	__u8 proto;
	__u8 pad[2];
};

/* Two adjacent fields as the one value they make in memory, first at the lower address. */
static __inline __u16 fa_half(__u8 first, __u8 second)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	return (__u16)(first | second << 8);
#else
	return (__u16)(first << 8 | second);
#endif
}

static __inline __u32 fa_word(__u16 first, __u16 second)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	return first | (__u32)second << 16;
#else
	return (__u32)first << 16 | second;
#endif
}

/*
 * Normalise a packet's 5-tuple into a flow key. Shared by the BPF flow program
 * and the agent's unit tests, so the tests exercise the exact datapath logic.
 * Addresses are copied as bytes (network order); ports arrive in host order.
 */
static __inline void fa_flow_key_init(struct fa_flow_key *key, __u32 ifindex, __u16 netns,
				      __u8 family, __u8 proto, enum fa_direction dir,
				      const __u8 *saddr, const __u8 *daddr, __u16 sport,
				      __u16 dport)
{
	const __u8 *local = dir == FA_DIR_EGRESS ? saddr : daddr;
	const __u8 *remote = dir == FA_DIR_EGRESS ? daddr : saddr;

	/* The map lookup that follows hashes the key a 32-bit word at a time, at once.
	 * A word stored as its bytes and halves one by one cannot be forwarded from
	 * the store buffer to such a read, which then waits for the stores to reach
	 * the cache (a store-forwarding stall): the two words of narrow fields are
	 * put together in a register and stored whole: 60 -> 41 ns an existing flow's
	 * packet on an Intel Xeon (clang splits a small struct copied whole back into
	 * its fields, hence the shifts). */
	__u32 kind_and_local_port = fa_word(fa_half(family, proto), dir == FA_DIR_EGRESS ? sport : dport);
	__u32 remote_port_and_netns = fa_word(dir == FA_DIR_EGRESS ? dport : sport, netns);

	key->ifindex = ifindex;
	__builtin_memcpy((__u8 *)key + __builtin_offsetof(struct fa_flow_key, family), &kind_and_local_port,
			 sizeof(kind_and_local_port));
	__builtin_memcpy((__u8 *)key + __builtin_offsetof(struct fa_flow_key, remote_port),
			 &remote_port_and_netns, sizeof(remote_port_and_netns));
	/* Whole-field copies with constant sizes: the BPF side runs this per
	 * packet, and a byte loop with a per-byte length test cost more than the
	 * flow table lookup. Each byte is written once. */
	if (family == FA_AF_INET6) {
		__builtin_memcpy(key->local_addr, local, 16);
		__builtin_memcpy(key->remote_addr, remote, 16);
	} else {
		__builtin_memcpy(key->local_addr, local, 4);
		__builtin_memcpy(key->remote_addr, remote, 4);
		__builtin_memset(key->local_addr + 4, 0, FA_ADDR_LEN - 4);
		__builtin_memset(key->remote_addr + 4, 0, FA_ADDR_LEN - 4);
	}
}

#endif /* FLOWATTR_H */
