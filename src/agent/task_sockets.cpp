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

namespace {

// Open, and share the agent's identity map when given one.
Skeleton<task_sockets_bpf> open_walk(std::optional<int> sk_storage_fd, LibbpfLogCapture& log) {
    Skeleton<task_sockets_bpf> skel(task_sockets_bpf__open());
    if (!skel) throw Error("cannot open the task_sockets BPF object", errno, log.text());
    if (sk_storage_fd)
        check_libbpf(bpf_map__reuse_fd(skel->maps.fa_sk_identity, *sk_storage_fd),
                     "cannot share the identity map with the socket walk", log);
    return skel;
}

}  // namespace

TaskWalk::TaskWalk(std::optional<int> sk_storage_fd) {
    FeatureCheck helper = probe_helper_exists(kFeatureSockFromFile, BPF_FUNC_sock_from_file);
    if (!helper.available) {
        check_ = {kFeatureTaskWalk, false, "no bpf_sock_from_file: " + helper.detail};
        return;
    }
    LibbpfLogCapture log;
    try {
        skel_ = open_walk(sk_storage_fd, log);
    } catch (const Error& e) {
        check_ = {kFeatureTaskWalk, false, e.what()};
        return;
    }
    // Loaded without a verifier log, which costs time on every start (seconds' worth under
    // TCG over a matrix suite); only a refusal loads it again, logged, for its reason.
    const int err = task_sockets_bpf__load(skel_.get());
    if (err == 0) {
        check_ = {kFeatureTaskWalk, true, "iter/task_file loads"};
        return;
    }
    skel_.reset();
    std::string reason;
    try {
        Skeleton<task_sockets_bpf> logged = open_walk(sk_storage_fd, log);
        char verifier_log[1 << 16] = "";
        bpf_program__set_log_buf(logged->progs.fa_stamp_task_sockets, verifier_log, sizeof(verifier_log));
        bpf_program__set_log_level(logged->progs.fa_stamp_task_sockets, 1);
        task_sockets_bpf__load(logged.get());
        reason = diagnose::verifier_reason(verifier_log);
    } catch (const Error&) {
    }
    check_ = {kFeatureTaskWalk, false,
              "the verifier refuses iter/task_file: " + (reason.empty() ? describe_errno("load", -err) : reason)};
}

TaskWalk::~TaskWalk() = default;

std::uint64_t TaskWalk::stamp() {
    if (!skel_) throw Error("cannot load iter/task_file: " + check_.detail);
    LibbpfLogCapture log;
    BpfLink link(bpf_program__attach_iter(skel_->progs.fa_stamp_task_sockets, nullptr));
    if (!link) throw Error("cannot attach iter/task_file", errno, log.text());
    UniqueFd iter(bpf_iter_create(bpf_link__fd(link.get())));
    if (!iter) throw Error("cannot start the task_file iteration", errno);
    // The program writes no output; reading to EOF drives the walk over every task.
    char buf[4096];
    ssize_t n;
    while ((n = read(iter.get(), buf, sizeof(buf))) > 0) {
    }
    if (n < 0) throw Error("task_file iteration failed", errno);
    return sum_percpu_counter(bpf_map__fd(skel_->maps.fa_task_iter_counters), FA_CNT_IDENTITY_STAMPED);
}

FeatureCheck probe_task_walk() { return TaskWalk(std::nullopt).check(); }

}  // namespace flowattr::agent
