#include "common/crypto.hpp"

#include <array>
#include <cstdlib>
#include <memory>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

namespace hub2kusto::crypto {

namespace {

[[noreturn]] void unusable() {
  // Only allocation failure or a libcrypto without HMAC-SHA256 get here; neither is recoverable.
  std::abort();
}

// An HMAC-SHA256 context for this thread, its digest set once. OpenSSL 3 looks the digest up
// in its provider store on every HMAC() call; a Shared Key signature per storage request made
// that lookup a measurable part of a checkpoint write (bench/REPORT.md, partitions sweep).
EVP_MAC_CTX* thread_context() {
  struct Free {
    void operator()(EVP_MAC_CTX* ctx) const { EVP_MAC_CTX_free(ctx); }
  };
  thread_local const std::unique_ptr<EVP_MAC_CTX, Free> context = [] {
    EVP_MAC* mac = EVP_MAC_fetch(nullptr, OSSL_MAC_NAME_HMAC, nullptr);
    if (mac == nullptr) {
      unusable();
    }
    std::unique_ptr<EVP_MAC_CTX, Free> ctx(EVP_MAC_CTX_new(mac));
    EVP_MAC_free(mac); // the context holds its own reference
    char digest[] = "SHA256";
    const std::array<OSSL_PARAM, 2> params{
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0), OSSL_PARAM_END};
    if (!ctx || EVP_MAC_CTX_set_params(ctx.get(), params.data()) != 1) {
      unusable();
    }
    return ctx;
  }();
  return context.get();
}

} // namespace

std::string hmac_sha256(std::string_view key, std::string_view message) {
  EVP_MAC_CTX* ctx = thread_context();
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  std::size_t length = 0;
  // An empty key is a valid HMAC key, but EVP_MAC_init reads a null pointer as "keep the last".
  static const unsigned char no_key = 0;
  const auto* key_bytes =
      key.empty() ? &no_key : reinterpret_cast<const unsigned char*>(key.data());
  if (EVP_MAC_init(ctx, key_bytes, key.size(), nullptr) != 1 ||
      EVP_MAC_update(ctx, reinterpret_cast<const unsigned char*>(message.data()), message.size()) !=
          1 ||
      EVP_MAC_final(ctx, digest.data(), &length, digest.size()) != 1) {
    unusable();
  }
  return std::string(reinterpret_cast<const char*>(digest.data()), length);
}

} // namespace hub2kusto::crypto
