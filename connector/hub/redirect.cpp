#include "hub/redirect.hpp"

#include <fmt/format.h>

#include "common/endpoint.hpp"

namespace hub2kusto::hub {

Result<RedirectTarget> resolve_redirect(const RedirectInfo& info) {
  if (info.address.empty()) {
    return failure("the IoT Hub redirect carries no 'address' naming the Event Hub-compatible "
                   "endpoint");
  }
  auto endpoint = parse_endpoint_uri(info.address, "the redirect 'address'");
  if (!endpoint) {
    return failure(endpoint.error().message);
  }
  RedirectTarget target;
  if (endpoint->scheme == "amqps") {
    target.tls = true;
  } else if (endpoint->scheme == "amqp") {
    target.tls = false;
  } else {
    return failure(fmt::format("the IoT Hub redirect address has scheme '{}'; expected amqps",
                               endpoint->scheme));
  }
  const auto slash = endpoint->path.find('/');
  target.event_hub = endpoint->path.substr(0, slash);
  if (target.event_hub.empty() || target.event_hub.front() == '$') {
    return failure(
        fmt::format("the IoT Hub redirect address '{}' names no Event Hub", info.address));
  }
  target.hostname = info.hostname.empty() ? endpoint->host : info.hostname;
  target.network_host = info.network_host.empty() ? target.hostname : info.network_host;
  std::int64_t port = info.port.value_or(endpoint->port.value_or(target.tls ? 5671 : 5672));
  if (port <= 0 || port > 65535) {
    return failure(
        fmt::format("the IoT Hub redirect names port {}, which is not a TCP port", port));
  }
  target.port = static_cast<std::uint16_t>(port);
  return target;
}

} // namespace hub2kusto::hub
