#include "common/sha256.h"

#include <cerrno>
#include <fstream>
#include <vector>

#include "common/error.h"

namespace flowattr {

Sha256::Sha256() { sha256_init(&ctx_); }

void Sha256::update(const void* data, std::size_t len) { sha256_update(&ctx_, len, static_cast<const std::uint8_t*>(data)); }

std::array<std::uint8_t, 32> Sha256::digest() {
    std::array<std::uint8_t, 32> out;
    sha256_digest(&ctx_, out.size(), out.data());
    return out;
}

std::string Sha256::hex_digest() {
    static const char* digits = "0123456789abcdef";
    std::string s;
    for (auto b : digest()) {
        s += digits[b >> 4];
        s += digits[b & 15];
    }
    return s;
}

std::string sha256_hex(const void* data, std::size_t len) {
    Sha256 h;
    h.update(data, len);
    return h.hex_digest();
}

std::string sha256_hex(const std::string& data) { return sha256_hex(data.data(), data.size()); }

std::string sha256_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw Error("cannot open " + path, errno);
    Sha256 h;
    std::vector<char> buf(1 << 16);
    while (in) {
        in.read(buf.data(), std::streamsize(buf.size()));
        h.update(buf.data(), std::size_t(in.gcount()));
    }
    if (in.bad()) throw Error("cannot read " + path, errno);
    return h.hex_digest();
}

}  // namespace flowattr
