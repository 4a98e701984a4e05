#include "common/sas_token.hpp"

#include <charconv>

#include <fmt/format.h>

#include "common/crypto.hpp"
#include "common/encoding.hpp"

namespace hub2kusto {
namespace {

std::string signature_of(std::string_view signing_key, std::string_view encoded_resource,
                         std::string_view expiry) {
  std::string to_sign;
  to_sign.reserve(encoded_resource.size() + 1 + expiry.size());
  to_sign.append(encoded_resource).append("\n").append(expiry);
  return encoding::base64_encode(crypto::hmac_sha256(signing_key, to_sign));
}

} // namespace

SasToken make_event_hubs_sas_token(std::string_view resource, std::string_view key_name,
                                   const Secret& key, std::chrono::sys_seconds expires_at) {
  const std::string sr = encoding::uri_component_encode(resource);
  const std::string se = std::to_string(expires_at.time_since_epoch().count());
  const std::string sig = encoding::uri_component_encode(signature_of(key.reveal(), sr, se));
  return SasToken{Secret(fmt::format("SharedAccessSignature sr={}&sig={}&se={}&skn={}", sr, sig, se,
                                     encoding::uri_component_encode(key_name))),
                  expires_at};
}

Result<SasToken> make_iot_hub_sas_token(std::string_view resource, std::string_view key_name,
                                        const Secret& key, std::chrono::sys_seconds expires_at) {
  const auto decoded = encoding::base64_decode(key.reveal());
  if (!decoded) {
    return failure("the IoT Hub shared access key is not valid base64");
  }
  const std::string sr = encoding::uri_component_encode_strict(resource);
  const std::string se = std::to_string(expires_at.time_since_epoch().count());
  const std::string sig = encoding::uri_component_encode_strict(signature_of(*decoded, sr, se));
  std::string token = fmt::format("SharedAccessSignature sr={}&sig={}", sr, sig);
  if (!key_name.empty()) {
    token += fmt::format("&skn={}", encoding::uri_component_encode_strict(key_name));
  }
  token += fmt::format("&se={}", se);
  return SasToken{Secret(std::move(token)), expires_at};
}

Result<ParsedSasToken> parse_sas_token(std::string_view token) {
  constexpr std::string_view prefix = "SharedAccessSignature ";
  if (token.substr(0, prefix.size()) != prefix) {
    return failure("a shared access signature must start with 'SharedAccessSignature '");
  }
  token.remove_prefix(prefix.size());
  ParsedSasToken parsed;
  bool have_sr = false;
  bool have_sig = false;
  bool have_se = false;
  while (!token.empty()) {
    const std::size_t amp = token.find('&');
    const std::string_view field = token.substr(0, amp);
    token = amp == std::string_view::npos ? std::string_view{} : token.substr(amp + 1);
    const std::size_t eq = field.find('=');
    if (eq == std::string_view::npos) {
      return failure("a shared access signature field has no '='");
    }
    const std::string_view name = field.substr(0, eq);
    const std::string_view value = field.substr(eq + 1);
    const auto decoded = encoding::percent_decode(value);
    if (!decoded) {
      return failure(fmt::format("the shared access signature field '{}' has a bad "
                                 "percent-escape",
                                 name == "sig" ? "sig" : std::string(name)));
    }
    if (name == "sr") {
      parsed.encoded_resource = std::string(value);
      parsed.resource = *decoded;
      have_sr = true;
    } else if (name == "sig") {
      parsed.signature = Secret(*decoded);
      have_sig = true;
    } else if (name == "skn") {
      parsed.key_name = *decoded;
    } else if (name == "se") {
      std::int64_t seconds = 0;
      const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), seconds);
      if (ec != std::errc() || end != value.data() + value.size() || seconds <= 0) {
        return failure("the shared access signature expiry 'se' is not a positive number of "
                       "seconds");
      }
      parsed.expiry_text = std::string(value);
      parsed.expires_at = std::chrono::sys_seconds(std::chrono::seconds(seconds));
      have_se = true;
    }
  }
  if (!have_sr) {
    return failure("the shared access signature has no 'sr' (resource) field");
  }
  if (!have_sig) {
    return failure("the shared access signature has no 'sig' (signature) field");
  }
  if (!have_se) {
    return failure("the shared access signature has no 'se' (expiry) field");
  }
  return parsed;
}

std::chrono::sys_seconds sas_renewal_time(std::chrono::sys_seconds issued_at,
                                          std::chrono::sys_seconds expires_at) {
  return issued_at + (expires_at - issued_at) * 3 / 4;
}

} // namespace hub2kusto
