#include "agent/probe.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include <net/if.h>
#include <sys/utsname.h>

#include <cerrno>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "agent/identity.h"
#include "agent/libbpf_support.h"
#include "agent/task_sockets.h"
#include "common/error.h"
#include "common/file.h"
#include "common/json_text.h"
#include "identity.skel.h"

namespace flowattr::agent {
namespace {

FeatureCheck check(std::string name, bool ok, std::string detail) {
    return FeatureCheck{std::move(name), ok, std::move(detail)};
}

FeatureCheck probe_helper(const std::string& name, bpf_prog_type type, bpf_func_id helper) {
    LibbpfLogCapture quiet;
    int ret = libbpf_probe_bpf_helper(type, helper, nullptr);
    if (ret == 1) return check(name, true, "helper accepted by the verifier");
    if (ret == 0) return check(name, false, "helper not allowed for this program type");
    return check(name, false, describe_errno("probe failed", -ret));
}

FeatureCheck probe_map(const std::string& name, bpf_map_type type) {
    LibbpfLogCapture quiet;
    int ret = libbpf_probe_bpf_map_type(type, nullptr);
    if (ret == 1) return check(name, true, "map type supported");
    if (ret == 0) return check(name, false, "map type unknown to this kernel");
    return check(name, false, describe_errno("probe failed", -ret));
}

FeatureCheck probe_prog(const std::string& name, bpf_prog_type type) {
    LibbpfLogCapture quiet;
    int ret = libbpf_probe_bpf_prog_type(type, nullptr);
    if (ret == 1) return check(name, true, "program type loads");
    if (ret == 0) return check(name, false, "program type refused by this kernel");
    return check(name, false, describe_errno("probe failed", -ret));
}

}  // namespace

FeatureCheck probe_helper_exists(const std::string& name, int helper) {
    // `call HELPER; r0 = 0; exit` as a socket filter. The verifier names an id it has never
    // heard of "invalid func unknown#N" and a known helper this program type may not call
    // "unknown func bpf_x#N": only the first means the kernel lacks the helper altogether.
    // libbpf_probe_bpf_helper() folds both into "no" and cannot probe tracing programs.
    const bpf_insn insns[] = {
        {BPF_JMP | BPF_CALL, 0, 0, 0, helper},
        {BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, 0},
        {BPF_JMP | BPF_EXIT, 0, 0, 0, 0},
    };
    char log[4096] = "";
    LIBBPF_OPTS(bpf_prog_load_opts, opts, .log_level = 1, .log_size = sizeof(log), .log_buf = log);
    UniqueFd prog(bpf_prog_load(BPF_PROG_TYPE_SOCKET_FILTER, "fa_helper_probe", "GPL", insns, 3, &opts));
    int err = errno;
    std::string text = log;
    std::string id = "#" + std::to_string(helper);
    if (text.find("invalid func unknown" + id) != std::string::npos)
        return check(name, false, "helper " + id + " unknown to this kernel");
    if (prog || !text.empty()) return check(name, true, "helper " + id + " known to the verifier");
    return check(name, false, describe_errno("probe program refused", err));
}

bool KernelFeatures::has(const std::string& name) const {
    const FeatureCheck* c = find(name);
    return c && c->available;
}

const FeatureCheck* KernelFeatures::find(const std::string& name) const {
    for (const auto& c : checks)
        if (c.name == name) return &c;
    return nullptr;
}

bool bpf_lsm_active(std::string* lsm_list) {
    std::ifstream in("/sys/kernel/security/lsm");
    std::string list;
    std::getline(in, list);
    if (lsm_list) *lsm_list = list;
    std::stringstream ss(list);
    std::string item;
    while (std::getline(ss, item, ','))
        if (item == "bpf") return true;
    return false;
}

std::string find_cgroup2_mount(const std::string& mounts) {
    std::istringstream in(mounts);
    std::string line;
    while (std::getline(in, line)) {
        std::istringstream fields(line);
        std::string dev, dir, type;
        if (fields >> dev >> dir >> type && type == "cgroup2") return dir;
    }
    return {};
}

std::string find_cgroup2_mount() {
    std::ifstream in("/proc/self/mounts");
    std::stringstream ss;
    ss << in.rdbuf();
    return find_cgroup2_mount(ss.str());
}

FeatureCheck probe_tcx() {
    // r0 = -1 (TCX_NEXT); exit
    const bpf_insn insns[] = {
        {BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, -1},
        {BPF_JMP | BPF_EXIT, 0, 0, 0, 0},
    };
    LIBBPF_OPTS(bpf_prog_load_opts, opts, .expected_attach_type = static_cast<bpf_attach_type>(kBpfTcxIngress));
    UniqueFd prog(bpf_prog_load(BPF_PROG_TYPE_SCHED_CLS, "fa_tcx_probe", "GPL", insns, 2, &opts));
    if (!prog) return check("tcx", false, describe_errno("probe program refused", errno));
    unsigned ifindex = if_nametoindex("lo");
    if (!ifindex) return check("tcx", false, "no loopback interface to probe on");
    UniqueFd link(bpf_link_create(prog.get(), int(ifindex), static_cast<bpf_attach_type>(kBpfTcxIngress), nullptr));
    if (!link) return check("tcx", false, describe_errno("TCX link refused (kernel < 6.6?)", errno));
    return check("tcx", true, "TCX link attached and detached on lo");
}

// link.lsm from an attempt to attach, errno still set when it failed.
FeatureCheck lsm_attach_result(bool attached) {
    if (!attached) return check("link.lsm", false, describe_errno("LSM program loads but does not attach", errno));
    return check("link.lsm", true, "LSM link attached and detached on socket_post_create");
}

// An LSM program can load and still not attach: its BPF trampoline needs ftrace direct calls,
// which some architecture builds lack (Debian's arm64 6.1 answers ENOTSUPP, 524). A no-op
// program on socket_post_create (the hook the agent uses) is attached and detached at once.
FeatureCheck probe_lsm_attach() {
    const char* name = "link.lsm";
    LibbpfLogCapture quiet;
    const int btf_id = libbpf_find_vmlinux_btf_id("socket_post_create", BPF_LSM_MAC);
    if (btf_id < 0) return check(name, false, describe_errno("no bpf_lsm_socket_post_create in the kernel's BTF", -btf_id));
    const bpf_insn insns[] = {
        {BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, 0},
        {BPF_JMP | BPF_EXIT, 0, 0, 0, 0},
    };
    LIBBPF_OPTS(bpf_prog_load_opts, opts, .expected_attach_type = BPF_LSM_MAC, .attach_btf_id = std::uint32_t(btf_id));
    UniqueFd prog(bpf_prog_load(BPF_PROG_TYPE_LSM, "fa_lsm_probe", "GPL", insns, 2, &opts));
    if (!prog) return check(name, false, describe_errno("LSM probe program refused", errno));
    UniqueFd link(bpf_link_create(prog.get(), 0, BPF_LSM_MAC, nullptr));
    return lsm_attach_result(bool(link));
}

struct LsmAndWalk {
    FeatureCheck lsm_attach, task_walk;
};

// link.lsm and task_walk from one load of identity.bpf.o, the agent's own hook and walk: both
// need the kernel's BTF, which libbpf parses once per object loaded (0.13-0.18 s of a 6.1 TCG
// guest's probe). The hook stands in for the no-op program (the same hook, the same trampoline).
// Where that load fails each is asked on its own, so neither answer rests on the other.
LsmAndWalk probe_lsm_attach_and_task_walk(bool lsm_loads, const FeatureCheck& sock_from_file) {
    const FeatureCheck walk = task_walk_precondition(sock_from_file);
    if (lsm_loads) {
        LibbpfLogCapture quiet;
        Skeleton<identity_bpf> skel;
        try {
            skel = open_identity(IdentityPath::lsm, walk.available);
        } catch (const Error&) {
            // Not opened: each is asked on its own below, and says why.
        }
        if (skel && identity_bpf__load(skel.get()) == 0) {
            BpfLink link(bpf_program__attach_lsm(skel->progs.fa_socket_post_create));
            return {lsm_attach_result(bool(link)), walk};
        }
    }
    return {probe_lsm_attach(), probe_task_walk(walk)};
}

KernelFeatures probe_kernel_features() {
    KernelFeatures f;
    struct utsname u {};
    uname(&u);
    f.release = u.release;

    std::ifstream btf("/sys/kernel/btf/vmlinux");
    f.checks.push_back(check("btf", bool(btf), btf ? "/sys/kernel/btf/vmlinux" : "no /sys/kernel/btf/vmlinux: CO-RE cannot relocate"));

    std::string lsm_list;
    bool lsm = bpf_lsm_active(&lsm_list);
    f.checks.push_back(check("bpf_lsm", lsm, lsm_list.empty() ? "/sys/kernel/security/lsm unreadable (securityfs not mounted?)"
                                                             : "lsm=" + lsm_list));
    f.checks.push_back(probe_prog("prog.lsm", BPF_PROG_TYPE_LSM));
    const FeatureCheck sock_from_file = probe_helper_exists(kFeatureSockFromFile, BPF_FUNC_sock_from_file);
    LsmAndWalk lsm_and_walk = probe_lsm_attach_and_task_walk(f.checks.back().available, sock_from_file);
    f.checks.push_back(lsm_and_walk.lsm_attach);
    f.checks.push_back(probe_tcx());
    f.checks.push_back(probe_map("ringbuf", BPF_MAP_TYPE_RINGBUF));
    f.checks.push_back(probe_map("sk_storage", BPF_MAP_TYPE_SK_STORAGE));
    f.checks.push_back(probe_helper("sk_storage.tc", BPF_PROG_TYPE_SCHED_CLS, BPF_FUNC_sk_storage_get));
    f.checks.push_back(probe_helper("sk_storage.cgroup_sock", BPF_PROG_TYPE_CGROUP_SOCK, BPF_FUNC_sk_storage_get));
    f.checks.push_back(probe_helper("sk_storage.cgroup_skb", BPF_PROG_TYPE_CGROUP_SKB, BPF_FUNC_sk_storage_get));
    f.checks.push_back(probe_helper("sk_lookup.tc", BPF_PROG_TYPE_SCHED_CLS, BPF_FUNC_skc_lookup_tcp));
    f.checks.push_back(sock_from_file);
    f.checks.push_back(lsm_and_walk.task_walk);
    std::string cg = find_cgroup2_mount();
    f.checks.push_back(check("cgroup_v2", !cg.empty(), cg.empty() ? "no cgroup2 mount in /proc/self/mounts" : cg));
    return f;
}

std::string features_to_text(const KernelFeatures& f) {
    std::ostringstream out;
    out << "kernel " << f.release << "\n";
    char line[512];
    for (const auto& c : f.checks) {
        std::snprintf(line, sizeof(line), "  %-24s %-4s %s\n", c.name.c_str(), c.available ? "yes" : "no",
                      c.detail.c_str());
        out << line;
    }
    return out.str();
}

std::string features_to_json(const KernelFeatures& f) {
    nlohmann::json j;
    j["kernel"] = f.release;
    nlohmann::json checks = nlohmann::json::object();
    for (const auto& c : f.checks) checks[c.name] = {{"available", c.available}, {"detail", c.detail}};
    j["features"] = checks;
    return json_text(j, 2);
}

std::optional<KernelFeatures> features_from_json(const std::string& text) {
    const nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
    if (!j.is_object() || !j.contains("kernel") || !j["kernel"].is_string() || !j.contains("features") ||
        !j["features"].is_object())
        return std::nullopt;
    KernelFeatures f;
    f.release = j["kernel"].get<std::string>();
    for (const auto& [name, c] : j["features"].items()) {
        if (!c.is_object() || !c.contains("available") || !c["available"].is_boolean() || !c.contains("detail") ||
            !c["detail"].is_string())
            return std::nullopt;
        f.checks.push_back(check(name, c["available"].get<bool>(), c["detail"].get<std::string>()));
    }
    return f;
}

KernelFeatures read_features(const std::string& path) {
    std::string text;
    try {
        text = read_file(path);
    } catch (const Error& e) {
        throw BadInputError("cannot read the features file " + path, e.err());
    }
    std::optional<KernelFeatures> f = features_from_json(text);
    if (!f) throw BadInputError(path + " is not `flowattr probe --json` output");
    return *f;
}

}  // namespace flowattr::agent
