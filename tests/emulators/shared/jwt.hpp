#pragma once
// RS256 JSON Web Tokens for the emulators' stand-in for Microsoft Entra ID: the Kusto
// emulator's token endpoints sign the tokens they issue with a private key, and the Event Hubs
// emulator checks the tokens put on $cbs with the public half of the same key, as the services
// check Entra ID's signature (docs/protocols.md, "Authentication and connection strings").
#include <memory>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

typedef struct evp_pkey_st EVP_PKEY; // NOLINT: OpenSSL's own declaration

namespace hub2kusto::emulator {

class JwtKey {
public:
  // A PEM file with a private key (signs and verifies) or a public key (verifies only).
  static std::optional<JwtKey> load(const std::string& pem_file, std::string& why);

  // header.claims.signature; the header names the key (kid).
  std::string sign(const nlohmann::json& claims) const;
  // The claims of `token` when it is a JWT whose RS256 signature this key verifies; otherwise
  // none, with `why` in the service's words.
  std::optional<nlohmann::json> verify(const std::string& token, std::string& why) const;
  // The public key as a JSON Web Key (RFC 7517), as an identity provider's jwks_uri lists it.
  nlohmann::json jwk() const;

private:
  std::shared_ptr<EVP_PKEY> key_;
  bool can_sign_ = false;
};

// Whether `token` has the shape of a JWT (three base64url parts), as opposed to a SAS token.
bool looks_like_jwt(const std::string& token);

} // namespace hub2kusto::emulator
