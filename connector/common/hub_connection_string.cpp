#include "common/hub_connection_string.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "base/text.hpp"
#include "common/encoding.hpp"
#include "common/endpoint.hpp"
#include "common/key_value_list.hpp"
#include "common/sas_token.hpp"

namespace hub2kusto {
namespace {

constexpr std::uint16_t kAmqpsPort = 5671;
constexpr std::uint16_t kAmqpPort = 5672;

// The pairs of one connection string by canonical key, with duplicate and empty-value checks.
class Fields {
public:
  static Result<Fields> parse(std::string_view text, std::string_view kind,
                              std::initializer_list<std::string_view> known) {
    auto pairs = parse_key_value_list(text, KeyValueSyntax::hub);
    if (!pairs) {
      return failure(fmt::format("{} connection string: {}", kind, pairs.error().message));
    }
    Fields fields;
    fields.kind_ = kind;
    for (auto& kv : *pairs) {
      std::string_view canonical;
      for (const auto k : known) {
        if (text::iequals(k, kv.key)) {
          canonical = k;
        }
      }
      if (canonical.empty()) {
        // Every real key is a plain word; anything else may be a pasted secret, so it is
        // reported without its text.
        const bool plain_word =
            kv.key.size() <= 40 && std::all_of(kv.key.begin(), kv.key.end(), [](char c) {
              return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
            });
        fields.ignored_.push_back(plain_word ? kv.key : "<a key that is not a plain word>");
        continue;
      }
      if (kv.value.empty()) {
        return failure(
            fmt::format("{} connection string: '{}' has an empty value", kind, canonical));
      }
      for (const auto& [k, v] : fields.values_) {
        if (k == canonical) {
          return failure(
              fmt::format("{} connection string: '{}' appears more than once", kind, canonical));
        }
      }
      fields.values_.emplace_back(std::string(canonical), std::move(kv.value));
    }
    return fields;
  }

  const std::string* find(std::string_view key) const {
    for (const auto& [k, v] : values_) {
      if (k == key) {
        return &v;
      }
    }
    return nullptr;
  }

  Failure<Error> error(std::string_view message) const {
    return failure(fmt::format("{} connection string: {}", kind_, message));
  }

  std::vector<std::string>& ignored() { return ignored_; }

private:
  std::string_view kind_;
  std::vector<std::pair<std::string, std::string>> values_;
  std::vector<std::string> ignored_;
};

Result<bool> parse_bool(const Fields& f, std::string_view key) {
  const std::string* v = f.find(key);
  if (v == nullptr) {
    return false;
  }
  if (text::iequals(*v, "true")) {
    return true;
  }
  if (text::iequals(*v, "false")) {
    return false;
  }
  return f.error(fmt::format("'{}' must be true or false", key));
}

Result<std::optional<HubTransport>> parse_transport(const Fields& f) {
  const std::string* v = f.find("TransportType");
  if (v == nullptr) {
    return std::optional<HubTransport>();
  }
  if (text::iequals(*v, "Amqp")) {
    return std::optional(HubTransport::amqp);
  }
  if (text::iequals(*v, "AmqpWebSockets")) {
    return std::optional(HubTransport::websockets);
  }
  return f.error("'TransportType' must be Amqp or AmqpWebSockets");
}

} // namespace

std::uint16_t EventHubsConnectionString::amqp_port() const {
  return port.value_or(use_development_emulator ? kAmqpPort : kAmqpsPort);
}

std::string EventHubsConnectionString::resource_uri(std::string_view hub) const {
  return fmt::format("sb://{}/{}", host, hub);
}

std::uint16_t IotHubConnectionString::amqp_port() const {
  return port.value_or(use_development_emulator ? kAmqpPort : kAmqpsPort);
}

Result<EventHubsConnectionString> parse_event_hubs_connection_string(std::string_view text) {
  auto parsed =
      Fields::parse(text, "Event Hubs",
                    {"Endpoint", "SharedAccessKeyName", "SharedAccessKey", "SharedAccessSignature",
                     "EntityPath", "UseDevelopmentEmulator", "TransportType"});
  if (!parsed) {
    return failure(std::move(parsed).error());
  }
  Fields& f = *parsed;
  EventHubsConnectionString cs;

  const std::string* endpoint = f.find("Endpoint");
  if (endpoint == nullptr) {
    return f.error("'Endpoint' is missing (expected Endpoint=sb://<namespace>.servicebus."
                   "windows.net/)");
  }
  auto ep = parse_endpoint_uri(*endpoint, "'Endpoint'");
  if (!ep) {
    return f.error(ep.error().message);
  }
  cs.host = ep->host;
  cs.port = ep->port;

  auto emulator = parse_bool(f, "UseDevelopmentEmulator");
  if (!emulator) {
    return failure(std::move(emulator).error());
  }
  cs.use_development_emulator = *emulator;
  auto transport = parse_transport(f);
  if (!transport) {
    return failure(std::move(transport).error());
  }
  cs.transport = *transport;
  if (cs.use_development_emulator && cs.port == kAmqpsPort) {
    // Azure SDK for C++ rejects this too: the emulator speaks plain AMQP only.
    return f.error("'Endpoint' names port 5671 (AMQPS), but the development emulator uses "
                   "plain AMQP");
  }

  if (const std::string* entity = f.find("EntityPath")) {
    cs.entity_path = *entity;
  }

  const std::string* key_name = f.find("SharedAccessKeyName");
  const std::string* key = f.find("SharedAccessKey");
  const std::string* signature = f.find("SharedAccessSignature");
  if (signature != nullptr && (key_name != nullptr || key != nullptr)) {
    return f.error("give either 'SharedAccessSignature' or 'SharedAccessKeyName' with "
                   "'SharedAccessKey', not both");
  }
  if (signature != nullptr) {
    auto token = parse_sas_token(*signature);
    if (!token) {
      return f.error(
          fmt::format("'SharedAccessSignature' is malformed: {}", token.error().message));
    }
    cs.shared_access_signature = Secret(*signature);
    cs.signature_expiry = token->expires_at;
    cs.key_name = token->key_name;
  } else if (key_name != nullptr && key == nullptr) {
    return f.error("'SharedAccessKey' is missing ('SharedAccessKeyName' is set)");
  } else if (key_name == nullptr && key != nullptr) {
    return f.error("'SharedAccessKeyName' is missing ('SharedAccessKey' is set)");
  } else if (key_name != nullptr) {
    cs.key_name = *key_name;
    cs.key = Secret(*key);
  }
  cs.ignored_keys = std::move(f.ignored());
  return cs;
}

Result<IotHubConnectionString> parse_iot_hub_connection_string(std::string_view text) {
  auto parsed =
      Fields::parse(text, "IoT Hub",
                    {"HostName", "SharedAccessKeyName", "SharedAccessKey", "DeviceId", "ModuleId",
                     "SharedAccessSignature", "UseDevelopmentEmulator", "TransportType"});
  if (!parsed) {
    return failure(std::move(parsed).error());
  }
  Fields& f = *parsed;
  if (f.find("DeviceId") != nullptr || f.find("ModuleId") != nullptr) {
    return f.error("this is a device connection string ('DeviceId' is set); reading events "
                   "needs a service connection string with a policy that has ServiceConnect, "
                   "such as 'service' or 'iothubowner'");
  }
  if (f.find("SharedAccessSignature") != nullptr) {
    return f.error("'SharedAccessSignature' is not supported for IoT Hub (the token could not "
                   "be renewed); use 'SharedAccessKeyName' and 'SharedAccessKey'");
  }
  IotHubConnectionString cs;
  const std::string* host = f.find("HostName");
  if (host == nullptr) {
    return f.error("'HostName' is missing (expected HostName=<hub>.azure-devices.net)");
  }
  auto ep = parse_host_port(*host, "'HostName'");
  if (!ep) {
    return f.error(ep.error().message);
  }
  cs.host = ep->host;
  cs.port = ep->port;
  cs.hub_name = cs.host.substr(0, cs.host.find('.'));

  auto emulator = parse_bool(f, "UseDevelopmentEmulator");
  if (!emulator) {
    return failure(std::move(emulator).error());
  }
  cs.use_development_emulator = *emulator;
  auto transport = parse_transport(f);
  if (!transport) {
    return failure(std::move(transport).error());
  }
  cs.transport = *transport;

  const std::string* key_name = f.find("SharedAccessKeyName");
  const std::string* key = f.find("SharedAccessKey");
  if (key_name == nullptr) {
    return f.error("'SharedAccessKeyName' is missing (a service policy such as 'service' or "
                   "'iothubowner')");
  }
  if (key == nullptr) {
    return f.error("'SharedAccessKey' is missing");
  }
  if (!encoding::base64_decode(*key)) {
    return f.error("'SharedAccessKey' is not valid base64 (IoT Hub keys are base64)");
  }
  cs.key_name = *key_name;
  cs.key = Secret(*key);
  cs.ignored_keys = std::move(f.ignored());
  return cs;
}

Result<HubConnectionString> parse_hub_connection_string(std::string_view text) {
  auto pairs = parse_key_value_list(text, KeyValueSyntax::hub);
  if (!pairs) {
    return failure(fmt::format("hub connection string: {}", pairs.error().message));
  }
  bool has_endpoint = false;
  bool has_host_name = false;
  for (const auto& kv : *pairs) {
    has_endpoint = has_endpoint || text::iequals(kv.key, "Endpoint");
    has_host_name = has_host_name || text::iequals(kv.key, "HostName");
  }
  if (has_host_name && !has_endpoint) {
    auto iot = parse_iot_hub_connection_string(text);
    if (!iot) {
      return failure(std::move(iot).error());
    }
    return HubConnectionString(std::move(iot).value());
  }
  if (!has_endpoint) {
    return failure("hub connection string: neither 'Endpoint' (Event Hubs) nor 'HostName' "
                   "(IoT Hub) is present");
  }
  auto eh = parse_event_hubs_connection_string(text);
  if (!eh) {
    return failure(std::move(eh).error());
  }
  return HubConnectionString(std::move(eh).value());
}

} // namespace hub2kusto
