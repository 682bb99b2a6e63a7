// SPDX-License-Identifier: GPL-2.0
/*
 * Stamp each new IPv4/IPv6 socket with the identity of the process creating it,
 * in the fa_sk_identity socket storage that flow.bpf.o reads. Two hooks, of which
 * the agent autoloads exactly one:
 *
 *  - fa_socket_post_create (LSM): min kernel 5.10 — BPF LSM 5.7, sk_storage from
 *    LSM programs 5.10 — and only when "bpf" is in the active LSM list
 *    (/sys/kernel/security/lsm); Debian 5.10 needs lsm=...,bpf on the command line.
 *  - fa_sock_create (cgroup/sock_create, attached to the root cgroup v2): the
 *    fallback. min kernel 5.9: bpf_sk_storage_get became callable from
 *    BPF_PROG_TYPE_CGROUP_SOCK in commit f7c6cb1d9728 ("bpf: Expose socket
 *    storage to BPF_PROG_TYPE_CGROUP_SOCK", v5.9), which takes the program's ctx
 *    (the struct sock being created) as the socket argument.
 *    bpf_get_current_{pid_tgid,uid_gid,comm,cgroup_id} are in the cgroup_sock
 *    helper table of every kernel in the matrix (sock_filter_func_proto before
 *    6.0, cgroup_current_func_proto since); both hooks were loaded and run in
 *    5.10.223, 6.1.176, 6.12.117 and 7.2.13 VMs.
 *
 * Both run in the creating task's context, so the current task is the owner.
 * bpf_get_current_task() + CO-RE reads (start time) need CAP_PERFMON in
 * cgroup_sock programs (bpf_base_func_proto, 5.8+): the agent runs as root.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

#include "flowattr.h"
#include "counters.bpf.h"
#include "identity_map.bpf.h"

FA_COUNTER_MAP(fa_identity_counters);

static __always_inline void fa_identity_from_current(struct fa_identity *id, __u32 source)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	__u64 pid_tgid = bpf_get_current_pid_tgid();

	id->tgid = pid_tgid >> 32;
	id->pid = (__u32)pid_tgid;
	id->uid = (__u32)bpf_get_current_uid_gid();
	id->source = source;
	id->cgroup_id = bpf_get_current_cgroup_id();
	/* The process's start time, not the thread's: with tgid it names the
	 * process the way /proc/<tgid>/stat's starttime does. */
	id->start_time_ns = BPF_CORE_READ(task, group_leader, start_boottime);
	bpf_get_current_comm(id->comm, sizeof(id->comm));
}

SEC("lsm/socket_post_create")
int BPF_PROG(fa_socket_post_create, struct socket *sock, int family, int type, int protocol,
	     int kern)
{
	struct fa_identity *id;
	struct sock *sk;

	fa_count(&fa_identity_counters, FA_CNT_IDENTITY_HOOK);
	/* Kernel sockets have no owning process (current is whoever triggered
	 * them); non-IP sockets never carry a flow. cgroup/sock_create skips
	 * both by construction, so the two hooks stamp the same sockets. */
	if (kern || (family != FA_AF_INET && family != FA_AF_INET6))
		return 0;
	/* Never NULL after a successful create, but 6.12+ verifiers type
	 * sock->sk as maybe-NULL and reject the call without this check. */
	sk = sock->sk;
	if (!sk)
		return 0;
	id = bpf_sk_storage_get(&fa_sk_identity, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (!id)
		return 0;
	fa_identity_from_current(id, FA_ID_LSM);
	fa_count(&fa_identity_counters, FA_CNT_IDENTITY_STAMPED);
	return 0;
}

SEC("cgroup/sock_create")
int fa_sock_create(struct bpf_sock *sk)
{
	struct fa_identity *id;

	fa_count(&fa_identity_counters, FA_CNT_IDENTITY_HOOK);
	id = bpf_sk_storage_get(&fa_sk_identity, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (id) {
		fa_identity_from_current(id, FA_ID_SOCK_CREATE);
		fa_count(&fa_identity_counters, FA_CNT_IDENTITY_STAMPED);
	}
	return 1; /* allow: observe only */
}

char LICENSE[] SEC("license") = "GPL";
