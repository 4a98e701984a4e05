#pragma once
// tests/emulators/eventhubs as a child process on free ports, with its control API.
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "support/child_process.hpp"

namespace hub2kusto::testing {

class EventHubsEmulator {
public:
  // `args` are extra flags (--hub, --preload, --iothub ...); the port flags are added here.
  explicit EventHubsEmulator(const std::vector<std::string>& args);
  // A failed test shows what the emulator said (a crash, a refusal).
  ~EventHubsEmulator();
  EventHubsEmulator(const EventHubsEmulator&) = delete;
  EventHubsEmulator& operator=(const EventHubsEmulator&) = delete;

  bool running() const { return port_ > 0; }
  int port() const { return port_; }
  int iothub_port() const { return iothub_port_; }
  int tls_port() const { return tls_port_; }
  // With --websocket-port / --websocket-tls-port: AMQP over ws:// and wss://.
  int websocket_port() const { return websocket_port_; }
  int websocket_tls_port() const { return websocket_tls_port_; }
  std::string stderr_text() const { return process_.stderr_text(); }

  std::string connection_string(const std::string& hub = "telemetry",
                                const std::string& key = "SAS_KEY_VALUE") const;

  // POST /faults/...; true when the emulator applied it.
  bool fault(const std::string& path_and_query);
  // POST /consumer-groups: the group exists from now on, as when an operator creates it.
  bool create_consumer_group(const std::string& hub, const std::string& name);
  nlohmann::json status();
  // One partition's entry of GET /status.
  nlohmann::json partition_status(const std::string& hub, const std::string& partition);

  // An IoT Hub failover: the Event Hub-compatible endpoint moves to a new listener; the old
  // one closes. connection_string() names the new one from now on. False when not applied.
  bool iothub_failover();

private:
  std::string control_url() const;

  ChildProcess process_;
  int port_ = 0;
  int iothub_port_ = 0;
  int tls_port_ = 0;
  int control_port_ = 0;
  int websocket_port_ = 0;
  int websocket_tls_port_ = 0;
};

} // namespace hub2kusto::testing
