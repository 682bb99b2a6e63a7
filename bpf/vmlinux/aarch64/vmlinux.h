/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Minimal vmlinux.h for aarch64 (arm64), written for flowattr rather than dumped from a kernel: the
 * architecture-neutral types of ../vmlinux_common.h plus this architecture's own. Kernel
 * structs carry preserve_access_index (CO-RE), so libbpf relocates every field access
 * against the running kernel's BTF; the kernel suite's VmlinuxHeader tests hold the types
 * the objects use against each matrix kernel's /sys/kernel/btf/vmlinux.
 */
#ifndef FLOWATTR_VMLINUX_H
#define FLOWATTR_VMLINUX_H
/* What bpftool's generated vmlinux.h defines: bpf_tracing.h then uses the kernel's register
 * names (x86: di, not the UAPI rdi). */
#define __VMLINUX_H__

#include "../vmlinux_common.h"

/* arch/arm64/include/uapi/asm/ptrace.h: what bpf_tracing.h reads with __TARGET_ARCH_arm64
 * (PT_REGS_PARM1() is ((const struct user_pt_regs *)ctx)->regs[0]). */
struct user_pt_regs {
	__u64 regs[31];
	__u64 sp;
	__u64 pc;
	__u64 pstate;
} __attribute__((preserve_access_index));

/* arch/arm64/include/asm/ptrace.h: the kernel's pt_regs begins with user_pt_regs. */
struct pt_regs {
	union {
		struct user_pt_regs user_regs;
		struct {
			u64 regs[31];
			u64 sp;
			u64 pc;
			u64 pstate;
		};
	};
	u64 orig_x0;
} __attribute__((preserve_access_index));

#endif /* FLOWATTR_VMLINUX_H */
