#include <gtest/gtest.h>

#include "common/sha256.h"

namespace {

TEST(Sha256, KnownVectors) {
    EXPECT_EQ(flowattr::sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    EXPECT_EQ(flowattr::sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    EXPECT_EQ(flowattr::sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
              "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

TEST(Sha256, IncrementalEqualsOneShot) {
    std::string data(100000, 'x');
    for (std::size_t i = 0; i < data.size(); i++) data[i] = char(i * 7);
    flowattr::Sha256 h;
    for (std::size_t off = 0; off < data.size(); off += 997) h.update(data.data() + off, std::min<std::size_t>(997, data.size() - off));
    EXPECT_EQ(h.hex_digest(), flowattr::sha256_hex(data));
}

}  // namespace
