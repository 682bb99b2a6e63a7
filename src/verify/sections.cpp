#include "verify/sections.h"

#include <bpf/libbpf.h>

#include <iterator>

namespace flowattr::verify {

namespace {

// enum bpf_prog_type and enum bpf_attach_type values, for the table below (the 6.18 kernel's
// BTF has the same: BPF_NETKIT_PEER = 55, BPF_PROG_TYPE_NETFILTER = 32).
enum ProgType : std::uint32_t {
    kSocketFilter = 1, kKprobe, kSchedCls, kSchedAct, kTracepoint, kXdp, kPerfEvent, kCgroupSkb, kCgroupSock,
    kLwtIn, kLwtOut, kLwtXmit, kSockOps, kSkSkb, kCgroupDevice, kSkMsg, kRawTracepoint, kCgroupSockAddr,
    kLwtSeg6local, kLircMode2, kSkReuseport, kFlowDissector, kCgroupSysctl, kRawTracepointWritable,
    kCgroupSockopt, kTracing, kStructOps, kExt, kLsm, kSkLookup, kSyscall, kNetfilter,
};

enum AttachType : std::uint32_t {
    kCgroupInetIngress = 0, kCgroupInetEgress, kCgroupInetSockCreate, kCgroupSockOps, kSkSkbStreamParser,
    kSkSkbStreamVerdict, kCgroupDeviceAt, kSkMsgVerdict, kCgroupInet4Bind, kCgroupInet6Bind, kCgroupInet4Connect,
    kCgroupInet6Connect, kCgroupInet4PostBind, kCgroupInet6PostBind, kCgroupUdp4Sendmsg, kCgroupUdp6Sendmsg,
    kLircMode2At, kFlowDissectorAt, kCgroupSysctlAt, kCgroupUdp4Recvmsg, kCgroupUdp6Recvmsg, kCgroupGetsockopt,
    kCgroupSetsockopt, kTraceRawTp, kTraceFentry, kTraceFexit, kModifyReturn, kLsmMac, kTraceIter,
    kCgroupInet4Getpeername, kCgroupInet6Getpeername, kCgroupInet4Getsockname, kCgroupInet6Getsockname,
    kXdpDevmap, kCgroupInetSockRelease, kXdpCpumap, kSkLookupAt, kXdpAt, kSkSkbVerdict, kSkReuseportSelect,
    kSkReuseportSelectOrMigrate, kPerfEventAt, kTraceKprobeMulti, kLsmCgroup, kStructOpsAt, kNetfilterAt,
    kTcxIngress, kTcxEgress, kTraceUprobeMulti, kCgroupUnixConnect, kCgroupUnixSendmsg, kCgroupUnixRecvmsg,
    kCgroupUnixGetpeername, kCgroupUnixGetsockname, kNetkitPrimary, kNetkitPeer,
};

constexpr std::nullopt_t kNone = std::nullopt;

const std::vector<SectionDef> kSectionDefs = {
    {"socket", kSocketFilter, kNone, kSecNone},
    {"sk_reuseport/migrate", kSkReuseport, kSkReuseportSelectOrMigrate, kSecAttachable},
    {"sk_reuseport", kSkReuseport, kSkReuseportSelect, kSecAttachable},
    {"kprobe+", kKprobe, kNone, kSecNone},
    {"uprobe+", kKprobe, kNone, kSecNone},
    {"uprobe.s+", kKprobe, kNone, kSecSleepable},
    {"kretprobe+", kKprobe, kNone, kSecNone},
    {"uretprobe+", kKprobe, kNone, kSecNone},
    {"uretprobe.s+", kKprobe, kNone, kSecSleepable},
    {"kprobe.multi+", kKprobe, kTraceKprobeMulti, kSecNone},
    {"kretprobe.multi+", kKprobe, kTraceKprobeMulti, kSecNone},
    {"uprobe.multi+", kKprobe, kTraceUprobeMulti, kSecNone},
    {"uretprobe.multi+", kKprobe, kTraceUprobeMulti, kSecNone},
    {"uprobe.multi.s+", kKprobe, kTraceUprobeMulti, kSecSleepable},
    {"uretprobe.multi.s+", kKprobe, kTraceUprobeMulti, kSecSleepable},
    {"ksyscall+", kKprobe, kNone, kSecNone},
    {"kretsyscall+", kKprobe, kNone, kSecNone},
    {"usdt+", kKprobe, kNone, kSecUsdt},
    {"usdt.s+", kKprobe, kNone, kSecUsdt | kSecSleepable},
    {"tc/ingress", kSchedCls, kTcxIngress, kSecNone},
    {"tc/egress", kSchedCls, kTcxEgress, kSecNone},
    {"tcx/ingress", kSchedCls, kTcxIngress, kSecNone},
    {"tcx/egress", kSchedCls, kTcxEgress, kSecNone},
    {"tc", kSchedCls, kNone, kSecNone},
    {"classifier", kSchedCls, kNone, kSecNone},
    {"action", kSchedAct, kNone, kSecNone},
    {"netkit/primary", kSchedCls, kNetkitPrimary, kSecNone},
    {"netkit/peer", kSchedCls, kNetkitPeer, kSecNone},
    {"tracepoint+", kTracepoint, kNone, kSecNone},
    {"tp+", kTracepoint, kNone, kSecNone},
    {"raw_tracepoint+", kRawTracepoint, kNone, kSecNone},
    {"raw_tp+", kRawTracepoint, kNone, kSecNone},
    {"raw_tracepoint.w+", kRawTracepointWritable, kNone, kSecNone},
    {"raw_tp.w+", kRawTracepointWritable, kNone, kSecNone},
    {"tp_btf+", kTracing, kTraceRawTp, kSecAttachBtf},
    {"fentry+", kTracing, kTraceFentry, kSecAttachBtf},
    {"fmod_ret+", kTracing, kModifyReturn, kSecAttachBtf},
    {"fexit+", kTracing, kTraceFexit, kSecAttachBtf},
    {"fentry.s+", kTracing, kTraceFentry, kSecAttachBtf | kSecSleepable},
    {"fmod_ret.s+", kTracing, kModifyReturn, kSecAttachBtf | kSecSleepable},
    {"fexit.s+", kTracing, kTraceFexit, kSecAttachBtf | kSecSleepable},
    {"freplace+", kExt, kNone, kSecAttachBtf},
    {"lsm+", kLsm, kLsmMac, kSecAttachBtf},
    {"lsm.s+", kLsm, kLsmMac, kSecAttachBtf | kSecSleepable},
    {"lsm_cgroup+", kLsm, kLsmCgroup, kSecAttachBtf},
    {"iter+", kTracing, kTraceIter, kSecAttachBtf},
    {"iter.s+", kTracing, kTraceIter, kSecAttachBtf | kSecSleepable},
    {"syscall", kSyscall, kNone, kSecSleepable},
    {"xdp.frags/devmap", kXdp, kXdpDevmap, kSecXdpFrags},
    {"xdp/devmap", kXdp, kXdpDevmap, kSecAttachable},
    {"xdp.frags/cpumap", kXdp, kXdpCpumap, kSecXdpFrags},
    {"xdp/cpumap", kXdp, kXdpCpumap, kSecAttachable},
    {"xdp.frags", kXdp, kXdpAt, kSecXdpFrags},
    {"xdp", kXdp, kXdpAt, kSecAttachableOpt},
    {"perf_event", kPerfEvent, kNone, kSecNone},
    {"lwt_in", kLwtIn, kNone, kSecNone},
    {"lwt_out", kLwtOut, kNone, kSecNone},
    {"lwt_xmit", kLwtXmit, kNone, kSecNone},
    {"lwt_seg6local", kLwtSeg6local, kNone, kSecNone},
    {"sockops", kSockOps, kCgroupSockOps, kSecAttachableOpt},
    {"sk_skb/stream_parser", kSkSkb, kSkSkbStreamParser, kSecAttachableOpt},
    {"sk_skb/stream_verdict", kSkSkb, kSkSkbStreamVerdict, kSecAttachableOpt},
    {"sk_skb", kSkSkb, kNone, kSecNone},
    {"sk_msg", kSkMsg, kSkMsgVerdict, kSecAttachableOpt},
    {"lirc_mode2", kLircMode2, kLircMode2At, kSecAttachableOpt},
    {"flow_dissector", kFlowDissector, kFlowDissectorAt, kSecAttachableOpt},
    {"cgroup_skb/ingress", kCgroupSkb, kCgroupInetIngress, kSecAttachableOpt},
    {"cgroup_skb/egress", kCgroupSkb, kCgroupInetEgress, kSecAttachableOpt},
    {"cgroup/skb", kCgroupSkb, kNone, kSecNone},
    {"cgroup/sock_create", kCgroupSock, kCgroupInetSockCreate, kSecAttachable},
    {"cgroup/sock_release", kCgroupSock, kCgroupInetSockRelease, kSecAttachable},
    {"cgroup/sock", kCgroupSock, kCgroupInetSockCreate, kSecAttachableOpt},
    {"cgroup/post_bind4", kCgroupSock, kCgroupInet4PostBind, kSecAttachable},
    {"cgroup/post_bind6", kCgroupSock, kCgroupInet6PostBind, kSecAttachable},
    {"cgroup/bind4", kCgroupSockAddr, kCgroupInet4Bind, kSecAttachable},
    {"cgroup/bind6", kCgroupSockAddr, kCgroupInet6Bind, kSecAttachable},
    {"cgroup/connect4", kCgroupSockAddr, kCgroupInet4Connect, kSecAttachable},
    {"cgroup/connect6", kCgroupSockAddr, kCgroupInet6Connect, kSecAttachable},
    {"cgroup/connect_unix", kCgroupSockAddr, kCgroupUnixConnect, kSecAttachable},
    {"cgroup/sendmsg4", kCgroupSockAddr, kCgroupUdp4Sendmsg, kSecAttachable},
    {"cgroup/sendmsg6", kCgroupSockAddr, kCgroupUdp6Sendmsg, kSecAttachable},
    {"cgroup/sendmsg_unix", kCgroupSockAddr, kCgroupUnixSendmsg, kSecAttachable},
    {"cgroup/recvmsg4", kCgroupSockAddr, kCgroupUdp4Recvmsg, kSecAttachable},
    {"cgroup/recvmsg6", kCgroupSockAddr, kCgroupUdp6Recvmsg, kSecAttachable},
    {"cgroup/recvmsg_unix", kCgroupSockAddr, kCgroupUnixRecvmsg, kSecAttachable},
    {"cgroup/getpeername4", kCgroupSockAddr, kCgroupInet4Getpeername, kSecAttachable},
    {"cgroup/getpeername6", kCgroupSockAddr, kCgroupInet6Getpeername, kSecAttachable},
    {"cgroup/getpeername_unix", kCgroupSockAddr, kCgroupUnixGetpeername, kSecAttachable},
    {"cgroup/getsockname4", kCgroupSockAddr, kCgroupInet4Getsockname, kSecAttachable},
    {"cgroup/getsockname6", kCgroupSockAddr, kCgroupInet6Getsockname, kSecAttachable},
    {"cgroup/getsockname_unix", kCgroupSockAddr, kCgroupUnixGetsockname, kSecAttachable},
    {"cgroup/sysctl", kCgroupSysctl, kCgroupSysctlAt, kSecAttachable},
    {"cgroup/getsockopt", kCgroupSockopt, kCgroupGetsockopt, kSecAttachable},
    {"cgroup/setsockopt", kCgroupSockopt, kCgroupSetsockopt, kSecAttachable},
    {"cgroup/dev", kCgroupDevice, kCgroupDeviceAt, kSecAttachableOpt},
    {"struct_ops+", kStructOps, kNone, kSecNone},
    {"struct_ops.s+", kStructOps, kNone, kSecSleepable},
    {"sk_lookup", kSkLookup, kSkLookupAt, kSecAttachable},
    {"netfilter", kNetfilter, kNetfilterAt, kSecNone},
};

bool matches(std::string_view pattern, std::string_view name) {
    if (pattern.back() == '/') return name.substr(0, pattern.size()) == pattern;
    if (pattern.back() == '+') {
        const std::string_view stem = pattern.substr(0, pattern.size() - 1);
        if (name.substr(0, stem.size()) != stem) return false;
        return name.size() == stem.size() || name[stem.size()] == '/';
    }
    return name == pattern;
}

// libbpf's own names of the kernel's enums (what bpftool prints); nullptr past the newest
// value the linked libbpf knows.
template <class Enum>
using EnumNames = const char* (*)(Enum);

template <class Enum>
std::string name_or_number(EnumNames<Enum> names, std::uint32_t value, const char* fallback) {
    const char* name = names(static_cast<Enum>(value));
    return name ? name : std::string(fallback) + std::to_string(value);
}

template <class Enum>
std::optional<std::uint32_t> number_of(EnumNames<Enum> names, std::string_view name) {
    for (std::uint32_t v = 0;; v++) {
        const char* n = names(static_cast<Enum>(v));
        if (!n) return std::nullopt;
        if (name == n) return v;
    }
}

}  // namespace

const std::vector<SectionDef>& section_defs() { return kSectionDefs; }

std::string_view legacy_section_note(std::string_view section) {
    struct Legacy {
        std::string_view name, note;
    };
    static constexpr Legacy kLegacy[] = {
        {"classifier", "legacy name of SEC(\"tc\"); with a TCX link use tcx/ingress or tcx/egress"},
        {"action", "legacy tc action program; flows belong in SEC(\"tc\") or tcx/*"},
        {"cgroup/skb", "legacy name: leaves expected_attach_type 0; use cgroup_skb/ingress or cgroup_skb/egress"},
        {"tc/ingress", "libbpf 1.3+ alias of tcx/ingress: say tcx/ingress"},
        {"tc/egress", "libbpf 1.3+ alias of tcx/egress: say tcx/egress"},
    };
    for (const Legacy& l : kLegacy)
        if (section == l.name) return l.note;
    return {};
}

const SectionDef* find_section_def(std::string_view section_name) {
    for (const auto& def : kSectionDefs)
        if (matches(def.pattern, section_name)) return &def;
    return nullptr;
}

std::string prog_type_name(std::uint32_t v) { return name_or_number(libbpf_bpf_prog_type_str, v, "prog_type_"); }
std::string attach_type_name(std::uint32_t v) { return name_or_number(libbpf_bpf_attach_type_str, v, "attach_type_"); }
std::string map_type_name(std::uint32_t v) { return name_or_number(libbpf_bpf_map_type_str, v, "map_type_"); }

std::string expected_attach_name(const std::optional<std::uint32_t>& attach_type) {
    return attach_type ? attach_type_name(*attach_type) : "none";
}

std::optional<std::uint32_t> prog_type_from_name(std::string_view name) { return number_of(libbpf_bpf_prog_type_str, name); }

bool expected_attach_from_name(std::string_view name, std::optional<std::uint32_t>& out) {
    if (name == "none") {
        out.reset();
        return true;
    }
    out = number_of(libbpf_bpf_attach_type_str, name);
    return out.has_value();
}

}  // namespace flowattr::verify
