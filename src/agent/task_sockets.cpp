#include "agent/task_sockets.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <unistd.h>

#include <memory>

#include "agent/libbpf_support.h"
#include "common/error.h"
#include "diagnose/cause.h"
#include "flowattr.h"
#include "identity.skel.h"

namespace flowattr::agent {

FeatureCheck task_walk_precondition() {
    FeatureCheck helper = probe_helper_exists(kFeatureSockFromFile, BPF_FUNC_sock_from_file);
    if (!helper.available) return {kFeatureTaskWalk, false, "no bpf_sock_from_file: " + helper.detail};
    return {kFeatureTaskWalk, true, "iter/task_file loads"};
}

Skeleton<identity_bpf> open_task_walk(std::optional<int> sk_storage_fd) {
    LibbpfLogCapture log;
    Skeleton<identity_bpf> skel(identity_bpf__open());
    if (!skel) throw Error("cannot open the identity BPF object", errno, log.text());
    bpf_program__set_autoload(skel->progs.fa_socket_post_create, false);
    bpf_program__set_autoload(skel->progs.fa_sock_create, false);
    if (sk_storage_fd)
        check_libbpf(bpf_map__reuse_fd(skel->maps.fa_sk_identity, *sk_storage_fd),
                     "cannot share the identity map with the socket walk", log);
    return skel;
}

FeatureCheck task_walk_refused(int err) {
    LibbpfLogCapture quiet;  // the verifier's log is read from its buffer
    std::string reason;
    try {
        Skeleton<identity_bpf> logged = open_task_walk(std::nullopt);
        char verifier_log[1 << 16] = "";
        bpf_program__set_log_buf(logged->progs.fa_stamp_task_sockets, verifier_log, sizeof(verifier_log));
        bpf_program__set_log_level(logged->progs.fa_stamp_task_sockets, 1);
        identity_bpf__load(logged.get());
        reason = diagnose::verifier_reason(verifier_log);
    } catch (const Error&) {
    }
    return {kFeatureTaskWalk, false,
            "the verifier refuses iter/task_file: " + (reason.empty() ? describe_errno("load", -err) : reason)};
}

std::uint64_t stamp_task_sockets(identity_bpf* loaded) {
    LibbpfLogCapture log;
    BpfLink link(bpf_program__attach_iter(loaded->progs.fa_stamp_task_sockets, nullptr));
    if (!link) throw Error("cannot attach iter/task_file", errno, log.text());
    UniqueFd iter(bpf_iter_create(bpf_link__fd(link.get())));
    if (!iter) throw Error("cannot start the task_file iteration", errno);
    // The program writes no output; reading to EOF drives the walk over every task.
    char buf[4096];
    ssize_t n;
    while ((n = read(iter.get(), buf, sizeof(buf))) > 0) {
    }
    if (n < 0) throw Error("task_file iteration failed", errno);
    return sum_percpu_counter(bpf_map__fd(loaded->maps.fa_task_iter_counters), FA_CNT_IDENTITY_STAMPED);
}

FeatureCheck probe_task_walk() {
    LibbpfLogCapture quiet;
    FeatureCheck check = task_walk_precondition();
    if (!check.available) return check;
    Skeleton<identity_bpf> skel;
    try {
        skel = open_task_walk(std::nullopt);
    } catch (const Error& e) {
        return {kFeatureTaskWalk, false, e.what()};
    }
    const int err = identity_bpf__load(skel.get());
    return err == 0 ? check : task_walk_refused(err);
}

}  // namespace flowattr::agent
