#include "agent/task_sockets.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <unistd.h>

#include <memory>

#include "agent/libbpf_support.h"
#include "common/error.h"
#include "diagnose/cause.h"
#include "flowattr.h"
#include "task_sockets.skel.h"

namespace flowattr::agent {

std::uint64_t stamp_preexisting_sockets(int sk_storage_fd) {
    LibbpfLogCapture log;
    Skeleton<task_sockets_bpf> skel(task_sockets_bpf__open());
    if (!skel) throw Error("cannot open the task_sockets BPF object", errno, log.text());
    check_libbpf(bpf_map__reuse_fd(skel->maps.fa_sk_identity, sk_storage_fd),
                 "cannot share the identity map with the socket walk", log);
    check_libbpf(task_sockets_bpf__load(skel.get()), "cannot load iter/task_file (needs Linux 5.11)", log);
    BpfLink link(bpf_program__attach_iter(skel->progs.fa_stamp_task_sockets, nullptr));
    if (!link) throw Error("cannot attach iter/task_file", errno, log.text());
    UniqueFd iter(bpf_iter_create(bpf_link__fd(link.get())));
    if (!iter) throw Error("cannot start the task_file iteration", errno);
    // The program writes no output; reading to EOF drives the walk over every task.
    char buf[4096];
    ssize_t n;
    while ((n = read(iter.get(), buf, sizeof(buf))) > 0) {
    }
    if (n < 0) throw Error("task_file iteration failed", errno);
    return sum_percpu_counter(bpf_map__fd(skel->maps.fa_task_iter_counters), FA_CNT_IDENTITY_STAMPED);
}

FeatureCheck probe_task_walk() {
    FeatureCheck helper = probe_helper_exists(kFeatureSockFromFile, BPF_FUNC_sock_from_file);
    if (!helper.available) return {kFeatureTaskWalk, false, "no bpf_sock_from_file: " + helper.detail};
    LibbpfLogCapture log;
    Skeleton<task_sockets_bpf> skel(task_sockets_bpf__open());
    if (!skel) return {kFeatureTaskWalk, false, describe_errno("cannot open the task_sockets object", errno)};
    char verifier_log[1 << 16] = "";
    bpf_program__set_log_buf(skel->progs.fa_stamp_task_sockets, verifier_log, sizeof(verifier_log));
    bpf_program__set_log_level(skel->progs.fa_stamp_task_sockets, 1);
    int err = task_sockets_bpf__load(skel.get());
    if (err == 0) return {kFeatureTaskWalk, true, "iter/task_file loads"};
    std::string reason = diagnose::verifier_reason(verifier_log);
    return {kFeatureTaskWalk, false,
            "the verifier refuses iter/task_file: " + (reason.empty() ? describe_errno("load", -err) : reason)};
}

}  // namespace flowattr::agent
