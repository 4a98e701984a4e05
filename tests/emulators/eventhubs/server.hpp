#pragma once
// An Event Hubs-compatible AMQP 1.0 server for tests (docs/protocols.md, "Event Hubs").
//
// It runs Proton's C proactor directly rather than the C++ container: the C++ API decodes a
// transfer into one proton::message, which keeps only the last of several data sections, and
// Proton 0.37 does not expose a transfer's message-format. Producer batches (0x80013700, one
// data section per inner event, docs/protocols.md, "Event bodies") therefore have to be read as raw
// bytes. Messages are still built and parsed with proton::message where one section per kind is all
// there is.
//
// Threading: one thread runs the proactor loop and owns every piece of state; nothing is
// shared with other threads. Work for another connection (a receiver that should see a new
// event, a link stolen by a higher epoch) is queued on that connection and delivered through
// pn_connection_wake, because a connection may only be touched in its own event batch.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace hub2kusto::emulator {

struct SasRule {
  std::string name;
  std::string key;
};

struct HubSpec {
  std::string name;
  int partitions = 2;
  std::vector<std::string> consumer_groups; // besides $Default
};

struct EmulatorConfig {
  std::string namespace_name = "emulatorNs1";
  std::string host = "127.0.0.1";
  int port = 0; // 0: pick a free one
  std::vector<HubSpec> hubs;
  std::vector<SasRule> rules; // default: RootManageSharedAccessKey / SAS_KEY_VALUE
  std::size_t max_message_size =
      1u << 20;          // a single event or a whole batch (the service allows 1 MiB)
  int link_credit = 500; // credit the emulator grants producers
  // A second listener with TLS (AMQPS), when a certificate and key are given.
  int tls_port = -1;           // -1: none; 0: pick a free one
  std::string tls_certificate; // PEM file
  std::string tls_key;         // PEM file
  // Events loaded before listening: each line of a JSON-lines file becomes one event (a data
  // body), spread round robin over the partitions of the first hub, the file reread as often
  // as needed to reach the count. For benchmarks of the consumer side.
  std::string preload_file;
  std::size_t preload_events = 0;
  // IoT Hub front end (docs/protocols.md, "IoT Hub"): a listener that authenticates IoT Hub service
  // policies and answers every receiver attach under messages/events with amqp:link:redirect
  // to the Event Hub-compatible endpoint (this server's plain listener, hub `iothub_eventhub`).
  std::string iothub_name; // empty: no IoT Hub front end
  int iothub_port = 0;
  std::string iothub_eventhub; // default: the first hub
  // The Event Hub-compatible namespace the redirect names as `hostname` (a real IoT Hub names
  // e.g. ihsuprodxx.servicebus.windows.net); clients still connect to `host`. Default: `host`.
  std::string iothub_eventhub_namespace;
  SasRule iothub_policy{"iothubowner", "aG1hY2tleWhtYWNrZXlobWFja2V5aG1hY2tleQ=="};
  // Security timing (docs/protocols.md, "Claims-based security ($cbs)"). A connection that has put
  // no valid token within `auth_grace_ms` of opening is closed; a token is honoured for at most
  // `token_lifetime_seconds` after its put-token (0: until its own expiry), and while no token
  // covers a receiver's entity, nothing is delivered to it until a new put-token renews it.
  std::int64_t auth_grace_ms = 20000;
  // Every $management request must carry its own `security_token` application property, as
  // every official SDK sends it; off, a token put on the connection is enough.
  bool require_management_token = false;
  // Desired capabilities every receiver link must ask for in its attach (current SDKs ask for
  // com.microsoft:georeplication); one missing refuses the attach. Proton's C API does not show
  // a link's remote capabilities, so the emulator reads them from its own frame trace.
  std::vector<std::string> required_receiver_capabilities;
  std::int64_t token_lifetime_seconds = 0;
  // Microsoft Entra ID (docs/protocols.md, "Claims-based security ($cbs)"): put-token of type
  // "jwt" with an RS256 token whose signature the public half of `jwt_key_file` verifies (the
  // Kusto emulator's --signing-key issues them), unexpired, for `jwt_audience`, from
  // `jwt_issuer` when set. Only principals (appid or oid) in `jwt_receivers` hold the Azure
  // Event Hubs Data Receiver role: others get their token accepted but may attach nothing.
  std::string jwt_key_file; // empty: jwt tokens are refused
  std::string jwt_audience = "https://eventhubs.azure.net";
  std::string jwt_issuer;
  std::vector<std::string> jwt_receivers;
  // Storage: at most this many events per partition (0: no limit), and an optional directory
  // where every partition's events are kept across restarts.
  std::size_t retention_events = 0;
  std::string data_directory;
};

struct ListeningPorts {
  int amqp = 0;
  int amqps = -1;  // -1 when there is no TLS listener
  int iothub = -1; // -1 when there is no IoT Hub front end
};

// A fault for reliability tests (the control API in control_api.hpp maps HTTP to these).
struct Fault {
  enum class Kind {
    drop_connections,      // abort every connection's transport (clients must reconnect)
    detach,                // detach a partition's receivers with `condition` / `description`
    pause,                 // stop delivering to receivers (producers still accepted)
    resume,                // deliver again
    latency,               // deliver an event only `number` ms after it was enqueued
    refuse_connections,    // close new connections for `number` seconds
    iothub_failover,       // the IoT Hub's Event Hub-compatible endpoint moves: a new listener (and
                           // namespace name) takes over, the old one closes with its connections
    reset,                 // undo pause, latency and refusal
    create_consumer_group, // `name` becomes a consumer group of `hub`, as an operator adds one
  };
  Kind kind = Kind::reset;
  std::string hub;
  std::string partition;
  std::string name;
  std::string condition = "amqp:link:detach-forced";
  std::string description = "The link was detached by the emulator's fault injection.";
  std::int64_t number = 0;
};

class Server {
public:
  explicit Server(EmulatorConfig config);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Listens and runs until stop(); calls `on_listening` once every listener is bound.
  // Returns 0, or 1 when a listener could not be opened or the preload file not read.
  int run(const std::function<void(const ListeningPorts&)>& on_listening);
  // Any thread.
  void stop();
  // Any thread: applies a fault on the loop and returns what was done, once it is done, or
  // an error text starting with "error:".
  std::string inject(const Fault& fault);
  // Any thread: a JSON object with counters (connections, receivers, attaches, events and
  // deliveries per partition).
  std::string status();

private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

} // namespace hub2kusto::emulator
