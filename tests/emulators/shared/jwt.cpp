#include "shared/jwt.hpp"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "common/encoding.hpp"

namespace hub2kusto::emulator {
namespace {

const unsigned char* bytes(const std::string& s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

} // namespace

std::optional<JwtKey> JwtKey::load(const std::string& pem_file, std::string& why) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_file(pem_file.c_str(), "r"), BIO_free);
  if (!bio) {
    why = "cannot read " + pem_file;
    return std::nullopt;
  }
  JwtKey out;
  if (EVP_PKEY* key = PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr)) {
    out.key_ = std::shared_ptr<EVP_PKEY>(key, EVP_PKEY_free);
    out.can_sign_ = true;
    return out;
  }
  BIO_reset(bio.get());
  if (EVP_PKEY* key = PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr)) {
    out.key_ = std::shared_ptr<EVP_PKEY>(key, EVP_PKEY_free);
    return out;
  }
  why = pem_file + " holds no PEM private or public key";
  return std::nullopt;
}

nlohmann::json JwtKey::jwk() const {
  const auto component = [&](const char* name) {
    BIGNUM* bn = nullptr;
    if (EVP_PKEY_get_bn_param(key_.get(), name, &bn) != 1) {
      return std::string();
    }
    std::string out(static_cast<std::size_t>(BN_num_bytes(bn)), '\0');
    BN_bn2bin(bn, reinterpret_cast<unsigned char*>(out.data()));
    BN_free(bn);
    return encoding::base64url_encode(out);
  };
  return {{"kty", "RSA"},
          {"use", "sig"},
          {"alg", "RS256"},
          {"kid", "emulator-key"},
          {"n", component(OSSL_PKEY_PARAM_RSA_N)},
          {"e", component(OSSL_PKEY_PARAM_RSA_E)}};
}

std::string JwtKey::sign(const nlohmann::json& claims) const {
  if (!can_sign_) {
    return {};
  }
  const std::string input =
      encoding::base64url_encode(
          nlohmann::json{{"alg", "RS256"}, {"typ", "JWT"}, {"kid", "emulator-key"}}.dump()) +
      "." + encoding::base64url_encode(claims.dump());
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  std::size_t size = 0;
  if (EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key_.get()) != 1 ||
      EVP_DigestSign(ctx.get(), nullptr, &size, bytes(input), input.size()) != 1) {
    return {};
  }
  std::string signature(size, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(signature.data()), &size,
                     bytes(input), input.size()) != 1) {
    return {};
  }
  signature.resize(size);
  return input + "." + encoding::base64url_encode(signature);
}

std::optional<nlohmann::json> JwtKey::verify(const std::string& token, std::string& why) const {
  why = "InvalidSignature: The token has an invalid signature.";
  const auto dot1 = token.find('.');
  const auto dot2 = token.rfind('.');
  if (dot1 == std::string::npos || dot1 == dot2) {
    return std::nullopt;
  }
  const auto header = encoding::base64url_decode(token.substr(0, dot1));
  const auto claims = encoding::base64url_decode(token.substr(dot1 + 1, dot2 - dot1 - 1));
  const auto signature = encoding::base64url_decode(token.substr(dot2 + 1));
  if (!header || !claims || !signature) {
    return std::nullopt;
  }
  const auto h = nlohmann::json::parse(*header, nullptr, false);
  if (!h.is_object() || h.value("alg", "") != "RS256") {
    return std::nullopt;
  }
  const std::string input = token.substr(0, dot2);
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  if (EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key_.get()) != 1 ||
      EVP_DigestVerify(ctx.get(), bytes(*signature), signature->size(), bytes(input),
                       input.size()) != 1) {
    return std::nullopt;
  }
  auto c = nlohmann::json::parse(*claims, nullptr, false);
  if (!c.is_object()) {
    return std::nullopt;
  }
  why.clear();
  return c;
}

bool looks_like_jwt(const std::string& token) {
  const auto dot1 = token.find('.');
  return dot1 != std::string::npos && dot1 != token.rfind('.') &&
         token.find(' ') == std::string::npos;
}

} // namespace hub2kusto::emulator
