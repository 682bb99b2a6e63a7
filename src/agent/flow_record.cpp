#include "agent/flow_record.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <sstream>

#include "common/json_text.h"

namespace flowattr::agent {
namespace {

std::string iso8601(std::uint64_t unix_ns) {
    time_t secs = time_t(unix_ns / 1000000000ull);
    struct tm tm {};
    gmtime_r(&secs, &tm);
    char buf[64];
    // Milliseconds: the flows' clock is the kernel's coarse monotonic one (a tick, 1 to
    // 4 ms), so more digits would only print noise.
    std::snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%03lluZ", tm.tm_year + 1900, tm.tm_mon + 1,
                  tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                  static_cast<unsigned long long>((unix_ns % 1000000000ull) / 1000000));
    return buf;
}

std::string endpoint(std::uint8_t family, const std::uint8_t* addr, std::uint16_t port) {
    std::string a = address_to_string(family, addr);
    if (family == FA_AF_INET6) a = "[" + a + "]";
    return a + ":" + std::to_string(port);
}

}  // namespace

std::string address_to_string(std::uint8_t family, const std::uint8_t* addr) {
    char buf[INET6_ADDRSTRLEN] = {};
    if (!inet_ntop(family == FA_AF_INET6 ? AF_INET6 : AF_INET, addr, buf, sizeof(buf))) return "?";
    return buf;
}

std::string protocol_name(std::uint8_t proto) {
    switch (proto) {
    case FA_PROTO_TCP: return "tcp";
    case FA_PROTO_UDP: return "udp";
    case FA_PROTO_ICMP: return "icmp";
    case FA_PROTO_ICMPV6: return "icmpv6";
    default: return "ip-" + std::to_string(proto);
    }
}

std::vector<std::string> tcp_flag_names(std::uint8_t flags) {
    static const char* names[8] = {"FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE", "CWR"};
    std::vector<std::string> out;
    for (int bit = 0; bit < 8; bit++)
        if (flags & (1u << bit)) out.push_back(names[bit]);
    return out;
}

std::string identity_source_name(std::uint32_t source) {
    switch (source) {
    case FA_ID_LSM: return "lsm";
    case FA_ID_SOCK_CREATE: return "sock_create";
    case FA_ID_TASK_ITER: return "task_iter";
    case FA_ID_PROC_WALK: return "proc_walk";
    default: return "none";
    }
}

std::string flow_to_json(const FlowRecord& f, std::uint64_t report_unix_ns, const char* type) {
    using nlohmann::json;
    const fa_flow_key& k = f.key;
    const fa_flow_stats& s = f.stats;
    json j;
    j["type"] = type;
    j["time"] = iso8601(report_unix_ns);
    j["iface"] = f.iface;
    j["ifindex"] = k.ifindex;
    j["netns"] = f.netns_inode;
    j["family"] = k.family == FA_AF_INET6 ? "ipv6" : "ipv4";
    j["proto"] = protocol_name(k.proto);
    j["local"] = {{"addr", address_to_string(k.family, k.local_addr)}, {"port", k.local_port}};
    j["remote"] = {{"addr", address_to_string(k.family, k.remote_addr)}, {"port", k.remote_port}};
    j["ingress"] = {{"packets", s.packets[FA_DIR_INGRESS]}, {"bytes", s.bytes[FA_DIR_INGRESS]}};
    j["egress"] = {{"packets", s.packets[FA_DIR_EGRESS]}, {"bytes", s.bytes[FA_DIR_EGRESS]}};
    j["first_seen"] = iso8601(f.first_seen_unix_ns);
    j["last_seen"] = iso8601(f.last_seen_unix_ns);
    j["tcp_flags"] = tcp_flag_names(s.tcp_flags);
    j["ended"] = s.ended != 0;
    if (s.identity.tgid == 0) {
        j["process"] = nullptr;
    } else {
        const fa_identity& id = s.identity;
        std::string comm(id.comm, strnlen(id.comm, sizeof(id.comm)));
        j["process"] = {
            {"pid", id.tgid},
            {"tid", id.pid},
            {"uid", id.uid},
            {"comm", comm},
            {"exe", f.process.exe},
            {"cgroup_id", id.cgroup_id},
            {"cgroup", f.process.cgroup_path},
            {"container_id", f.process.container_id},
            {"alive", f.process.alive},
            {"identity_source", identity_source_name(id.source)},
        };
    }
    return json_text(j);
}

std::string counters_to_json(const DatapathCounters& c, std::uint64_t report_unix_ns, bool final_report) {
    nlohmann::json j;
    j["type"] = "agent";
    j["time"] = iso8601(report_unix_ns);
    j["final"] = final_report;
    j["flows"] = c.flows;
    j["flows_evicted"] = c.flows_evicted;
    j["events"] = {{"received", c.events}, {"lost", c.events_lost}};
    j["packets_not_keyed"] = {{"parse_errors", c.parse_errors}, {"not_ip", c.not_ip}};
    return json_text(j);
}

std::string interface_change_to_json(const InterfaceChange& change, std::uint64_t report_unix_ns) {
    nlohmann::json j;
    j["type"] = "interface";
    j["time"] = iso8601(report_unix_ns);
    j["iface"] = change.iface.name;
    j["netns"] = change.netns_inode;
    j["state"] = interface_state_name(change.state);
    if (!change.error.empty()) j["error"] = change.error;
    return json_text(j);
}

std::string interface_change_to_text(const InterfaceChange& change) {
    switch (change.state) {
    case InterfaceChange::State::gone:
        return "interface " + change.iface.name + " is gone; watching the others, attaching again when it is back";
    case InterfaceChange::State::attached: return "interface " + change.iface.name + " is back; attached again";
    case InterfaceChange::State::attach_failed:
        return "interface " + change.iface.name + " is back but cannot be attached: " + change.error;
    }
    return {};
}

std::string counters_to_text(const DatapathCounters& c) {
    return std::to_string(c.flows) + " flows (" + std::to_string(c.flows_evicted) +
           " evicted: table full), " + std::to_string(c.events) + " flow events (" +
           std::to_string(c.events_lost) + " lost: ring buffer full), packets not keyed: " +
           std::to_string(c.parse_errors) + " malformed, " + std::to_string(c.not_ip) + " not IP";
}

std::string flows_to_table(const std::vector<FlowRecord>& flows) {
    std::ostringstream out;
    char line[512];
    std::snprintf(line, sizeof(line), "%-10s %-5s %-47s %-47s %10s %10s %8s %-16s\n", "IFACE", "PROTO", "LOCAL",
                  "REMOTE", "TX_BYTES", "RX_BYTES", "PID", "COMM");
    out << line;
    for (const auto& f : flows) {
        const auto& k = f.key;
        const auto& id = f.stats.identity;
        std::string comm = id.tgid ? std::string(id.comm, strnlen(id.comm, sizeof(id.comm))) : "-";
        std::string pid = id.tgid ? std::to_string(id.tgid) : "-";
        std::snprintf(line, sizeof(line), "%-10s %-5s %-47s %-47s %10llu %10llu %8s %-16s\n", f.iface.c_str(),
                      protocol_name(k.proto).c_str(), endpoint(k.family, k.local_addr, k.local_port).c_str(),
                      endpoint(k.family, k.remote_addr, k.remote_port).c_str(),
                      static_cast<unsigned long long>(f.stats.bytes[FA_DIR_EGRESS]),
                      static_cast<unsigned long long>(f.stats.bytes[FA_DIR_INGRESS]), pid.c_str(), comm.c_str());
        out << line;
    }
    return out.str();
}

}  // namespace flowattr::agent
