/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Minimal vmlinux.h for x86_64, written for flowattr rather than dumped from a kernel: the
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

/* arch/x86/include/asm/ptrace.h: the kernel's (not the UAPI) register names,
 * which bpf_tracing.h reads with __TARGET_ARCH_x86 (PT_REGS_PARM1() ...). */
struct pt_regs {
	unsigned long r15;
	unsigned long r14;
	unsigned long r13;
	unsigned long r12;
	unsigned long bp;
	unsigned long bx;
	unsigned long r11;
	unsigned long r10;
	unsigned long r9;
	unsigned long r8;
	unsigned long ax;
	unsigned long cx;
	unsigned long dx;
	unsigned long si;
	unsigned long di;
	unsigned long orig_ax;
	unsigned long ip;
	unsigned long cs;
	unsigned long flags;
	unsigned long sp;
	unsigned long ss;
} __attribute__((preserve_access_index));

#endif /* FLOWATTR_VMLINUX_H */
