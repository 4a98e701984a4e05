#pragma once
// Byte encodings used by the protocols: base64 (SAS signatures, IoT Hub keys) and the two
// URL-encodings the official Node SDKs use for SAS tokens (see sas_token.hpp for which one
// applies where).

#include <optional>
#include <string>
#include <string_view>

namespace hub2kusto::encoding {

// RFC 4648 base64 with padding.
std::string base64_encode(std::string_view bytes);

// Strict RFC 4648 decoding: the standard alphabet, padding required to a multiple of four,
// no whitespace. Returns nullopt on any malformed input.
std::optional<std::string> base64_decode(std::string_view text);

// ECMAScript encodeURIComponent: leaves A-Z a-z 0-9 - _ . ! ~ * ' ( ) and percent-encodes
// every other byte with upper-case hex.
std::string uri_component_encode(std::string_view text);

// The "strict" variant of azure-iot-common (encodeUriComponentStrict): encodeURIComponent, then
// ! ' ( ) * become %21 %27 %28 %29 %2a -- lower-case hex for those five, exactly as that SDK
// writes them ('%' + charCode.toString(16)).
std::string uri_component_encode_strict(std::string_view text);

// RFC 4648 base64url without padding (JSON Web Tokens).
std::string base64url_encode(std::string_view bytes);
// Its reverse; padding optional. Returns nullopt on any other character.
std::optional<std::string> base64url_decode(std::string_view text);

// Percent-decoding ('+' stays '+'). Returns nullopt on a truncated or non-hex escape.
std::optional<std::string> percent_decode(std::string_view text);

} // namespace hub2kusto::encoding
