// SPDX-License-Identifier: GPL-2.0
/*
 * Backfill identities for sockets that existed before the agent attached its
 * socket-creation hook: walk every task's open files once and stamp each IPv4/
 * IPv6 socket that has no identity yet with its owner task (FA_ID_TASK_ITER).
 * A socket shared by several processes gets the first one the walk meets.
 *
 * min kernel 5.11: bpf_sock_from_file (commit 4f19cab76136, v5.11) and
 * bpf_sk_storage_get from tracing/iterator programs (v5.11). iter/task_file
 * itself is 5.8. Where the helper is missing (probed: helper.sock_from_file)
 * the agent walks /proc and stamps the same sockets from userspace instead
 * (src/agent/proc_sockets.cpp, FA_ID_PROC_WALK).
 *
 * Quiet by design: it only counts, in fa_task_iter_counters —
 * FA_CNT_IDENTITY_HOOK = IP sockets visited, FA_CNT_IDENTITY_STAMPED = stamped.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

#include "flowattr.h"
#include "counters.bpf.h"
#include "identity_map.bpf.h"

FA_COUNTER_MAP(fa_task_iter_counters);

SEC("iter/task_file")
int fa_stamp_task_sockets(struct bpf_iter__task_file *ctx)
{
	struct task_struct *task = ctx->task;
	struct file *file = ctx->file;
	struct fa_identity *id;
	struct socket *sock;
	struct sock *sk;
	__u16 family;

	/* The iterator's final call has no task and no file. */
	if (!task || !file)
		return 0;
	sock = bpf_sock_from_file(file);
	if (!sock)
		return 0;
	sk = sock->sk;
	if (!sk)
		return 0;
	family = sk->__sk_common.skc_family;
	if (family != FA_AF_INET && family != FA_AF_INET6)
		return 0;
	fa_count(&fa_task_iter_counters, FA_CNT_IDENTITY_HOOK);

	/* Never overwrite: an identity from the creation hook (or from an
	 * earlier file descriptor of the same socket) is the better one. */
	if (bpf_sk_storage_get(&fa_sk_identity, sk, 0, 0))
		return 0;
	id = bpf_sk_storage_get(&fa_sk_identity, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (!id)
		return 0;
	id->tgid = BPF_CORE_READ(task, tgid);
	id->pid = BPF_CORE_READ(task, pid);
	id->uid = BPF_CORE_READ(task, cred, uid.val);
	id->source = FA_ID_TASK_ITER;
	id->cgroup_id = BPF_CORE_READ(task, cgroups, dfl_cgrp, kn, id);
	/* Same as identity.bpf.c: the process's start time. */
	id->start_time_ns = BPF_CORE_READ(task, group_leader, start_boottime);
	BPF_CORE_READ_STR_INTO(&id->comm, task, comm);
	fa_count(&fa_task_iter_counters, FA_CNT_IDENTITY_STAMPED);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
