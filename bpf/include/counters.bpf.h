/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Per-CPU event counters (enum fa_counter). Each object defines its own
 * PERCPU_ARRAY of FA_CNT_MAX __u64 and bumps it with fa_count(): per-CPU slots
 * need no atomic instruction; the agent sums the CPUs when it reads them.
 */
#ifndef FLOWATTR_COUNTERS_BPF_H
#define FLOWATTR_COUNTERS_BPF_H

#include "flowattr.h"

#define FA_COUNTER_MAP(name)                            \
	struct {                                        \
		__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY); \
		__uint(max_entries, FA_CNT_MAX);        \
		__type(key, __u32);                     \
		__type(value, __u64);                   \
	} name SEC(".maps")

static __always_inline void fa_count(void *map, __u32 counter)
{
	__u64 *value = bpf_map_lookup_elem(map, &counter);

	if (value)
		(*value)++;
}

#endif /* FLOWATTR_COUNTERS_BPF_H */
