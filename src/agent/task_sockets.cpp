#include "agent/task_sockets.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <unistd.h>

#include <memory>

#include "agent/identity.h"
#include "agent/libbpf_support.h"
#include "common/error.h"
#include "diagnose/cause.h"
#include "flowattr.h"
#include "identity.skel.h"

namespace flowattr::agent {

FeatureCheck task_walk_precondition(const FeatureCheck& sock_from_file) {
    if (!sock_from_file.available) return {kFeatureTaskWalk, false, "no bpf_sock_from_file: " + sock_from_file.detail};
    return {kFeatureTaskWalk, true, "iter/task_file loads"};
}

FeatureCheck task_walk_refused(int err) {
    LibbpfLogCapture quiet;  // the verifier's log is read from its buffer
    std::string reason;
    try {
        Skeleton<identity_bpf> logged = open_identity(std::nullopt, true);
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

FeatureCheck probe_task_walk(const FeatureCheck& precondition) {
    LibbpfLogCapture quiet;
    if (!precondition.available) return precondition;
    Skeleton<identity_bpf> skel;
    try {
        skel = open_identity(std::nullopt, true);
    } catch (const Error& e) {
        return {kFeatureTaskWalk, false, e.what()};
    }
    const int err = identity_bpf__load(skel.get());
    return err == 0 ? precondition : task_walk_refused(err);
}

}  // namespace flowattr::agent
