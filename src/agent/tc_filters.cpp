#include "agent/tc_filters.h"

#include <linux/netlink.h>
#include <linux/pkt_sched.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>

#include <cerrno>

#include "common/error.h"
#include "common/unique_fd.h"

namespace flowattr::agent {

// A plain RTM_GETTFILTER dump: libbpf has no listing call, and one request with one reply
// loop does not justify a netlink library.
bool tc_hook_has_filters(int ifindex, bpf_tc_attach_point point) {
    UniqueFd sock(socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE));
    if (!sock) throw Error("cannot open a netlink socket", errno);
    struct {
        nlmsghdr header;
        tcmsg tc;
    } request{};
    request.header.nlmsg_len = sizeof(request);
    request.header.nlmsg_type = RTM_GETTFILTER;
    request.header.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    request.header.nlmsg_seq = 1;
    request.tc.tcm_family = AF_UNSPEC;
    request.tc.tcm_ifindex = ifindex;
    request.tc.tcm_parent =
        TC_H_MAKE(TC_H_CLSACT, point == BPF_TC_INGRESS ? TC_H_MIN_INGRESS : TC_H_MIN_EGRESS);
    if (send(sock.get(), &request, sizeof(request), 0) < 0) throw Error("cannot list tc filters", errno);
    bool any = false;
    alignas(nlmsghdr) char buf[16384];
    for (;;) {
        ssize_t n = recv(sock.get(), buf, sizeof(buf), 0);
        if (n < 0) throw Error("cannot list tc filters", errno);
        for (auto* h = reinterpret_cast<nlmsghdr*>(buf); NLMSG_OK(h, std::uint32_t(n)); h = NLMSG_NEXT(h, n)) {
            if (h->nlmsg_type == NLMSG_DONE) return any;
            if (h->nlmsg_type == NLMSG_ERROR) {
                int err = -static_cast<nlmsgerr*>(NLMSG_DATA(h))->error;
                // No clsact qdisc (or no device): nothing is attached there.
                if (err == EINVAL || err == ENOENT || err == ENODEV) return false;
                throw Error("cannot list tc filters", err);
            }
            if (h->nlmsg_type == RTM_NEWTFILTER) any = true;
        }
    }
}

}  // namespace flowattr::agent
