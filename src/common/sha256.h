#pragma once
// SHA-256 (FIPS 180-4), small and dependency-free: kernel images, BPF objects and the
// build MANIFEST are all identified by it.
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

namespace flowattr {

class Sha256 {
public:
    Sha256();
    void update(const void* data, std::size_t len);
    std::array<std::uint8_t, 32> digest();
    std::string hex_digest();

private:
    void block(const std::uint8_t* p);
    std::array<std::uint32_t, 8> h_;
    std::array<std::uint8_t, 64> buf_;
    std::size_t buf_len_ = 0;
    std::uint64_t total_ = 0;
};

std::string sha256_hex(const void* data, std::size_t len);
std::string sha256_hex(const std::string& data);
// Throws flowattr::Error naming the file when it cannot be read.
std::string sha256_file(const std::string& path);

}  // namespace flowattr
