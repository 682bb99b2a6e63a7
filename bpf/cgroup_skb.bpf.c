// SPDX-License-Identifier: GPL-2.0
/*
 * Per-cgroup traffic accounting and an optional per-cgroup egress rate limit,
 * attached to a cgroup v2 (normally the root, so every cgroup below is seen).
 *
 * min kernel 5.3: bpf_skb_cgroup_id became callable from cgroup_skb programs in
 * commit 4ecabd55c904 ("bpf: allow CGROUP_SKB programs to use bpf_skb_cgroup_id()
 * helper", v5.3). It returns the cgroup v2 id of the skb's socket — the sending
 * socket on egress, the receiving one on ingress — which is the cgroup the
 * traffic belongs to even when a packet is sent from softirq context, unlike
 * bpf_get_current_cgroup_id (not offered to cgroup_skb before 6.10 anyway).
 * bpf_spin_lock in cgroup_skb: since the helper's introduction (5.1). Egress
 * verdicts 2 and 3 (congestion notification): 5.3, commit 5cf1e9145630 ("bpf:
 * cgroup inet skb programs can return 0 to 3"); they need the egress
 * expected_attach_type, which the cgroup_skb/egress section sets.
 * The skb's data starts at the IP header here (no L2), so skb->len counts from it.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#include "flowattr.h"
#include "counters.bpf.h"

#define NSEC_PER_SEC 1000000000ULL

/* Egress verdicts: bit 0 = pass, bit 1 = congestion notification (kernel 5.3+,
 * egress only). The notification makes TCP enter CWR and shrink its window. */
#define CG_SKB_DROP 0
#define CG_SKB_PASS 1
#define CG_SKB_DROP_CN 2
#define CG_SKB_PASS_CN 3

/*
 * One slot per CPU (4.6+): every packet of a cgroup updates its entry, from every CPU
 * that sends or receives for it, so one shared entry would move its cache line between
 * the CPUs on each packet: a multi-threaded service's workers, or here the sender and the
 * receiver of the same datagram. The agent sums the CPUs when it reads a cgroup.
 * Allocated as cgroups appear (BPF_F_NO_PREALLOC): preallocated, 4096 entries would
 * hold 4096 * 48 bytes per possible CPU however few cgroups carry traffic.
 */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 4096);
	__type(key, __u64); /* cgroup id */
	__type(value, struct fa_cgroup_stats);
} fa_cgroup_stats SEC(".maps");

/* Filled by the agent; a cgroup without an entry is not limited. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u64); /* cgroup id */
	__type(value, struct fa_rate_limit);
} fa_rate_limits SEC(".maps");

FA_COUNTER_MAP(fa_cgroup_counters);

/* Cleared by the agent before load when it has no rate limit to keep: the
 * verifier then drops the egress program's bucket lookup, a third of its cost
 * per packet. Set by default, so that a loader that does not know of it (the
 * load check, `flowattr check`) verifies the whole program. Read-only data is
 * frozen at load. */
const volatile bool fa_rate_limited = true;

static __always_inline struct fa_cgroup_stats *fa_stats_of(__u64 cgroup_id)
{
	struct fa_cgroup_stats *stats = bpf_map_lookup_elem(&fa_cgroup_stats, &cgroup_id);
	struct fa_cgroup_stats zero = {};

	if (stats)
		return stats;
	/* BPF_NOEXIST: if another CPU created the entry meanwhile, keep its counts. */
	bpf_map_update_elem(&fa_cgroup_stats, &cgroup_id, &zero, BPF_NOEXIST);
	return bpf_map_lookup_elem(&fa_cgroup_stats, &cgroup_id);
}

/*
 * Token bucket with bounded debt. Refill by the elapsed time (up to burst),
 * then:
 *  - tokens >= len: pass.
 *  - otherwise, while the debt stays within burst: pass with a congestion
 *    notification. A packet larger than what is left (a 64 KiB GSO skb) is paid
 *    for by the next refills instead of waiting for a full bucket, and TCP slows
 *    down without losing anything. Dropping instead stalls a TCP sender until its
 *    probe timer (200 ms+): measured on loopback, a 10 MB/s limit then let only
 *    ~21-40% through.
 *  - beyond that: drop with a congestion notification: TCP enters CWR and
 *    requeues the segment; a UDP sender sees a silent drop (udp_send_skb
 *    swallows ENOBUFS) instead of EPERM from sendmsg.
 * Long-run throughput stays at rate: what passes is at most
 * rate * time + 2 * burst.
 *
 * Runs under rl->lock, so no helper calls. Fractions of a byte are kept by
 * advancing last_refill_ns only by the time the credited whole bytes are
 * worth: with small packets at a low rate, restarting the clock at every
 * packet would round every refill down to 0 and starve the sender.
 */
static __always_inline int fa_take_tokens(struct fa_rate_limit *rl, __u64 now, __u64 len)
{
	__s64 burst = (__s64)rl->burst_bytes;
	__u64 rate = rl->rate_bytes_per_sec;
	__u64 elapsed, deficit, add;

	if (rl->last_refill_ns == 0) {
		/* First packet since the agent set the limit: start full. */
		rl->tokens = burst;
		rl->last_refill_ns = now;
	} else if (now > rl->last_refill_ns) {
		elapsed = now - rl->last_refill_ns;
		deficit = rl->tokens < burst ? (__u64)(burst - rl->tokens) : 0;
		if (rate == 0 || deficit == 0) {
			/* Nothing to add: idle time must not bank credit. */
			rl->last_refill_ns = now;
		} else if (elapsed >= deficit * NSEC_PER_SEC / rate) {
			rl->tokens = burst;
			rl->last_refill_ns = now;
		} else {
			/* elapsed < deficit * 1e9 / rate, so elapsed * rate cannot overflow
			 * for any deficit below 9 GB (2 * burst). */
			add = elapsed * rate / NSEC_PER_SEC;
			rl->tokens += add;
			rl->last_refill_ns += add * NSEC_PER_SEC / rate;
		}
	}
	if (rl->tokens >= (__s64)len) {
		rl->tokens -= len;
		return CG_SKB_PASS;
	}
	if (rl->tokens - (__s64)len >= -burst) {
		rl->tokens -= len;
		return CG_SKB_PASS_CN;
	}
	return CG_SKB_DROP_CN;
}

static __always_inline int fa_account(struct __sk_buff *skb, enum fa_direction dir)
{
	__u64 cgroup_id = bpf_skb_cgroup_id(skb);
	struct fa_cgroup_stats *stats;
	struct fa_rate_limit *rl;
	int verdict = CG_SKB_PASS;
	__u64 len = skb->len;
	__u64 now;

	if (dir == FA_DIR_EGRESS && fa_rate_limited) {
		rl = bpf_map_lookup_elem(&fa_rate_limits, &cgroup_id);
		if (rl) {
			now = bpf_ktime_get_ns();
			bpf_spin_lock(&rl->lock);
			verdict = fa_take_tokens(rl, now, len);
			bpf_spin_unlock(&rl->lock);
		}
	}

	stats = fa_stats_of(cgroup_id);
	/* Atomic although the slot is this CPU's: an egress program in process context
	 * can be interrupted by a softirq's egress program for the same cgroup (a TCP
	 * ACK), and a read-modify-write split between them would lose one of the two.
	 * On a line no other CPU touches the atomic add costs little. */
	if (verdict & CG_SKB_PASS) {
		if (stats) {
			__sync_fetch_and_add(&stats->packets[dir], 1);
			__sync_fetch_and_add(&stats->bytes[dir], len);
		}
		return verdict;
	}
	if (stats) {
		__sync_fetch_and_add(&stats->dropped_packets, 1);
		__sync_fetch_and_add(&stats->dropped_bytes, len);
	}
	fa_count(&fa_cgroup_counters, FA_CNT_RATE_DROPPED);
	return verdict;
}

SEC("cgroup_skb/ingress")
int fa_cgroup_ingress(struct __sk_buff *skb)
{
	return fa_account(skb, FA_DIR_INGRESS);
}

SEC("cgroup_skb/egress")
int fa_cgroup_egress(struct __sk_buff *skb)
{
	return fa_account(skb, FA_DIR_EGRESS);
}

char LICENSE[] SEC("license") = "GPL";
