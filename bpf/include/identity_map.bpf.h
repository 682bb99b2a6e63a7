/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The socket → process identity store, shared by identity.bpf.o (writes it at
 * socket creation), task_sockets.bpf.o (backfills pre-existing sockets) and
 * flow.bpf.o (reads it). Every object declares the map identically; the agent
 * loads identity.bpf.o first and bpf_map__reuse_fd()s its map into the others,
 * so all of them share one store.
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
} fa_sk_identity SEC(".maps");

#endif /* FLOWATTR_IDENTITY_MAP_BPF_H */
