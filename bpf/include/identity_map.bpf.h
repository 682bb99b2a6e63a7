/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The socket → process identity store, written by identity.bpf.c (at socket
 * creation) and task_sockets.bpf.c (backfilling pre-existing sockets), read by
 * flow.bpf.c. Every source declares the map identically. The first two are
 * linked into one object, identity.bpf.o (bpf/CMakeLists.txt), hence __weak:
 * the linker makes their two definitions one map. The agent loads
 * identity.bpf.o first and bpf_map__reuse_fd()s its map into flow.bpf.o, so
 * both share one store.
 *
 * SK_STORAGE (kernel 5.2) keeps the value inside the socket: it is freed with
 * the socket, needs no key management and no table size. BPF_F_CLONE (5.4)
 * copies the value into sockets accept()ed from a listener, so server-side
 * connections inherit the listener's identity. SK_STORAGE requires
 * BPF_F_NO_PREALLOC.
 */
#ifndef FLOWATTR_IDENTITY_MAP_BPF_H
#define FLOWATTR_IDENTITY_MAP_BPF_H

#include "flowattr.h"

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC | BPF_F_CLONE);
	__type(key, int);
	__type(value, struct fa_identity);
} fa_sk_identity SEC(".maps") __weak;

#endif /* FLOWATTR_IDENTITY_MAP_BPF_H */
