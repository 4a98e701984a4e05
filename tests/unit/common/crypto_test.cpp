#include "common/crypto.hpp"

#include <string>
#include <thread>

#include <gtest/gtest.h>

namespace hub2kusto::crypto {
namespace {

std::string hex(const std::string& bytes) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  for (const char ch : bytes) {
    const auto c = static_cast<unsigned char>(ch);
    out.push_back(digits[c >> 4]);
    out.push_back(digits[c & 0xf]);
  }
  return out;
}

// RFC 4231, test cases 1 and 2; the context each thread keeps takes a new key every call.
TEST(Crypto, HmacSha256MatchesTheRfc4231VectorsWhateverKeyCameBefore) {
  const std::string key1(20, '\x0b');
  const std::string case1 = "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7";
  const std::string case2 = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843";
  EXPECT_EQ(hex(hmac_sha256(key1, "Hi There")), case1);
  EXPECT_EQ(hex(hmac_sha256("Jefe", "what do ya want for nothing?")), case2);
  EXPECT_EQ(hex(hmac_sha256(key1, "Hi There")), case1);
  std::string on_another_thread;
  std::thread([&] {
    on_another_thread = hex(hmac_sha256("Jefe", "what do ya want for nothing?"));
  }).join();
  EXPECT_EQ(on_another_thread, case2);
}

// A key longer than SHA-256's block is hashed first (RFC 4231, test case 6).
TEST(Crypto, HmacSha256TakesKeysLongerThanABlock) {
  EXPECT_EQ(hex(hmac_sha256(std::string(131, '\xaa'),
                            "Test Using Larger Than Block-Size Key - Hash Key First")),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
}

} // namespace
} // namespace hub2kusto::crypto
