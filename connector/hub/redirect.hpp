#pragma once
// IoT Hub's link redirect (docs/protocols.md, "IoT Hub"): the front end answers a receiver attach
// with a detach `amqp:link:redirect` whose info names the Event Hub-compatible endpoint. This turns
// that info into where to connect; the Event Hub name is read from `address` (never from the
// IoT Hub's name, which differs on some hubs, docs/protocols.md, "IoT Hub").
#include <cstdint>
#include <optional>
#include <string>

#include "base/result.hpp"

namespace hub2kusto::hub {

struct RedirectInfo {
  std::string hostname;     // info `hostname`: the AMQP open hostname and the SAS resource host
  std::string network_host; // info `network-host`: where to connect (hostname when absent)
  std::optional<std::int64_t> port;
  std::string address; // amqps://<host>:<port>/<event hub>/<suffix>
};

struct RedirectTarget {
  std::string hostname;
  std::string network_host;
  std::uint16_t port = 5671;
  bool tls = true; // from the address scheme: amqps (the service) or amqp (an emulator)
  std::string event_hub;
};

Result<RedirectTarget> resolve_redirect(const RedirectInfo& info);

} // namespace hub2kusto::hub
