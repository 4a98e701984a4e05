#pragma once
// Shared access signature tokens (docs/protocols.md, "SAS tokens").
//
//   SharedAccessSignature sr=<ENC(resource)>&sig=<ENC(base64(HMAC-SHA256(key, ENC(resource)
//     + "\n" + se)))>&se=<expiry>&skn=<rule>
//
// Event Hubs signs with the UTF-8 bytes of the key string; IoT Hub base64-decodes the key.
// The encoders and field order match the official Node SDKs byte for byte, which the committed
// test vectors (tests/conformance/sas) prove:
//   Event Hubs: @azure/core-amqp createToken -- encodeURIComponent, order sr, sig, se, skn;
//   IoT Hub:    azure-iot-common SharedAccessSignature -- encodeUriComponentStrict,
//               order sr, sig, skn, se.

#include <chrono>
#include <string>
#include <string_view>

#include "base/result.hpp"
#include "common/secret.hpp"

namespace hub2kusto {

struct SasToken {
  Secret token;
  std::chrono::sys_seconds expires_at{};
};

// `resource` is given unencoded (for example sb://ns.servicebus.windows.net/hub).
SasToken make_event_hubs_sas_token(std::string_view resource, std::string_view key_name,
                                   const Secret& key, std::chrono::sys_seconds expires_at);

// Fails when the key is not valid base64 (the message does not contain the key).
Result<SasToken> make_iot_hub_sas_token(std::string_view resource, std::string_view key_name,
                                        const Secret& key, std::chrono::sys_seconds expires_at);

// The fields of a prebuilt token, for validating SharedAccessSignature= connection strings and
// for servers that verify tokens (the emulator). `sig` stays secret.
struct ParsedSasToken {
  std::string resource;         // sr, percent-decoded
  std::string encoded_resource; // sr exactly as written: what was signed
  std::string key_name;         // skn, percent-decoded; may be empty
  Secret signature;             // sig, percent-decoded (base64 text)
  std::string expiry_text;      // se exactly as written
  std::chrono::sys_seconds expires_at{};
};
Result<ParsedSasToken> parse_sas_token(std::string_view token);

// When a token should be replaced: three quarters into its lifetime, so a 60-minute token is
// renewed after 45 minutes as @azure/core-amqp does, and a short test token proportionally.
std::chrono::sys_seconds sas_renewal_time(std::chrono::sys_seconds issued_at,
                                          std::chrono::sys_seconds expires_at);

} // namespace hub2kusto
