#pragma once
// Event Hubs and IoT Hub connection strings (docs/protocols.md, "Connection strings").
//
//   Endpoint=sb://<ns>.servicebus.windows.net/;SharedAccessKeyName=<rule>;SharedAccessKey=<key>
//     [;EntityPath=<hub>][;UseDevelopmentEmulator=true][;TransportType=Amqp|AmqpWebSockets]
//   Endpoint=sb://<ns>.servicebus.windows.net/;SharedAccessSignature=SharedAccessSignature sr=...
//   Endpoint=sb://<ns>.servicebus.windows.net/;EntityPath=<hub>   (no key: Entra ID)
//   HostName=<hub>.azure-devices.net;SharedAccessKeyName=<policy>;SharedAccessKey=<base64 key>
//
// Keys are case-insensitive and values may contain '='. Unknown keys are ignored, as every
// SDK does, and reported in `ignored_keys` so the caller can warn about a likely typo.
// Error messages name the key and never contain a key, signature or token.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "base/result.hpp"
#include "common/secret.hpp"

namespace hub2kusto {

// How AMQP reaches the hub: TCP (5671 with TLS) or WebSockets (443 with TLS; docs/protocols.md,
// "AMQP over WebSockets"). The .NET and Service Bus tooling write it in connection strings as
// TransportType=Amqp or TransportType=AmqpWebSockets.
enum class HubTransport { amqp, websockets };

struct EventHubsConnectionString {
  std::string host;                  // namespace FQDN (or emulator host)
  std::optional<std::uint16_t> port; // explicit port from Endpoint, if any
  std::string entity_path;           // the Event Hub name; empty when not given
  std::string key_name;              // SharedAccessKeyName; empty with a prebuilt signature
  Secret key;                        // SharedAccessKey: used as UTF-8 bytes, never decoded
  Secret shared_access_signature;    // prebuilt token; cannot be renewed
  std::chrono::sys_seconds signature_expiry{}; // `se` of the prebuilt token
  bool use_development_emulator = false;
  std::optional<HubTransport> transport; // TransportType, when given
  std::vector<std::string> ignored_keys;

  bool uses_tls() const { return !use_development_emulator; }
  // Neither a key nor a signature: the hub is reached with a Microsoft Entra ID credential.
  bool has_key() const { return !key.empty() || !shared_access_signature.empty(); }
  // 5671 (AMQPS) or, for the emulator, 5672 (plain AMQP), unless Endpoint names a port.
  std::uint16_t amqp_port() const;
  // The SAS resource for a hub on this namespace: sb://<host>/<hub> (docs/protocols.md, "SAS
  // tokens").
  std::string resource_uri(std::string_view hub) const;
};

struct IotHubConnectionString {
  std::string host;                  // <hub>.azure-devices.net
  std::optional<std::uint16_t> port; // hub2kusto extension: HostName=<host>:<port> (emulator)
  std::string hub_name;              // first DNS label of host: used in SASL PLAIN user names
  std::string key_name;              // service policy, e.g. iothubowner or service
  Secret key; // base64; decoded before signing (docs/protocols.md, "SAS tokens")
  bool use_development_emulator = false; // hub2kusto extension: plain AMQP for the emulator
  std::optional<HubTransport> transport; // TransportType, when given
  std::vector<std::string> ignored_keys;

  bool uses_tls() const { return !use_development_emulator; }
  std::uint16_t amqp_port() const;
};

using HubConnectionString = std::variant<EventHubsConnectionString, IotHubConnectionString>;

Result<EventHubsConnectionString> parse_event_hubs_connection_string(std::string_view text);
Result<IotHubConnectionString> parse_iot_hub_connection_string(std::string_view text);

// Event Hubs when the string has `Endpoint`, IoT Hub when it has `HostName` and no `Endpoint`.
Result<HubConnectionString> parse_hub_connection_string(std::string_view text);

} // namespace hub2kusto
