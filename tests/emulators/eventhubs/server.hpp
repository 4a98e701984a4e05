#pragma once
// An Event Hubs-compatible AMQP 1.0 server for tests (eventhubs-amqp.md §11 checklist).
//
// It runs Proton's C proactor directly rather than the C++ container: the C++ API decodes a
// transfer into one proton::message, which keeps only the last of several data sections, and
// Proton 0.37 does not expose a transfer's message-format. Producer batches (0x80013700, one
// data section per inner event, §7) therefore have to be read as raw bytes. Messages are
// still built and parsed with proton::message where one section per kind is all there is.
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
  std::vector<SasRule> rules;              // default: RootManageSharedAccessKey / SAS_KEY_VALUE
  std::size_t max_message_size = 1u << 20; // a single event or a whole batch (§10.1)
  int link_credit = 500;                   // credit the emulator grants producers
};

class Server {
public:
  explicit Server(EmulatorConfig config);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Listens and runs until stop(); calls `on_listening` with the bound port once.
  // Returns 0, or 1 when the listener could not be opened.
  int run(const std::function<void(int port)>& on_listening);
  // Any thread.
  void stop();

private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

} // namespace hub2kusto::emulator
