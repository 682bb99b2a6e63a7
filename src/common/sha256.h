#pragma once
// SHA-256 from nettle (Debian's nettle-dev, linked statically like libbpf so the binaries run
// in the initramfs): kernel images, BPF objects and the build MANIFEST are identified by it.
#include <nettle/sha2.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

namespace flowattr {

class Sha256 {
public:
    Sha256();
    void update(const void* data, std::size_t len);
    // The digest of everything given so far; the object starts over afterwards (nettle's way).
    std::array<std::uint8_t, 32> digest();
    std::string hex_digest();

private:
    sha256_ctx ctx_;
};

std::string sha256_hex(const void* data, std::size_t len);
std::string sha256_hex(const std::string& data);
// Throws flowattr::Error naming the file when it cannot be read.
std::string sha256_file(const std::string& path);

}  // namespace flowattr
