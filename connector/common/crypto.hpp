#pragma once
// Keyed hashing for SAS tokens, on OpenSSL's libcrypto (already required by cpprestsdk and
// Proton's TLS).

#include <string>
#include <string_view>

namespace hub2kusto::crypto {

// Raw 32-byte HMAC-SHA256 of `message` under `key` (both taken as bytes).
std::string hmac_sha256(std::string_view key, std::string_view message);

} // namespace hub2kusto::crypto
