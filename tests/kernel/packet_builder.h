#pragma once
// Builds raw Ethernet frames for BPF_PROG_TEST_RUN, layer by layer, in wire order:
//
//   auto frame = PacketBuilder()
//                    .ethernet(kEthIpv4)
//                    .ipv4(ipv4_addr("10.0.0.1"), ipv4_addr("10.0.0.2"), kProtoTcp)
//                    .tcp(40000, 80, kTcpSyn)
//                    .build();
//
// Each layer names the type of the next one (ethertype, protocol, next header), so
// malformed and unusual stacks are as easy to write as ordinary ones. build() fills
// the length fields (IPv4 total length and header checksum, IPv6 payload length,
// UDP length); checksums of L4 headers stay 0, which no BPF parser checks.
#include <arpa/inet.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace fa::test {

using Ipv4Addr = std::array<std::uint8_t, 4>;
using Ipv6Addr = std::array<std::uint8_t, 16>;

inline constexpr std::uint16_t kEthIpv4 = 0x0800;
inline constexpr std::uint16_t kEthIpv6 = 0x86DD;
inline constexpr std::uint16_t kEthArp = 0x0806;
inline constexpr std::uint16_t kEthVlan = 0x8100;  // 802.1Q
inline constexpr std::uint16_t kEthQinQ = 0x88A8;  // 802.1ad

inline constexpr std::uint8_t kProtoIcmp = 1;
inline constexpr std::uint8_t kProtoTcp = 6;
inline constexpr std::uint8_t kProtoUdp = 17;
inline constexpr std::uint8_t kProtoIcmpv6 = 58;
inline constexpr std::uint8_t kIpv6HopByHop = 0;
inline constexpr std::uint8_t kIpv6Routing = 43;
inline constexpr std::uint8_t kIpv6Fragment = 44;
inline constexpr std::uint8_t kIpv6Auth = 51;
inline constexpr std::uint8_t kIpv6DestOpts = 60;

inline constexpr std::uint8_t kTcpFin = 0x01;
inline constexpr std::uint8_t kTcpSyn = 0x02;
inline constexpr std::uint8_t kTcpRst = 0x04;
inline constexpr std::uint8_t kTcpPsh = 0x08;
inline constexpr std::uint8_t kTcpAck = 0x10;

inline Ipv4Addr ipv4_addr(const std::string& text) {
    Ipv4Addr addr{};
    if (inet_pton(AF_INET, text.c_str(), addr.data()) != 1) throw std::invalid_argument(text);
    return addr;
}

inline Ipv6Addr ipv6_addr(const std::string& text) {
    Ipv6Addr addr{};
    if (inet_pton(AF_INET6, text.c_str(), addr.data()) != 1) throw std::invalid_argument(text);
    return addr;
}

class PacketBuilder {
public:
    // Destination and source MACs are fixed: no BPF program here looks at them.
    PacketBuilder& ethernet(std::uint16_t ethertype) {
        static constexpr std::uint8_t kMacs[12] = {0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01};
        bytes_.insert(bytes_.end(), kMacs, kMacs + sizeof(kMacs));
        put16(ethertype);
        return *this;
    }

    // A tag in the packet data; its TPID is the ethertype of the layer before it.
    PacketBuilder& vlan(std::uint16_t tci, std::uint16_t ethertype) {
        put16(tci);
        put16(ethertype);
        return *this;
    }

    // frag_field is the raw flags + fragment-offset field: 0x2000 = more fragments,
    // low 13 bits = offset in 8-byte units. options must be a multiple of 4 bytes.
    PacketBuilder& ipv4(const Ipv4Addr& src, const Ipv4Addr& dst, std::uint8_t protocol,
                        std::uint16_t frag_field = 0,
                        const std::vector<std::uint8_t>& options = {}) {
        if (options.size() % 4 != 0 || options.size() > 40) throw std::invalid_argument("ipv4 options");
        ipv4_at_ = static_cast<long>(bytes_.size());
        bytes_.push_back(static_cast<std::uint8_t>(0x40 | (5 + options.size() / 4)));
        bytes_.push_back(0);  // DSCP/ECN
        put16(0);             // total length: build()
        put16(0x1234);        // identification
        put16(frag_field);
        bytes_.push_back(64);  // TTL
        bytes_.push_back(protocol);
        put16(0);  // header checksum: build()
        bytes_.insert(bytes_.end(), src.begin(), src.end());
        bytes_.insert(bytes_.end(), dst.begin(), dst.end());
        bytes_.insert(bytes_.end(), options.begin(), options.end());
        return *this;
    }

    PacketBuilder& ipv6(const Ipv6Addr& src, const Ipv6Addr& dst, std::uint8_t next_header) {
        ipv6_at_ = static_cast<long>(bytes_.size());
        put32(0x60000000);  // version 6, class 0, flow label 0
        put16(0);           // payload length: build()
        bytes_.push_back(next_header);
        bytes_.push_back(64);  // hop limit
        bytes_.insert(bytes_.end(), src.begin(), src.end());
        bytes_.insert(bytes_.end(), dst.begin(), dst.end());
        return *this;
    }

    // Hop-by-Hop, Routing or Destination Options: total_len is a multiple of 8 (>= 8),
    // the rest is PadN-style filler.
    PacketBuilder& ipv6_ext(std::uint8_t next_header, std::size_t total_len) {
        if (total_len < 8 || total_len % 8 != 0) throw std::invalid_argument("ipv6 ext length");
        bytes_.push_back(next_header);
        bytes_.push_back(static_cast<std::uint8_t>(total_len / 8 - 1));
        bytes_.push_back(1);  // PadN option covering the rest
        bytes_.push_back(static_cast<std::uint8_t>(total_len - 4));
        bytes_.insert(bytes_.end(), total_len - 4, 0);
        return *this;
    }

    // Authentication Header: its length counts 4-byte words minus 2 (RFC 4302).
    PacketBuilder& ipv6_auth(std::uint8_t next_header, std::size_t total_len) {
        if (total_len < 12 || total_len % 4 != 0) throw std::invalid_argument("ah length");
        bytes_.push_back(next_header);
        bytes_.push_back(static_cast<std::uint8_t>(total_len / 4 - 2));
        bytes_.insert(bytes_.end(), total_len - 2, 0);
        return *this;
    }

    // offset in 8-byte units.
    PacketBuilder& ipv6_fragment(std::uint8_t next_header, std::uint16_t offset, bool more) {
        bytes_.push_back(next_header);
        bytes_.push_back(0);
        put16(static_cast<std::uint16_t>((offset << 3) | (more ? 1 : 0)));
        put32(0xcafe);  // identification
        return *this;
    }

    // options must be a multiple of 4 bytes.
    PacketBuilder& tcp(std::uint16_t sport, std::uint16_t dport, std::uint8_t flags,
                       const std::vector<std::uint8_t>& options = {}) {
        if (options.size() % 4 != 0 || options.size() > 40) throw std::invalid_argument("tcp options");
        put16(sport);
        put16(dport);
        put32(1000);  // sequence
        put32(flags & kTcpAck ? 2000 : 0);
        bytes_.push_back(static_cast<std::uint8_t>((5 + options.size() / 4) << 4));
        bytes_.push_back(flags);
        put16(65535);  // window
        put16(0);      // checksum
        put16(0);      // urgent pointer
        bytes_.insert(bytes_.end(), options.begin(), options.end());
        return *this;
    }

    PacketBuilder& udp(std::uint16_t sport, std::uint16_t dport) {
        udp_at_ = static_cast<long>(bytes_.size());
        put16(sport);
        put16(dport);
        put16(0);  // length: build()
        put16(0);  // checksum: none
        return *this;
    }

    // ICMP and ICMPv6 share the layout of echo messages: type, code, checksum, id, sequence.
    PacketBuilder& icmp(std::uint8_t type, std::uint8_t code, std::uint16_t id, std::uint16_t seq) {
        bytes_.push_back(type);
        bytes_.push_back(code);
        put16(0);
        put16(id);
        put16(seq);
        return *this;
    }

    PacketBuilder& payload(std::size_t len, std::uint8_t fill = 0xab) {
        bytes_.insert(bytes_.end(), len, fill);
        return *this;
    }

    std::vector<std::uint8_t> build() const {
        std::vector<std::uint8_t> out = bytes_;
        if (ipv4_at_ >= 0) {
            const std::size_t at = static_cast<std::size_t>(ipv4_at_);
            const std::size_t ihl = (out[at] & 0x0F) * 4u;
            set16(out, at + 2, static_cast<std::uint16_t>(out.size() - at));
            std::uint32_t sum = 0;
            for (std::size_t i = 0; i < ihl; i += 2) sum += (out[at + i] << 8) | out[at + i + 1];
            while (sum >> 16) sum = (sum & 0xFFFF) + (sum >> 16);
            set16(out, at + 10, static_cast<std::uint16_t>(~sum));
        }
        if (ipv6_at_ >= 0) {
            const std::size_t at = static_cast<std::size_t>(ipv6_at_);
            set16(out, at + 4, static_cast<std::uint16_t>(out.size() - at - 40));
        }
        if (udp_at_ >= 0) {
            const std::size_t at = static_cast<std::size_t>(udp_at_);
            set16(out, at + 4, static_cast<std::uint16_t>(out.size() - at));
        }
        return out;
    }

private:
    void put16(std::uint16_t v) {
        bytes_.push_back(static_cast<std::uint8_t>(v >> 8));
        bytes_.push_back(static_cast<std::uint8_t>(v));
    }
    void put32(std::uint32_t v) {
        put16(static_cast<std::uint16_t>(v >> 16));
        put16(static_cast<std::uint16_t>(v));
    }
    static void set16(std::vector<std::uint8_t>& out, std::size_t at, std::uint16_t v) {
        out[at] = static_cast<std::uint8_t>(v >> 8);
        out[at + 1] = static_cast<std::uint8_t>(v);
    }

    std::vector<std::uint8_t> bytes_;
    long ipv4_at_ = -1;
    long ipv6_at_ = -1;
    long udp_at_ = -1;
};

}  // namespace fa::test
