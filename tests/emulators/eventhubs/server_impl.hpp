#pragma once
// The Event Hubs emulator's state and the declarations its parts share: server.cpp (security,
// the IoT Hub front end, faults and lifecycle), sending.cpp (delivering events to receivers),
// links.cpp (attach, detach, management and CBS requests, producers) and loop.cpp (the
// proactor loop). Internal to the emulator.
#include "server.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <unordered_map>
#include <variant>

#include <proton/codec.h>
#include <proton/condition.h>
#include <proton/connection.h>
#include <proton/delivery.h>
#include <proton/event.h>
#include <proton/link.h>
#include <proton/listener.h>
#include <proton/logger.h>
#include <proton/message.h>
#include <proton/netaddr.h>
#include <proton/proactor.h>
#include <proton/sasl.h>
#include <proton/session.h>
#include <proton/ssl.h>
#include <proton/terminus.h>
#include <proton/transport.h>

#include <proton/annotation_key.hpp>
#include <proton/binary.hpp>
#include <proton/codec/map.hpp>
#include <proton/codec/vector.hpp>
#include <proton/message.hpp>
#include <proton/message_id.hpp>
#include <proton/scalar.hpp>
#include <proton/timestamp.hpp>
#include <proton/value.hpp>

#include "common/crypto.hpp"
#include "common/encoding.hpp"
#include "common/sas_token.hpp"
#include "shared/free_port.hpp"
#include "shared/jwt.hpp"
#include "shared/text.hpp"
#include "store.hpp"

namespace hub2kusto::emulator {

constexpr std::uint64_t kSectionHeader = 0x70;
constexpr std::uint64_t kSectionMessageAnnotations = 0x72;
constexpr std::uint64_t kSectionData = 0x75;
constexpr std::uint64_t kSectionSequence = 0x76;
constexpr std::uint64_t kSectionValue = 0x77;

inline std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

using emulators::lower;

inline std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  while (true) {
    const std::size_t at = s.find(sep, start);
    parts.push_back(s.substr(start, at == std::string::npos ? std::string::npos : at - start));
    if (at == std::string::npos) {
      return parts;
    }
    start = at + 1;
  }
}

// "amqps://host/hub/x", "sb://host/hub/x", "/hub/x", "hub/x" -> "hub/x" (docs/protocols.md,
// "Receiver links and start positions").
inline std::string entity_path(std::string address) {
  const std::size_t scheme = address.find("://");
  if (scheme != std::string::npos) {
    const std::size_t slash = address.find('/', scheme + 3);
    address = slash == std::string::npos ? std::string() : address.substr(slash + 1);
  }
  while (!address.empty() && address.front() == '/') {
    address.erase(0, 1);
  }
  while (!address.empty() && address.back() == '/') {
    address.pop_back();
  }
  return address;
}

inline std::string terminus_address(pn_terminus_t* t) {
  const char* a = pn_terminus_get_address(t);
  return a != nullptr ? a : "";
}

inline std::string bytes_of(pn_bytes_t b) {
  return std::string(b.start, b.size);
}

// The sections of an encoded AMQP message, as raw byte ranges by descriptor code.
struct Section {
  std::uint64_t code = 0;
  std::string_view raw;
};

inline bool split_sections(std::string_view message, std::vector<Section>& out) {
  out.clear();
  pn_data_t* data = pn_data(0);
  std::size_t pos = 0;
  bool ok = true;
  while (pos < message.size()) {
    pn_data_clear(data);
    const ssize_t used = pn_data_decode(data, message.data() + pos, message.size() - pos);
    if (used <= 0) {
      ok = false;
      break;
    }
    pn_data_rewind(data);
    if (!pn_data_next(data) || pn_data_type(data) != PN_DESCRIBED) {
      ok = false;
      break;
    }
    pn_data_enter(data);
    pn_data_next(data);
    const std::uint64_t code = pn_data_type(data) == PN_ULONG ? pn_data_get_ulong(data) : 0;
    if (code < kSectionHeader || code > 0x78) {
      ok = false;
      break;
    }
    out.push_back({code, message.substr(pos, static_cast<std::size_t>(used))});
    pos += static_cast<std::size_t>(used);
  }
  pn_data_free(data);
  return ok && !out.empty();
}

// The binary payload of a data section, or the partition key of a message-annotations section.
inline std::string section_binary(std::string_view raw) {
  pn_data_t* data = pn_data(0);
  pn_data_decode(data, raw.data(), raw.size());
  pn_data_rewind(data);
  pn_data_next(data);
  pn_data_enter(data);
  pn_data_next(data);
  pn_data_next(data);
  std::string out = pn_data_type(data) == PN_BINARY ? bytes_of(pn_data_get_binary(data)) : "";
  pn_data_free(data);
  return out;
}

inline std::string annotation_partition_key(std::string_view raw) {
  pn_data_t* data = pn_data(0);
  pn_data_decode(data, raw.data(), raw.size());
  pn_data_rewind(data);
  pn_data_next(data);
  pn_data_enter(data);
  pn_data_next(data);
  pn_data_next(data);
  std::string key;
  if (pn_data_type(data) == PN_MAP) {
    pn_data_enter(data);
    while (pn_data_next(data)) {
      const bool match = (pn_data_type(data) == PN_SYMBOL || pn_data_type(data) == PN_STRING) &&
                         bytes_of(pn_data_type(data) == PN_SYMBOL
                                      ? pn_data_get_symbol(data)
                                      : pn_data_get_string(data)) == "x-opt-partition-key";
      pn_data_next(data);
      if (match && pn_data_type(data) == PN_STRING) {
        key = bytes_of(pn_data_get_string(data));
      }
    }
  }
  pn_data_free(data);
  return key;
}

struct Grant {
  std::string scope;           // lower-case entity path the token covers ("" = the namespace)
  std::int64_t expires_ms = 0; // when the grant lapses (ms since the epoch)
  bool no_role = false;        // an Entra ID principal without a role: covers nothing
};

enum class LinkKind { cbs_requests, cbs_replies, mgmt_requests, mgmt_replies, producer, consumer };

struct LinkState {
  LinkKind kind = LinkKind::producer;
  pn_link_t* link = nullptr;
  Hub* hub = nullptr;
  Partition* partition = nullptr; // consumer, or a producer bound to one partition
  std::string path;               // the entity path the link was attached to
  std::string consumer_group;     // lower case
  std::int64_t next = 0;          // consumer: sequence number of the next event to send
  std::string device_id;          // producer on the IoT Hub front end: the sending device
  std::optional<std::int64_t> epoch;
  std::string receiver_name = "nil";
  bool presettled = false;
  std::uint64_t tag = 0;
  // A close requested from outside this link's connection batch.
  std::optional<std::pair<std::string, std::string>> pending_close;
};

// What the attach frames of one connection asked for, read from its frame trace: Proton's C
// API has no remote desired capabilities of a link. The trace comes before the link's
// PN_LINK_REMOTE_OPEN, so the attach is judged with its frame already read.
class AttachWitness {
public:
  AttachWitness(pn_transport_t* transport, std::vector<std::string> wanted);
  ~AttachWitness();
  AttachWitness(const AttachWitness&) = delete;
  AttachWitness& operator=(const AttachWitness&) = delete;

  // The first wanted capability the link named `link_name` did not ask for; empty: none.
  std::string missing(const std::string& link_name) const;

private:
  static void sink(intptr_t self, pn_log_subsystem_t, pn_log_level_t, const char* message);

  pn_transport_t* transport_;
  std::vector<std::string> wanted_;
  std::map<std::string, std::string> asked_; // link name -> its desired-capabilities, as traced
};

struct ConnectionState {
  std::vector<Grant> grants;
  std::vector<pn_link_t*> links;
  bool iothub = false;        // accepted on the IoT Hub front end
  std::int64_t opened_ms = 0; // when the client's open arrived (the grace rule counts from it)
  std::unique_ptr<AttachWitness> attaches; // set when receivers must ask for capabilities
};

// The IoT Hub device a producer link sends as: "devices/<id>/messages/events" (docs/protocols.md,
// "IoT Hub").
inline std::string device_of(const std::vector<std::string>& parts) {
  return parts.size() == 4 && lower(parts[0]) == "devices" && !parts[1].empty() &&
                 lower(parts[2]) == "messages" && lower(parts[3]) == "events"
             ? parts[1]
             : std::string();
}

struct Server::Impl {
  EmulatorConfig config;
  pn_proactor_t* proactor = nullptr;
  pn_listener_t* listener = nullptr;
  pn_listener_t* tls_listener = nullptr;
  pn_listener_t* iothub_listener = nullptr;
  // The IoT Hub redirect's target: the plain listener, or after a failover the one that took
  // over, under a namespace name of its own.
  int redirect_port = 0;
  std::string redirect_namespace;
  int failovers = 0;
  pn_ssl_domain_t* tls_domain = nullptr;
  ListeningPorts ports;
  int listeners_open = 0;
  std::vector<Hub> hubs;
  std::unordered_map<pn_connection_t*, ConnectionState> connections;
  std::unordered_map<pn_link_t*, LinkState> links;
  std::function<void(const ListeningPorts&)> on_listening;
  bool listening_failed = false;
  // Faults (set and read on the loop thread only).
  bool paused = false;
  std::int64_t latency_ms = 0;
  std::int64_t refuse_until_ms = 0;
  std::vector<pn_connection_t*> to_drop;  // transports to abort (fault injection)
  std::vector<pn_connection_t*> to_close; // connections to close with their condition set
  // The one proactor timeout, armed for the earliest thing due (latency, the grace rule).
  std::optional<std::int64_t> timer_due_ms;
  std::vector<std::unique_ptr<PartitionLog>> logs; // with a data directory, one per partition
  std::unordered_map<const Partition*, PartitionLog*> log_of;
  // Work from other threads: queued under the mutex, then pn_proactor_interrupt.
  std::mutex inbox_mutex;
  std::deque<std::pair<std::function<std::string()>, std::promise<std::string>>> inbox;
  std::atomic<bool> stop_requested{false};
  bool trace = std::getenv("HUB2KUSTO_EMULATOR_TRACE") != nullptr;

  explicit Impl(EmulatorConfig c) : config(std::move(c)) {
    if (config.rules.empty()) {
      config.rules.push_back({"RootManageSharedAccessKey", "SAS_KEY_VALUE"});
    }
    if (!config.iothub_name.empty()) {
      // After the redirect, clients use the same policy on the Event Hub-compatible endpoint,
      // signing with the key string as Event Hubs does (docs/protocols.md, "SAS tokens").
      config.rules.push_back(config.iothub_policy);
      if (config.iothub_eventhub.empty() && !config.hubs.empty()) {
        config.iothub_eventhub = config.hubs.front().name;
      }
    }
    for (const auto& spec : config.hubs) {
      Hub hub;
      hub.name = spec.name;
      hub.created_ms = now_ms();
      for (int i = 0; i < spec.partitions; ++i) {
        Partition p;
        p.id = std::to_string(i);
        p.retention = config.retention_events;
        hub.partitions.push_back(std::move(p));
      }
      hub.consumer_groups.push_back("$Default");
      for (const auto& cg : spec.consumer_groups) {
        hub.consumer_groups.push_back(cg);
      }
      hubs.push_back(std::move(hub));
    }
  }

  Hub* find_hub(const std::string& name);

  // ---- security (docs/protocols.md, "SAS tokens", "Claims-based security ($cbs)") ----

  // Verifies a SAS token; on success returns the grant, else the 401 description.
  std::optional<Grant> verify_token(const std::string& token, std::string& why);
  // A jwt put-token: none when the token is refused (`why`); a grant with an empty scope and
  // no_role set when the token is good but its principal holds no role here.
  std::optional<Grant> verify_jwt(const std::string& token, std::string& why);
  std::optional<JwtKey> jwt_key;    // from config.jwt_key_file
  std::uint64_t put_tokens_sas = 0; // accepted put-tokens, for status()
  std::uint64_t put_tokens_jwt = 0;
  std::set<std::string> jwt_tokens_seen; // distinct jwt tokens accepted

  // A token is honoured until its own expiry, or for at most the configured lifetime.
  // In milliseconds, so that a one-second cap is a whole second however late in a second the
  // token was put.
  std::int64_t honoured_until(std::int64_t expires_s) const;

  static bool covers(const std::string& scope, const std::string& path);

  bool authorized(pn_connection_t* c, const std::string& path);

  // ---- sending ----

  void send_bytes(pn_link_t* link, const std::string& bytes, bool settle);

  static std::string encode(const proton::message& m);

  // Replies on the link the request asked for: target == reply-to, else name == reply-to,
  // else any reply link of the same node on this connection (docs/protocols.md, "Claims-based
  // security ($cbs)").
  pn_link_t* reply_link(pn_connection_t* c, LinkKind kind, const std::string& reply_to);

  void reply(pn_connection_t* c, LinkKind kind, const proton::message& request, int status,
             const std::string& description, const proton::value& body = proton::value(),
             const std::string& condition = "");

  static std::string property(const proton::message& m, const std::string& key);

  void on_cbs_request(pn_connection_t* c, const proton::message& m);

  void on_management_request(pn_connection_t* c, const proton::message& m);

  // ---- IoT Hub front end (docs/protocols.md, "IoT Hub") ----

  // IoT Hub signs with the base64-decoded key (docs/protocols.md, "SAS tokens"); the resource is
  // the hub host, optionally with /messages/events. The grant covers the whole front end.
  std::optional<Grant> verify_iothub_token(const std::string& token, std::string& why);

  void redirect_iothub(pn_connection_t* c, pn_link_t* link, const std::string& path);

  // A device's telemetry link on the front end (devices/<id>/messages/events). The emulator has
  // no device registry: the hub policy's token authorises any device, as a shared access
  // policy with DeviceConnect does. Events land in the Event Hub-compatible hub, partitioned
  // by device, with the iothub-* annotations of docs/protocols.md, "Received events".
  void accept_device_producer(pn_connection_t* c, pn_link_t* link, LinkState& ls,
                              const std::vector<std::string>& parts);

  // ---- links ----

  void refuse(pn_link_t* link, const std::string& condition, const std::string& description);

  void accept(pn_link_t* link);

  // The selector filter and the epoch / receiver name of a consumer attach.
  static std::optional<std::string> filter_expression(pn_link_t* link);

  static void read_link_properties(pn_link_t* link, LinkState& ls);

  // The attached consumers of a partition in a consumer group, other than `except`.
  std::vector<pn_link_t*> consumers_of(const Partition* p, const std::string& cg,
                                       pn_link_t* except);

  void close_elsewhere(pn_link_t* link, const std::string& condition,
                       const std::string& description);

  // Epoch rules of docs/protocols.md, "Receiver links and start positions"; returns false after
  // refusing `link`.
  bool admit_consumer(pn_link_t* link, LinkState& ls);

  void on_link_open(pn_link_t* link);

  static constexpr int kMaxBurst = 64;

  void pump(pn_link_t* link);

  // The annotations the service adds to an event (docs/protocols.md, "Received events", and
  // docs/protocols.md, "Received events" for a device's telemetry through the IoT Hub front end).
  using Annotation =
      std::pair<std::string, std::variant<std::int64_t, std::string, proton::timestamp>>;
  static std::vector<Annotation> service_annotations(const StoredEvent& e,
                                                     const std::string& device_id);

  // The event as receivers get it: the producer's message with the service's annotations,
  // encoded once.
  static std::string stamp(const std::string& produced, const StoredEvent& e,
                           const std::string& device_id);

  static std::string stamp_keeping_every_value(const std::string& produced,
                                               const std::vector<Annotation>& added);

  // Keeps one produced event in `p`, stamped, and in the data directory when there is one.
  void enqueue(Partition& p, const std::string& produced, const std::string& partition_key,
               const std::string& device_id, std::int64_t now);

  void arm_timer(std::int64_t due_ms);

  // On the proactor timeout: closes connections that put no valid token within the grace
  // period (docs/protocols.md, "Claims-based security ($cbs)"), and wakes consumers whose delayed
  // events may now be due.
  void on_timer();

  // A producer's transfer: one event, or a batch whose data sections are events (docs/protocols.md,
  // "Event bodies").
  void on_produced(pn_link_t* link, pn_delivery_t* d, const std::string& bytes);

  void on_delivery(pn_delivery_t* d);

  void forget_link(pn_link_t* link);

  void on_wake(pn_connection_t* c);

  // ---- faults and work from other threads ----

  void wake_consumers();

  void run_inbox();

  std::string post(std::function<std::string()> fn);

  std::string apply(const Fault& f);

  std::string status_json();

  // ---- the loop ----

  bool handle(pn_event_t* e);

  bool preload();

  // Reads each partition's log from the data directory (<dir>/<hub>/<partition>.log) and keeps
  // it open for appending.
  bool open_data_directory();

  int run();
};

} // namespace hub2kusto::emulator
