#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <iterator>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>

#include "agent/flow_record.h"
#include "build_tree.h"
#include "common/file.h"
#include "common/json_text.h"

namespace {

using namespace flowattr::agent;

const std::uint8_t kClient4[4] = {10, 0, 0, 1};
const std::uint8_t kServer4[4] = {10, 0, 0, 2};

TEST(FlowKey, BothDirectionsShareOneKey) {
    fa_flow_key egress{}, ingress{};
    // Client 10.0.0.1:40000 -> server 10.0.0.2:80, seen leaving and its reply arriving.
    fa_flow_key_init(&egress, 3, 0, FA_AF_INET, FA_PROTO_TCP, FA_DIR_EGRESS, kClient4, kServer4, 40000, 80);
    fa_flow_key_init(&ingress, 3, 0, FA_AF_INET, FA_PROTO_TCP, FA_DIR_INGRESS, kServer4, kClient4, 80, 40000);
    EXPECT_EQ(std::memcmp(&egress, &ingress, sizeof(egress)), 0);
    EXPECT_EQ(egress.local_port, 40000);
    EXPECT_EQ(egress.remote_port, 80);
    EXPECT_EQ(std::memcmp(egress.local_addr, kClient4, 4), 0);
    EXPECT_EQ(std::memcmp(egress.remote_addr, kServer4, 4), 0);
}

TEST(FlowKey, Ipv4LeavesTailZeroAndCarriesNetns) {
    fa_flow_key key;
    std::memset(&key, 0xff, sizeof(key));
    fa_flow_key_init(&key, 1, 5, FA_AF_INET, FA_PROTO_UDP, FA_DIR_EGRESS, kClient4, kServer4, 1, 2);
    for (int i = 4; i < FA_ADDR_LEN; i++) {
        EXPECT_EQ(key.local_addr[i], 0) << i;
        EXPECT_EQ(key.remote_addr[i], 0) << i;
    }
    EXPECT_EQ(key.netns, 5);
    EXPECT_EQ(key.ifindex, 1u);
}

TEST(FlowKey, Ipv6UsesAllSixteenBytes) {
    std::uint8_t a[16], b[16];
    for (int i = 0; i < 16; i++) {
        a[i] = std::uint8_t(i + 1);
        b[i] = std::uint8_t(0xf0 + i);
    }
    fa_flow_key key{};
    fa_flow_key_init(&key, 7, 0, FA_AF_INET6, FA_PROTO_UDP, FA_DIR_INGRESS, a, b, 53, 5353);
    // Ingress: the packet's destination is the local end.
    EXPECT_EQ(std::memcmp(key.local_addr, b, 16), 0);
    EXPECT_EQ(std::memcmp(key.remote_addr, a, 16), 0);
    EXPECT_EQ(key.local_port, 5353);
    EXPECT_EQ(key.remote_port, 53);
    EXPECT_EQ(key.ifindex, 7u);
}

FlowRecord sample_flow() {
    FlowRecord f;
    fa_flow_key_init(&f.key, 3, 0, FA_AF_INET, FA_PROTO_TCP, FA_DIR_EGRESS, kClient4, kServer4, 40000, 80);
    f.iface.name = "veth0";
    f.netns_inode = 4026531840;
    f.stats.packets[FA_DIR_EGRESS] = 5;
    f.stats.bytes[FA_DIR_EGRESS] = 500;
    f.stats.packets[FA_DIR_INGRESS] = 4;
    f.stats.bytes[FA_DIR_INGRESS] = 300;
    f.stats.tcp_flags = 0x1b;  // FIN SYN PSH ACK
    f.stats.ended = 1;
    f.stats.identity.tgid = 1234;
    f.stats.identity.pid = 1235;
    f.stats.identity.uid = 1000;
    f.stats.identity.source = FA_ID_LSM;
    f.stats.identity.cgroup_id = 99;
    std::memcpy(f.stats.identity.comm, "curl", 5);
    f.first_seen_unix_ns = 1700000000ull * 1000000000ull;
    f.last_seen_unix_ns = f.first_seen_unix_ns + 1500000;
    f.process.alive = true;
    f.process.exe = "/usr/bin/curl";
    f.process.cgroup_path = "/user.slice";
    return f;
}

TEST(FlowJson, EventsCarryTheirOwnType) {
    auto j = nlohmann::json::parse(flow_to_json(sample_flow(), 1700000001ull * 1000000000ull, "flow_end"));
    EXPECT_EQ(j["type"], "flow_end");
    EXPECT_EQ(j["egress"]["bytes"], 500);
}

TEST(CountersJson, SchemaFields) {
    DatapathCounters c;
    c.flows = 7;
    c.events = 12;
    c.events_lost = 3;
    c.parse_errors = 2;
    c.not_ip = 5;
    c.flows_evicted = 9;
    auto j = nlohmann::json::parse(counters_to_json(c, 1700000001ull * 1000000000ull, true));
    EXPECT_EQ(j["type"], "agent");
    EXPECT_EQ(j["time"], "2023-11-14T22:13:21.000Z");
    EXPECT_EQ(j["final"], true);
    EXPECT_EQ(j["flows"], 7);
    EXPECT_EQ(j["flows_evicted"], 9);
    EXPECT_EQ(j["events"]["received"], 12);
    EXPECT_EQ(j["events"]["lost"], 3);
    EXPECT_EQ(j["packets_not_keyed"]["parse_errors"], 2);
    EXPECT_EQ(j["packets_not_keyed"]["not_ip"], 5);
    EXPECT_EQ(counters_to_text(c), "7 flows (9 evicted: table full), 12 flow events (3 lost: ring buffer full), packets not keyed: 2 malformed, 5 not IP");
}

TEST(FlowJson, SchemaFields) {
    auto j = nlohmann::json::parse(flow_to_json(sample_flow(), 1700000001ull * 1000000000ull));
    EXPECT_EQ(j["type"], "flow");
    EXPECT_EQ(j["time"], "2023-11-14T22:13:21.000Z");
    EXPECT_EQ(j["iface"], "veth0");
    EXPECT_EQ(j["ifindex"], 3);
    EXPECT_EQ(j["netns"], 4026531840u);
    EXPECT_EQ(j["family"], "ipv4");
    EXPECT_EQ(j["proto"], "tcp");
    EXPECT_EQ(j["local"]["addr"], "10.0.0.1");
    EXPECT_EQ(j["local"]["port"], 40000);
    EXPECT_EQ(j["remote"]["addr"], "10.0.0.2");
    EXPECT_EQ(j["remote"]["port"], 80);
    EXPECT_EQ(j["egress"]["packets"], 5);
    EXPECT_EQ(j["egress"]["bytes"], 500);
    EXPECT_EQ(j["ingress"]["packets"], 4);
    EXPECT_EQ(j["ingress"]["bytes"], 300);
    EXPECT_EQ(j["first_seen"], "2023-11-14T22:13:20.000Z");
    // Milliseconds, cut rather than rounded: the clock behind them moves a tick at a time.
    EXPECT_EQ(j["last_seen"], "2023-11-14T22:13:20.001Z");
    EXPECT_EQ(j["tcp_flags"], nlohmann::json({"FIN", "SYN", "PSH", "ACK"}));
    EXPECT_EQ(j["ended"], true);
    EXPECT_EQ(j["process"]["pid"], 1234);
    EXPECT_EQ(j["process"]["tid"], 1235);
    EXPECT_EQ(j["process"]["uid"], 1000);
    EXPECT_EQ(j["process"]["comm"], "curl");
    EXPECT_EQ(j["process"]["exe"], "/usr/bin/curl");
    EXPECT_EQ(j["process"]["cgroup_id"], 99);
    EXPECT_EQ(j["process"]["cgroup"], "/user.slice");
    EXPECT_EQ(j["process"]["alive"], true);
    EXPECT_EQ(j["process"]["identity_source"], "lsm");
}

TEST(InterfaceJson, SaysWhatHappenedOnce) {
    InterfaceChange change{InterfaceSpec{"vA", "/run/netns/a"}, 4026532000u, InterfaceChange::State::attach_failed,
                           "cannot attach tcx/ingress to vA"};
    auto j = nlohmann::json::parse(interface_change_to_json(change, 1700000001ull * 1000000000ull));
    EXPECT_EQ(j["type"], "interface");
    EXPECT_EQ(j["iface"], "vA");
    EXPECT_EQ(j["netns"], 4026532000u);
    EXPECT_EQ(j["state"], "attach_failed");
    EXPECT_EQ(j["error"], "cannot attach tcx/ingress to vA");
    change.state = InterfaceChange::State::gone;
    change.error.clear();
    j = nlohmann::json::parse(interface_change_to_json(change, 0));
    EXPECT_EQ(j["state"], "gone");
    EXPECT_FALSE(j.contains("error"));
    EXPECT_NE(interface_change_to_text(change).find("interface vA@a is gone"), std::string::npos);
}

// The timestamps' text is kept per second and only the milliseconds written anew: random
// times in no order (each a second away from the last, or the same second, or years away)
// print as gmtime and strftime print them.
TEST(FlowJson, TimestampsAreGmtimesInAnyOrder) {
    std::mt19937_64 rng(20261205);
    FlowRecord f = sample_flow();
    std::uint64_t t = 1700000000ull * 1000000000ull;
    for (int i = 0; i < 2000; i++) {
        switch (rng() % 3) {
        case 0: t += 1000000000ull; break;               // the next second
        case 1: t = (t / 1000000000ull) * 1000000000ull + rng() % 1000000000ull; break;  // the same second
        default: t = rng() % (4102444800ull * 1000000000ull); break;  // anywhere up to 2100
        }
        f.first_seen_unix_ns = t;
        const time_t secs = time_t(t / 1000000000ull);
        struct tm tm {};
        ASSERT_NE(gmtime_r(&secs, &tm), nullptr);
        char expected[40];
        const std::size_t n = std::strftime(expected, sizeof(expected), "%Y-%m-%dT%H:%M:%S", &tm);
        std::snprintf(expected + n, sizeof(expected) - n, ".%03lluZ",
                      static_cast<unsigned long long>(t % 1000000000ull / 1000000ull));
        ASSERT_EQ(nlohmann::json::parse(flow_to_json(f, t))["first_seen"], expected) << t;
        ASSERT_EQ(nlohmann::json::parse(flow_to_json(f, t))["time"], expected) << t;
    }
}

// IPv4 addresses are written by hand (inet_ntop's sprintf was slow): every octet value in
// every position reads as inet_ntop writes it.
TEST(FlowJson, Ipv4AddressesAsInetNtopWritesThem) {
    std::mt19937 rng(20261205);
    for (int i = 0; i < 4 * 256; i++) {
        std::uint8_t addr[FA_ADDR_LEN] = {};
        for (int octet = 0; octet < 4; octet++) addr[octet] = std::uint8_t(rng());
        addr[i % 4] = std::uint8_t(i / 4);
        char expected[INET_ADDRSTRLEN];
        ASSERT_NE(inet_ntop(AF_INET, addr, expected, sizeof(expected)), nullptr);
        ASSERT_EQ(address_to_string(FA_AF_INET, addr), expected);
    }
}

TEST(FlowJson, UnknownProcessIsNull) {
    FlowRecord f = sample_flow();
    f.stats.identity = fa_identity{};
    auto j = nlohmann::json::parse(flow_to_json(f, 0));
    EXPECT_TRUE(j["process"].is_null());
}

TEST(FlowJson, CommWithoutTerminatorStaysInBounds) {
    FlowRecord f = sample_flow();
    std::memset(f.stats.identity.comm, 'x', sizeof(f.stats.identity.comm));
    auto j = nlohmann::json::parse(flow_to_json(f, 0));
    EXPECT_EQ(j["process"]["comm"], std::string(16, 'x'));
}

// Any user can name a process with bytes that are not UTF-8 (prctl PR_SET_NAME, an exe path,
// an interface name): the line is still printed, each bad byte as U+FFFD, and still parses.
TEST(FlowJson, NamesThatAreNotUtf8BecomeReplacementCharacters) {
    FlowRecord f = sample_flow();
    std::memcpy(f.stats.identity.comm, "evil\xff\xfe", 7);
    f.process.exe = "/tmp/\xc3(";
    f.iface.name = "veth\x80";
    std::string line;
    ASSERT_NO_THROW(line = flow_to_json(f, 0));
    auto j = nlohmann::json::parse(line);
    EXPECT_EQ(j["process"]["comm"], "evil\xef\xbf\xbd\xef\xbf\xbd");
    EXPECT_EQ(j["process"]["exe"], "/tmp/\xef\xbf\xbd(");
    EXPECT_EQ(j["iface"], "veth\xef\xbf\xbd");
    InterfaceChange change;
    change.iface.name = "bad\xff";
    EXPECT_EQ(nlohmann::json::parse(interface_change_to_json(change, 0))["iface"], "bad\xef\xbf\xbd");
}

// The schema as an nlohmann tree, dumped: what flow_to_json wrote until it wrote its lines
// out by hand for speed. The oracle for the test below.
std::string flow_json_tree(const FlowRecord& f, std::uint64_t report_unix_ns, const char* type) {
    const fa_flow_key& k = f.key;
    const fa_flow_stats& s = f.stats;
    nlohmann::json j;
    j["type"] = type;
    // The timestamps' formatting is FlowJson.SchemaFields' business: taken as written.
    const auto written = nlohmann::json::parse(flow_to_json(f, report_unix_ns, type));
    j["time"] = written["time"];
    j["iface"] = f.iface.name;
    j["ifindex"] = k.ifindex;
    j["netns"] = f.netns_inode;
    j["family"] = k.family == FA_AF_INET6 ? "ipv6" : "ipv4";
    j["proto"] = protocol_name(k.proto);
    j["local"] = {{"addr", address_to_string(k.family, k.local_addr)}, {"port", k.local_port}};
    j["remote"] = {{"addr", address_to_string(k.family, k.remote_addr)}, {"port", k.remote_port}};
    j["ingress"] = {{"packets", s.packets[FA_DIR_INGRESS]}, {"bytes", s.bytes[FA_DIR_INGRESS]}};
    j["egress"] = {{"packets", s.packets[FA_DIR_EGRESS]}, {"bytes", s.bytes[FA_DIR_EGRESS]}};
    j["first_seen"] = written["first_seen"];
    j["last_seen"] = written["last_seen"];
    j["tcp_flags"] = nlohmann::json::array();
    for (unsigned bit = 0; bit < 8; bit++)
        if (s.tcp_flags & (1u << bit)) j["tcp_flags"].push_back(tcp_flag_name(bit));
    j["ended"] = s.ended != 0;
    if (s.identity.tgid == 0) {
        j["process"] = nullptr;
    } else {
        const fa_identity& id = s.identity;
        j["process"] = {{"pid", id.tgid},
                        {"tid", id.pid},
                        {"uid", id.uid},
                        {"comm", std::string(id.comm, strnlen(id.comm, sizeof(id.comm)))},
                        {"exe", f.process.exe},
                        {"cgroup_id", id.cgroup_id},
                        {"cgroup", f.process.cgroup_path},
                        {"container_id", f.process.container_id},
                        {"alive", f.process.alive},
                        {"identity_source", identity_source_name(id.source)}};
    }
    return flowattr::json_text(j);
}

// Random records, names full of quotes, control bytes, UTF-8 and bytes that are not UTF-8:
// the hand-written line is byte for byte the tree's dump.
TEST(FlowJson, SameBytesAsTheNlohmannTree) {
    std::mt19937_64 rng(20261205);
    auto text = [&] {
        static const std::string pieces[] = {"a", "veth0", "\"", "\\", "\n", "\t", "\x01", "\x7f", "\xc3\xa9", "\xe2\x82\xac",
                                             "\xff", "\xc3(", "/", " ", "{}", "\xf0\x9f\x90\x9d"};
        std::string s;
        for (int n = int(rng() % 6); n > 0; n--) s += pieces[rng() % std::size(pieces)];
        return s;
    };
    for (int i = 0; i < 3000; i++) {
        FlowRecord f = sample_flow();
        f.key.family = rng() % 2 ? FA_AF_INET6 : FA_AF_INET;
        for (auto& b : f.key.local_addr) b = std::uint8_t(rng());
        for (auto& b : f.key.remote_addr) b = std::uint8_t(rng());
        f.key.proto = std::uint8_t(rng());
        f.key.local_port = std::uint16_t(rng());
        f.key.ifindex = std::uint32_t(rng());
        f.stats.bytes[FA_DIR_INGRESS] = rng();
        f.stats.packets[FA_DIR_EGRESS] = rng() % 1000;
        f.stats.tcp_flags = std::uint8_t(rng());
        f.stats.ended = std::uint8_t(rng() % 2);
        f.iface.name = text();
        f.netns_inode = rng();
        if (rng() % 4 == 0) {
            f.stats.identity = fa_identity{};
        } else {
            const std::string comm = text();
            std::memset(f.stats.identity.comm, 0, sizeof(f.stats.identity.comm));
            std::memcpy(f.stats.identity.comm, comm.data(), std::min(comm.size(), sizeof(f.stats.identity.comm)));
            f.stats.identity.source = std::uint32_t(rng() % 6);
            f.process.exe = text();
            f.process.cgroup_path = text();
            f.process.container_id = text();
            f.process.alive = rng() % 2;
        }
        const char* type = rng() % 2 ? "flow" : "flow_end";
        const std::uint64_t now = rng() % (4000000000ull * 1000000000ull);
        ASSERT_EQ(flow_to_json(f, now, type), flow_json_tree(f, now, type)) << "record " << i;
    }
}

TEST(FlowJson, Ipv6AndIcmpNames) {
    FlowRecord f = sample_flow();
    std::uint8_t a[16] = {0x20, 0x01, 0x0d, 0xb8};
    std::uint8_t b[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    fa_flow_key_init(&f.key, 3, 0, FA_AF_INET6, FA_PROTO_ICMPV6, FA_DIR_EGRESS, a, b, 7, 7);
    auto j = nlohmann::json::parse(flow_to_json(f, 0));
    EXPECT_EQ(j["family"], "ipv6");
    EXPECT_EQ(j["proto"], "icmpv6");
    EXPECT_EQ(j["local"]["addr"], "2001:db8::");
    EXPECT_EQ(j["remote"]["addr"], "2001:db8::1");
    EXPECT_EQ(protocol_name(132), "ip-132");
}

TEST(FlowTable, HeaderAndRow) {
    std::string table = flows_to_table({sample_flow()});
    EXPECT_EQ(table.rfind("IFACE", 0), 0u);
    EXPECT_NE(table.find("10.0.0.1:40000"), std::string::npos);
    EXPECT_NE(table.find("10.0.0.2:80"), std::string::npos);
    EXPECT_NE(table.find("1234"), std::string::npos);
    EXPECT_NE(table.find("curl"), std::string::npos);
    EXPECT_EQ(std::count(table.begin(), table.end(), '\n'), 2);
}

// Two interfaces of one name in two namespaces: JSON tells them apart by netns, the table by
// the namespace in the interface's column, as --iface named them.
TEST(FlowTable, SameNamedInterfacesInTwoNamespacesStayApart) {
    FlowRecord a = sample_flow(), b = sample_flow(), own = sample_flow();
    a.iface = InterfaceSpec{"veth0", "/run/netns/a"};
    b.iface = InterfaceSpec{"veth0", "/run/netns/b"};
    own.iface = InterfaceSpec{"veth0", ""};
    std::istringstream rows(flows_to_table({a, b, own}));
    std::vector<std::string> first_columns;
    for (std::string line; std::getline(rows, line);) first_columns.push_back(line.substr(0, line.find(' ')));
    EXPECT_EQ(first_columns, (std::vector<std::string>{"IFACE", "veth0@a", "veth0@b", "veth0"}));
}

TEST(FlowTable, TcpFlagNames) {
    const std::vector<std::string> names = {"FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE", "CWR"};
    for (unsigned bit = 0; bit < 8; bit++) EXPECT_EQ(tcp_flag_name(bit), names[bit]) << bit;
    FlowRecord f;
    f.stats.tcp_flags = 0;
    EXPECT_EQ(nlohmann::json::parse(flow_to_json(f, 0))["tcp_flags"], nlohmann::json::array());
    f.stats.tcp_flags = 0xff;
    EXPECT_EQ(nlohmann::json::parse(flow_to_json(f, 0))["tcp_flags"], nlohmann::json(names));
}

// docs/OUTPUT.md documents every field the flow, agent and interface records carry.
TEST(OutputDoc, NamesEveryFieldOfTheAgentsRecords) {
    std::string doc = flowattr::read_file(fa::test::source_dir() + "/docs/OUTPUT.md");
    const std::string section = doc.substr(0, doc.find("# `flowattr check --json`"));
    // Parsed into names first: items() refers to its object, which must outlive the loop.
    const auto flow = nlohmann::json::parse(flow_to_json(sample_flow(), 0));
    const auto agent = nlohmann::json::parse(counters_to_json(DatapathCounters{}, 0, true));
    InterfaceChange change{InterfaceSpec{"veth0", ""}, 1, InterfaceChange::State::attach_failed, "e"};
    const auto iface = nlohmann::json::parse(interface_change_to_json(change, 0));
    for (const auto& [key, value] : flow.items())
        EXPECT_NE(section.find("`" + key + "`"), std::string::npos) << "flow field " << key;
    for (const auto& [key, value] : flow["process"].items())
        EXPECT_NE(section.find("`" + key + "`"), std::string::npos) << "process field " << key;
    for (const auto& [key, value] : agent.items())
        EXPECT_NE(section.find("\"" + key + "\":"), std::string::npos) << "agent field " << key;
    for (const auto& [key, value] : iface.items())
        EXPECT_NE(section.find("\"" + key + "\""), std::string::npos) << "interface field " << key;
}

}  // namespace
