#pragma once
// Little-endian loads from a byte buffer whose bounds the caller has already checked.
// Assembled byte by byte so the result does not depend on host endianness or alignment.
#include <cstdint>
#include <string_view>

namespace flowattr::verify {

inline std::uint16_t load_le16(std::string_view b, std::uint64_t off) {
    return std::uint16_t(std::uint8_t(b[off]) | std::uint8_t(b[off + 1]) << 8);
}

inline std::uint32_t load_le32(std::string_view b, std::uint64_t off) {
    return std::uint32_t(std::uint8_t(b[off])) | std::uint32_t(std::uint8_t(b[off + 1])) << 8 |
           std::uint32_t(std::uint8_t(b[off + 2])) << 16 | std::uint32_t(std::uint8_t(b[off + 3])) << 24;
}

inline std::uint64_t load_le64(std::string_view b, std::uint64_t off) {
    return std::uint64_t(load_le32(b, off)) | std::uint64_t(load_le32(b, off + 4)) << 32;
}

// True when [off, off+len) lies inside a buffer of SIZE bytes, without overflow.
inline bool range_ok(std::uint64_t size, std::uint64_t off, std::uint64_t len) {
    return off <= size && len <= size - off;
}

}  // namespace flowattr::verify
