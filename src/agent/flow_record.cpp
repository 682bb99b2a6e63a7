#include "agent/flow_record.h"

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string_view>

#include "common/json_text.h"

namespace flowattr::agent {
namespace {

// Two digits, zero-padded, at p.
void put2(char* p, unsigned v) {
    p[0] = char('0' + v / 10);
    p[1] = char('0' + v % 10);
}

// "YYYY-MM-DDTHH:MM:SS.mmmZ". gmtime_r and a formatted print per timestamp were half of a flow
// line's cost, and a line's three timestamps, like the lines printed together, nearly always
// share their second: its text is kept per thread and only the milliseconds written anew,
// straight into the line.
void append_iso8601(std::string& out, std::uint64_t unix_ns) {
    thread_local time_t cached_secs = -1;
    thread_local std::string cached;  // "YYYY-MM-DDTHH:MM:SS"
    const time_t secs = time_t(unix_ns / 1000000000ull);
    if (secs != cached_secs) {
        struct tm tm {};
        gmtime_r(&secs, &tm);
        char buf[64];
        const int n = std::snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d", tm.tm_year + 1900,
                                    tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
        cached.assign(buf, std::size_t(n));
        cached_secs = secs;
    }
    // Milliseconds: the flows' clock has a tick's resolution (1 to 10 ms), so more digits
    // would only print noise.
    const unsigned ms = unsigned((unix_ns % 1000000000ull) / 1000000);
    char fraction[5] = {'.', char('0' + ms / 100), 0, 0, 'Z'};
    put2(fraction + 2, ms % 100);
    out += cached;
    out.append(fraction, sizeof(fraction));
}

std::string iso8601(std::uint64_t unix_ns) {
    std::string text;
    append_iso8601(text, unix_ns);
    return text;
}

std::string endpoint(std::uint8_t family, const std::uint8_t* addr, std::uint16_t port) {
    std::string a = address_to_string(family, addr);
    if (family == FA_AF_INET6) a = "[" + a + "]";
    return a + ":" + std::to_string(port);
}

}  // namespace

std::string address_to_string(std::uint8_t family, const std::uint8_t* addr) {
    if (family != FA_AF_INET6) {
        // Dotted quad by hand: glibc's inet_ntop formats IPv4 through sprintf, which was a
        // third of a flow line's cost. IPv6 (RFC 5952's zero compression) stays inet_ntop's.
        char quad[16];
        char* p = quad;
        for (int i = 0; i < 4; i++) {
            if (i) *p++ = '.';
            p = std::to_chars(p, quad + sizeof(quad), addr[i]).ptr;
        }
        return std::string(quad, p);
    }
    char buf[INET6_ADDRSTRLEN] = {};
    if (!inet_ntop(AF_INET6, addr, buf, sizeof(buf))) return "?";
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

const char* tcp_flag_name(unsigned bit) {
    static constexpr const char* names[8] = {"FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE", "CWR"};
    return bit < 8 ? names[bit] : "?";
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

// A flow's JSON line is written out field by field rather than built as an nlohmann tree and
// dumped: a line per flow per interval and per event makes this the agent's hottest output
// path, and the tree costs about 3x the time (bench/events_bench.cpp). The bytes are the
// tree's: keys in its (sorted) order, text from outside escaped by nlohmann itself
// (FlowJson.SameBytesAsTheNlohmannTree holds the two together).
namespace {

// Text from outside (an interface, a process name, a path): nlohmann's escaping and its
// U+FFFD for bytes that are not UTF-8, skipped for the plain printable ASCII most names are.
void append_text(std::string& out, const std::string& text) {
    const bool plain = std::all_of(text.begin(), text.end(), [](char c) { return c >= 0x20 && c < 0x7f && c != '"' && c != '\\'; });
    if (!plain) {
        out += json_text(nlohmann::json(text));
        return;
    }
    out += '"';
    out += text;
    out += '"';
}

// A name of our own vocabulary ("ipv4", "tcp", an address, a timestamp): nothing to escape.
void append_name(std::string& out, std::string_view name) {
    out += '"';
    out += name;
    out += '"';
}

void append_number(std::string& out, unsigned long long value) {
    char buf[24];
    out.append(buf, std::to_chars(buf, buf + sizeof buf, value).ptr);
}

void append_counts(std::string& out, const char* key, const fa_flow_stats& s, int dir) {
    out += key;
    out += "{\"bytes\":";
    append_number(out, s.bytes[dir]);
    out += ",\"packets\":";
    append_number(out, s.packets[dir]);
    out += '}';
}

void append_endpoint(std::string& out, const char* key, const fa_flow_key& k, const std::uint8_t* addr, std::uint16_t port) {
    out += key;
    out += "{\"addr\":";
    append_name(out, address_to_string(k.family, addr));
    out += ",\"port\":";
    append_number(out, port);
    out += '}';
}

}  // namespace

std::string flow_to_json(const FlowRecord& f, std::uint64_t report_unix_ns, const char* type) {
    const fa_flow_key& k = f.key;
    const fa_flow_stats& s = f.stats;
    std::string out;
    out.reserve(512);
    append_counts(out, "{\"egress\":", s, FA_DIR_EGRESS);
    out += s.ended ? ",\"ended\":true" : ",\"ended\":false";
    out += ",\"family\":";
    append_name(out, k.family == FA_AF_INET6 ? "ipv6" : "ipv4");
    out += ",\"first_seen\":";
    out += '"';
    append_iso8601(out, f.first_seen_unix_ns);
    out += '"';
    out += ",\"iface\":";
    append_text(out, f.iface.name);
    out += ",\"ifindex\":";
    append_number(out, k.ifindex);
    append_counts(out, ",\"ingress\":", s, FA_DIR_INGRESS);
    out += ",\"last_seen\":";
    out += '"';
    append_iso8601(out, f.last_seen_unix_ns);
    out += '"';
    append_endpoint(out, ",\"local\":", k, k.local_addr, k.local_port);
    out += ",\"netns\":";
    append_number(out, f.netns_inode);
    out += ",\"process\":";
    if (s.identity.tgid == 0) {
        out += "null";
    } else {
        const fa_identity& id = s.identity;
        out += f.process.alive ? "{\"alive\":true" : "{\"alive\":false";
        out += ",\"cgroup\":";
        append_text(out, f.process.cgroup_path);
        out += ",\"cgroup_id\":";
        append_number(out, id.cgroup_id);
        out += ",\"comm\":";
        append_text(out, std::string(id.comm, strnlen(id.comm, sizeof(id.comm))));
        out += ",\"container_id\":";
        append_text(out, f.process.container_id);
        out += ",\"exe\":";
        append_text(out, f.process.exe);
        out += ",\"identity_source\":";
        append_name(out, identity_source_name(id.source));
        out += ",\"pid\":";
        append_number(out, id.tgid);
        out += ",\"tid\":";
        append_number(out, id.pid);
        out += ",\"uid\":";
        append_number(out, id.uid);
        out += '}';
    }
    out += ",\"proto\":";
    append_name(out, protocol_name(k.proto));
    append_endpoint(out, ",\"remote\":", k, k.remote_addr, k.remote_port);
    out += ",\"tcp_flags\":[";
    // Names straight into the line: a vector of them per flow was a tenth of its cost.
    bool first_flag = true;
    for (unsigned bit = 0; bit < 8; bit++) {
        if (!(s.tcp_flags & (1u << bit))) continue;
        if (!first_flag) out += ',';
        first_flag = false;
        append_name(out, tcp_flag_name(bit));
    }
    out += "],\"time\":\"";
    append_iso8601(out, report_unix_ns);
    out += '"';
    out += ",\"type\":";
    append_name(out, type);
    out += '}';
    return out;
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
        return "interface " + interface_label(change.iface) + " is gone; watching the others, attaching again when it is back";
    case InterfaceChange::State::attached: return "interface " + interface_label(change.iface) + " is back; attached again";
    case InterfaceChange::State::attach_failed:
        return "interface " + interface_label(change.iface) + " is back but cannot be attached: " + change.error;
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
        std::snprintf(line, sizeof(line), "%-10s %-5s %-47s %-47s %10llu %10llu %8s %-16s\n",
                      interface_label(f.iface).c_str(),
                      protocol_name(k.proto).c_str(), endpoint(k.family, k.local_addr, k.local_port).c_str(),
                      endpoint(k.family, k.remote_addr, k.remote_port).c_str(),
                      static_cast<unsigned long long>(f.stats.bytes[FA_DIR_EGRESS]),
                      static_cast<unsigned long long>(f.stats.bytes[FA_DIR_INGRESS]), pid.c_str(), comm.c_str());
        out << line;
    }
    return out.str();
}

}  // namespace flowattr::agent
