#pragma once
// Test topology without iproute2 (the matrix VMs have only busybox): network namespaces held
// open by fd, a veth pair between them, addresses and links set with rtnetlink.
#include <arpa/inet.h>
#include <fcntl.h>
#include <net/if.h>
#include <linux/if_link.h>
#include <linux/ethtool.h>
#include <linux/netlink.h>
#include <linux/sockios.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "agent/flow.h"
#include "common/error.h"
#include "common/unique_fd.h"

namespace fa::test {

// Builds one rtnetlink request: header, family struct, nested attributes.
class NetlinkRequest {
public:
    NetlinkRequest(std::uint16_t type, std::uint16_t flags) {
        buf_.resize(NLMSG_HDRLEN);
        header()->nlmsg_type = type;
        header()->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | flags;
        header()->nlmsg_seq = 1;
    }
    template <typename T>
    void put_struct(const T& value) {
        append(&value, sizeof(value));
    }
    void put_attr(std::uint16_t type, const void* data, std::size_t len) {
        rtattr attr{};
        attr.rta_type = type;
        attr.rta_len = std::uint16_t(RTA_LENGTH(len));
        append(&attr, sizeof(attr));
        append(data, len);
    }
    void put_string(std::uint16_t type, const std::string& s) { put_attr(type, s.c_str(), s.size() + 1); }
    std::size_t begin_nest(std::uint16_t type) {
        std::size_t offset = buf_.size();
        put_attr(type, nullptr, 0);
        return offset;
    }
    void end_nest(std::size_t offset) {
        reinterpret_cast<rtattr*>(buf_.data() + offset)->rta_len = std::uint16_t(buf_.size() - offset);
    }
    // Sends the request and waits for the kernel's ack; throws with errno on a nack.
    void send(const std::string& what) {
        header()->nlmsg_len = std::uint32_t(buf_.size());
        flowattr::UniqueFd sock(socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE));
        if (!sock) throw flowattr::Error("netlink socket", errno);
        sockaddr_nl kernel{};
        kernel.nl_family = AF_NETLINK;
        if (sendto(sock.get(), buf_.data(), buf_.size(), 0, reinterpret_cast<sockaddr*>(&kernel), sizeof(kernel)) < 0)
            throw flowattr::Error(what, errno);
        char reply[8192];
        ssize_t n = recv(sock.get(), reply, sizeof(reply), 0);
        if (n < 0) throw flowattr::Error(what, errno);
        auto* h = reinterpret_cast<nlmsghdr*>(reply);
        if (h->nlmsg_type == NLMSG_ERROR) {
            auto* e = static_cast<nlmsgerr*>(NLMSG_DATA(h));
            if (e->error) throw flowattr::Error(what, -e->error);
        }
    }

private:
    nlmsghdr* header() { return reinterpret_cast<nlmsghdr*>(buf_.data()); }
    void append(const void* data, std::size_t len) {
        std::size_t offset = buf_.size();
        buf_.resize(offset + NLMSG_ALIGN(len), 0);
        if (len) std::memcpy(buf_.data() + offset, data, len);
    }
    std::vector<char> buf_;
};

// A fresh network namespace kept alive by an open fd (the agent's OwnNetns); enter() runs a
// function with this thread inside it.
class NetNs : public flowattr::agent::OwnNetns {
public:
    void enter(const std::function<void()>& fn) const { flowattr::agent::with_netns(path(), fn); }
};

inline void link_up(const std::string& name) {
    NetlinkRequest req(RTM_NEWLINK, 0);
    ifinfomsg info{};
    info.ifi_family = AF_UNSPEC;
    info.ifi_index = int(if_nametoindex(name.c_str()));
    info.ifi_flags = IFF_UP;
    info.ifi_change = IFF_UP;
    if (!info.ifi_index) throw flowattr::Error("no interface " + name);
    req.put_struct(info);
    req.send("set " + name + " up");
}

// Waits until the kernel's link watcher has seen NAME's carrier (IFF_RUNNING). Until then the
// device's qdisc is the one that drops everything: a packet sent just after link_up() is lost,
// and when it is an ARP request the next try is a second away (a 0.6 s CLI run saw no UDP at all).
// The link watcher handles a carrier change at once only when it counts as urgent, which for a
// veth end whose peer has the same ifindex (both 2, as between two fresh namespaces) it does not:
// it waits for the watcher's next run, up to a second. Asking for the link state through ethtool
// (ETHTOOL_GLINK) makes kernels that have linkwatch_sync_dev() apply the device's pending event
// there and then; on the others it is one ioctl more.
inline void wait_running(const std::string& name) {
    flowattr::UniqueFd s(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    if (!s) throw flowattr::Error("socket for SIOCGIFFLAGS", errno);
    for (int tries = 0; tries < 500; tries++) {  // 10 ms apart: 5 s
        ifreq ifr{};
        std::strncpy(ifr.ifr_name, name.c_str(), IFNAMSIZ - 1);
        ethtool_value link{};
        link.cmd = ETHTOOL_GLINK;
        ifr.ifr_data = reinterpret_cast<char*>(&link);
        ioctl(s.get(), SIOCETHTOOL, &ifr);  // its answer is not needed, only its side effect
        if (ioctl(s.get(), SIOCGIFFLAGS, &ifr) != 0) throw flowattr::Error("SIOCGIFFLAGS " + name, errno);
        if (ifr.ifr_flags & IFF_RUNNING) return;
        usleep(10000);
    }
    throw flowattr::Error(name + " is up but not running (no carrier seen) after 5 s");
}

inline void add_address(const std::string& dev, const std::string& addr, int prefix) {
    bool v6 = addr.find(':') != std::string::npos;
    unsigned char bytes[16];
    if (inet_pton(v6 ? AF_INET6 : AF_INET, addr.c_str(), bytes) != 1) throw flowattr::Error("bad address " + addr);
    NetlinkRequest req(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL);
    ifaddrmsg a{};
    a.ifa_family = v6 ? AF_INET6 : AF_INET;
    a.ifa_prefixlen = std::uint8_t(prefix);
    a.ifa_flags = v6 ? IFA_F_NODAD : 0;  // usable at once: no duplicate-address detection wait
    a.ifa_index = if_nametoindex(dev.c_str());
    req.put_struct(a);
    req.put_attr(IFA_LOCAL, bytes, v6 ? 16 : 4);
    req.put_attr(IFA_ADDRESS, bytes, v6 ? 16 : 4);
    req.send("add " + addr + " to " + dev);
}

inline void delete_link(const std::string& name) {
    NetlinkRequest req(RTM_DELLINK, 0);
    ifinfomsg info{};
    info.ifi_family = AF_UNSPEC;
    info.ifi_index = int(if_nametoindex(name.c_str()));
    if (!info.ifi_index) throw flowattr::Error("no interface " + name);
    req.put_struct(info);
    req.send("delete " + name);
}

// Two namespaces joined by a veth pair: "client" side 10.231.0.1 / fd00:fa::1,
// "server" side 10.231.0.2 / fd00:fa::2. The ends get the ifindexes asked for (0: the
// kernel's choice; 2 on both ends is what two fresh namespaces give).
struct VethPair {
    NetNs client;
    NetNs server;
    std::string client_if = "fa-c0";
    std::string server_if = "fa-s0";
    static constexpr int kClientIfindex = 231;
    static constexpr int kServerIfindex = 232;

    explicit VethPair(int client_ifindex = kClientIfindex, int server_ifindex = kServerIfindex) {
        create(client_ifindex, server_ifindex);
    }

    // Deleting one end deletes the pair; create() makes it again under the same names.
    void remove() {
        client.enter([&] { delete_link(client_if); });
    }

    void create(int client_ifindex, int server_ifindex) {
        client.enter([&] {
            NetlinkRequest req(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
            ifinfomsg info{};
            info.ifi_family = AF_UNSPEC;
            info.ifi_index = client_ifindex;
            req.put_struct(info);
            req.put_string(IFLA_IFNAME, client_if);
            std::size_t linkinfo = req.begin_nest(IFLA_LINKINFO);
            req.put_string(IFLA_INFO_KIND, "veth");
            std::size_t data = req.begin_nest(IFLA_INFO_DATA);
            std::size_t peer = req.begin_nest(VETH_INFO_PEER);
            ifinfomsg peer_info{};
            peer_info.ifi_family = AF_UNSPEC;
            peer_info.ifi_index = server_ifindex;
            req.put_struct(peer_info);
            req.put_string(IFLA_IFNAME, server_if);
            std::uint32_t ns_fd = std::uint32_t(server.fd());
            req.put_attr(IFLA_NET_NS_FD, &ns_fd, sizeof(ns_fd));
            req.end_nest(peer);
            req.end_nest(data);
            req.end_nest(linkinfo);
            req.send("create veth pair");
            link_up("lo");
            add_address(client_if, "10.231.0.1", 24);
            add_address(client_if, "fd00:fa::1", 64);
            link_up(client_if);
        });
        server.enter([&] {
            link_up("lo");
            add_address(server_if, "10.231.0.2", 24);
            add_address(server_if, "fd00:fa::2", 64);
            link_up(server_if);
        });
        client.enter([&] { wait_running(client_if); });
        server.enter([&] { wait_running(server_if); });
    }
};

}  // namespace fa::test
