#include "common/crypto.hpp"

#include <array>
#include <cstdlib>

#include <openssl/evp.h>
#include <openssl/hmac.h>

namespace hub2kusto::crypto {

std::string hmac_sha256(std::string_view key, std::string_view message) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int length = 0;
  // HMAC() only fails on allocation failure or an unusable digest; neither is recoverable.
  if (HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
           reinterpret_cast<const unsigned char*>(message.data()), message.size(), digest.data(),
           &length) == nullptr) {
    std::abort();
  }
  return std::string(reinterpret_cast<const char*>(digest.data()), length);
}

} // namespace hub2kusto::crypto
