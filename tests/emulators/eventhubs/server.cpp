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
#include <mutex>
#include <optional>
#include <unordered_map>
#include <variant>

#include <proton/codec.h>
#include <proton/condition.h>
#include <proton/connection.h>
#include <proton/delivery.h>
#include <proton/event.h>
#include <proton/link.h>
#include <proton/listener.h>
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
#include "shared/text.hpp"
#include "store.hpp"

namespace hub2kusto::emulator {
namespace {

constexpr std::uint64_t kSectionHeader = 0x70;
constexpr std::uint64_t kSectionMessageAnnotations = 0x72;
constexpr std::uint64_t kSectionData = 0x75;
constexpr std::uint64_t kSectionSequence = 0x76;
constexpr std::uint64_t kSectionValue = 0x77;

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

using emulators::lower;

std::vector<std::string> split(const std::string& s, char sep) {
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
std::string entity_path(std::string address) {
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

std::string terminus_address(pn_terminus_t* t) {
  const char* a = pn_terminus_get_address(t);
  return a != nullptr ? a : "";
}

std::string bytes_of(pn_bytes_t b) {
  return std::string(b.start, b.size);
}

// The sections of an encoded AMQP message, as raw byte ranges by descriptor code.
struct Section {
  std::uint64_t code = 0;
  std::string_view raw;
};

bool split_sections(std::string_view message, std::vector<Section>& out) {
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
std::string section_binary(std::string_view raw) {
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

std::string annotation_partition_key(std::string_view raw) {
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

struct ConnectionState {
  std::vector<Grant> grants;
  std::vector<pn_link_t*> links;
  bool iothub = false;        // accepted on the IoT Hub front end
  std::int64_t opened_ms = 0; // when the client's open arrived (the grace rule counts from it)
};

// The IoT Hub device a producer link sends as: "devices/<id>/messages/events" (docs/protocols.md,
// "IoT Hub").
std::string device_of(const std::vector<std::string>& parts) {
  return parts.size() == 4 && lower(parts[0]) == "devices" && !parts[1].empty() &&
                 lower(parts[2]) == "messages" && lower(parts[3]) == "events"
             ? parts[1]
             : std::string();
}

} // namespace

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

  Hub* find_hub(const std::string& name) {
    for (auto& h : hubs) {
      if (lower(h.name) == lower(name)) {
        return &h;
      }
    }
    return nullptr;
  }

  // ---- security (docs/protocols.md, "SAS tokens", "Claims-based security ($cbs)") ----

  // Verifies a SAS token; on success returns the grant, else the 401 description.
  std::optional<Grant> verify_token(const std::string& token, std::string& why) {
    const auto parsed = parse_sas_token(token);
    if (!parsed) {
      why = "InvalidSignature: The token has an invalid signature.";
      return std::nullopt;
    }
    const SasRule* rule = nullptr;
    for (const auto& r : config.rules) {
      if (r.name == parsed->key_name) {
        rule = &r;
      }
    }
    const std::string expected = encoding::base64_encode(
        crypto::hmac_sha256(rule != nullptr ? rule->key : std::string(),
                            parsed->encoded_resource + "\n" + parsed->expiry_text));
    if (rule == nullptr || expected != parsed->signature.reveal()) {
      why = "InvalidSignature: The token has an invalid signature.";
      return std::nullopt;
    }
    const std::int64_t expires = parsed->expires_at.time_since_epoch().count();
    if (expires <= now_ms() / 1000) {
      why = "ExpiredToken: The token is expired.";
      return std::nullopt;
    }
    return Grant{lower(entity_path(parsed->resource)), honoured_until(expires)};
  }

  // A token is honoured until its own expiry, or for at most the configured lifetime.
  // In milliseconds, so that a one-second cap is a whole second however late in a second the
  // token was put.
  std::int64_t honoured_until(std::int64_t expires_s) const {
    return config.token_lifetime_seconds > 0
               ? std::min(expires_s * 1000, now_ms() + config.token_lifetime_seconds * 1000)
               : expires_s * 1000;
  }

  static bool covers(const std::string& scope, const std::string& path) {
    return scope.empty() || path == scope ||
           (path.size() > scope.size() && path.compare(0, scope.size(), scope) == 0 &&
            path[scope.size()] == '/');
  }

  bool authorized(pn_connection_t* c, const std::string& path) {
    const std::int64_t now = now_ms();
    for (const auto& g : connections[c].grants) {
      if (g.expires_ms > now && covers(g.scope, lower(path))) {
        return true;
      }
    }
    return false;
  }

  // ---- sending ----

  void send_bytes(pn_link_t* link, const std::string& bytes, bool settle) {
    LinkState& ls = links[link];
    const std::uint64_t tag = ls.tag++;
    pn_delivery_t* d = pn_delivery(link, pn_dtag(reinterpret_cast<const char*>(&tag), sizeof tag));
    pn_link_send(link, bytes.data(), bytes.size());
    pn_link_advance(link);
    if (settle) {
      pn_delivery_settle(d);
    }
  }

  static std::string encode(const proton::message& m) {
    std::vector<char> buffer;
    m.encode(buffer);
    return std::string(buffer.begin(), buffer.end());
  }

  // Replies on the link the request asked for: target == reply-to, else name == reply-to,
  // else any reply link of the same node on this connection (docs/protocols.md, "Claims-based
  // security ($cbs)").
  pn_link_t* reply_link(pn_connection_t* c, LinkKind kind, const std::string& reply_to) {
    pn_link_t* fallback = nullptr;
    for (pn_link_t* l : connections[c].links) {
      const LinkState& ls = links[l];
      if (ls.kind != kind || pn_link_state(l) & PN_LOCAL_CLOSED) {
        continue;
      }
      if (!reply_to.empty() && (terminus_address(pn_link_remote_target(l)) == reply_to ||
                                std::string(pn_link_name(l)) == reply_to)) {
        return l;
      }
      if (fallback == nullptr) {
        fallback = l;
      }
    }
    return fallback;
  }

  void reply(pn_connection_t* c, LinkKind kind, const proton::message& request, int status,
             const std::string& description, const proton::value& body = proton::value(),
             const std::string& condition = "") {
    proton::message response;
    response.correlation_id(request.id());
    response.properties().put("status-code", static_cast<std::int32_t>(status));
    response.properties().put("status-description", description);
    if (!condition.empty()) {
      response.properties().put("error-condition", proton::symbol(condition));
    }
    if (!body.empty()) {
      response.body(body);
    }
    std::string reply_to;
    if (!request.reply_to().empty()) {
      reply_to = request.reply_to();
    }
    if (pn_link_t* l = reply_link(c, kind, reply_to)) {
      send_bytes(l, encode(response), true);
    }
  }

  static std::string property(const proton::message& m, const std::string& key) {
    const proton::value v = m.properties().get(key);
    if (v.type() == proton::STRING) {
      return proton::get<std::string>(v);
    }
    if (v.type() == proton::SYMBOL) {
      return proton::get<proton::symbol>(v);
    }
    return "";
  }

  void on_cbs_request(pn_connection_t* c, const proton::message& m) {
    const std::string operation = property(m, "operation");
    if (operation != "put-token") {
      reply(c, LinkKind::cbs_replies, m, 400, "Unsupported operation '" + operation + "'.");
      return;
    }
    std::string token;
    if (m.body().type() == proton::STRING) {
      token = proton::get<std::string>(m.body());
    }
    std::string why;
    const auto grant =
        connections[c].iothub ? verify_iothub_token(token, why) : verify_token(token, why);
    if (!grant) {
      reply(c, LinkKind::cbs_replies, m, 401, why);
      return;
    }
    // The audience asked for must lie inside what the token signs (docs/protocols.md, "SAS
    // tokens").
    const std::string audience = lower(entity_path(property(m, "name")));
    if (!covers(grant->scope, audience)) {
      reply(c, LinkKind::cbs_replies, m, 401,
            "InvalidAudience: The authorization header contains a token with a wrong audience.");
      return;
    }
    connections[c].grants.push_back(*grant);
    reply(c, LinkKind::cbs_replies, m, 202, "Accepted");
    // A renewal lets receivers whose token had lapsed go on from where they stopped.
    for (pn_link_t* l : std::vector<pn_link_t*>(connections[c].links)) {
      pump(l);
    }
  }

  void on_management_request(pn_connection_t* c, const proton::message& m) {
    const std::string name = property(m, "name");
    const std::string type = property(m, "type");
    Hub* hub = find_hub(name);
    // security_token on the request, or a token put on the connection (docs/protocols.md,
    // "Management requests").
    const std::string token = property(m, "security_token");
    bool allowed = !config.require_management_token && authorized(c, name);
    if (!token.empty()) {
      std::string why;
      const auto g = verify_token(token, why);
      allowed = g && covers(g->scope, lower(name));
    }
    if (!allowed) {
      reply(c, LinkKind::mgmt_replies, m, 401, "Unauthorized access.", proton::value(),
            "amqp:unauthorized-access");
      return;
    }
    if (property(m, "operation") != "READ") {
      reply(c, LinkKind::mgmt_replies, m, 400, "Unsupported operation.", proton::value(),
            "com.microsoft:argument-error");
      return;
    }
    if (hub == nullptr) {
      reply(c, LinkKind::mgmt_replies, m, 404,
            "The messaging entity '" + config.namespace_name + ":eventhub:" + name +
                "' could not be found.",
            proton::value(), "amqp:not-found");
      return;
    }
    if (type == "com.microsoft:eventhub") {
      std::map<std::string, proton::value> body;
      std::vector<std::string> ids;
      for (const auto& p : hub->partitions) {
        ids.push_back(p.id);
      }
      body["name"] = hub->name;
      body["type"] = std::string("com.microsoft:eventhub");
      body["created_at"] = proton::timestamp(hub->created_ms);
      body["partition_count"] = static_cast<std::int32_t>(hub->partitions.size());
      body["partition_ids"] =
          ids; // an AMQP array of string (docs/protocols.md, "Management requests")
      body["georeplication_factor"] = static_cast<std::int32_t>(1);
      reply(c, LinkKind::mgmt_replies, m, 200, "OK", body);
      return;
    }
    if (type == "com.microsoft:partition") {
      Partition* p = hub->partition(property(m, "partition"));
      if (p == nullptr) {
        reply(c, LinkKind::mgmt_replies, m, 400,
              "The specified partition is invalid for an EventHub partition sender or receiver.",
              proton::value(), "com.microsoft:argument-out-of-range");
        return;
      }
      const bool empty = p->events.empty();
      std::map<std::string, proton::value> body;
      body["name"] = hub->name;
      body["type"] = std::string("com.microsoft:partition");
      body["partition"] = p->id;
      body["begin_sequence_number"] = empty ? std::int64_t{-1} : p->events.front().sequence_number;
      body["begin_sequence_number_epoch"] = std::int64_t{0};
      body["last_enqueued_sequence_number"] =
          empty ? std::int64_t{-1} : p->events.back().sequence_number;
      body["last_enqueued_sequence_number_epoch"] = std::int64_t{0};
      body["last_enqueued_offset"] =
          empty ? std::string("-1") : std::to_string(p->events.back().offset);
      body["last_enqueued_time_utc"] = proton::timestamp(empty ? 0 : p->events.back().enqueued_ms);
      body["is_partition_empty"] = empty;
      body["runtime_info_retrieval_time_utc"] = proton::timestamp(now_ms());
      reply(c, LinkKind::mgmt_replies, m, 200, "OK", body);
      return;
    }
    reply(c, LinkKind::mgmt_replies, m, 400, "Unsupported type '" + type + "'.", proton::value(),
          "com.microsoft:argument-error");
  }

  // ---- IoT Hub front end (docs/protocols.md, "IoT Hub") ----

  // IoT Hub signs with the base64-decoded key (docs/protocols.md, "SAS tokens"); the resource is
  // the hub host, optionally with /messages/events. The grant covers the whole front end.
  std::optional<Grant> verify_iothub_token(const std::string& token, std::string& why) {
    const auto parsed = parse_sas_token(token);
    const auto key = encoding::base64_decode(config.iothub_policy.key);
    if (!parsed || !key || parsed->key_name != config.iothub_policy.name ||
        encoding::base64_encode(
            crypto::hmac_sha256(*key, parsed->encoded_resource + "\n" + parsed->expiry_text)) !=
            parsed->signature.reveal()) {
      why = "InvalidSignature: The token has an invalid signature.";
      return std::nullopt;
    }
    const std::int64_t expires = parsed->expires_at.time_since_epoch().count();
    if (expires <= now_ms() / 1000) {
      why = "ExpiredToken: The token is expired.";
      return std::nullopt;
    }
    return Grant{"", honoured_until(expires)};
  }

  void redirect_iothub(pn_connection_t* c, pn_link_t* link, const std::string& path) {
    if (!authorized(c, path)) {
      refuse(link, "amqp:unauthorized-access",
             "Unauthorized access. 'ServiceConnect' claim(s) are required to perform this "
             "operation.");
      return;
    }
    const std::string prefix = "messages/events";
    if (lower(path).rfind(prefix, 0) != 0) {
      refuse(link, "amqp:not-found", "The messaging entity '" + path + "' could not be found.");
      return;
    }
    // The address keeps what followed messages/events ("/$management", "/ConsumerGroups/...").
    const std::string suffix = path.substr(prefix.size());
    const std::string address = "amqp://" + config.host + ":" + std::to_string(redirect_port) +
                                "/" + config.iothub_eventhub + (suffix.empty() ? "/" : suffix);
    pn_terminus_set_type(pn_link_source(link), PN_UNSPECIFIED);
    pn_terminus_set_type(pn_link_target(link), PN_UNSPECIFIED);
    pn_link_open(link);
    pn_condition_t* cond = pn_link_condition(link);
    pn_condition_set_name(cond, "amqp:link:redirect");
    pn_data_t* info = pn_condition_info(cond);
    pn_data_put_map(info);
    pn_data_enter(info);
    const std::string& hostname = redirect_namespace;
    pn_data_put_symbol(info, pn_bytes(8, "hostname"));
    pn_data_put_string(info, pn_bytes(hostname.size(), hostname.c_str()));
    pn_data_put_symbol(info, pn_bytes(12, "network-host"));
    pn_data_put_string(info, pn_bytes(config.host.size(), config.host.c_str()));
    pn_data_put_symbol(info, pn_bytes(4, "port"));
    pn_data_put_int(info, redirect_port);
    pn_data_put_symbol(info, pn_bytes(7, "address"));
    pn_data_put_string(info, pn_bytes(address.size(), address.c_str()));
    pn_data_exit(info);
    pn_link_close(link);
  }

  // A device's telemetry link on the front end (devices/<id>/messages/events). The emulator has
  // no device registry: the hub policy's token authorises any device, as a shared access
  // policy with DeviceConnect does. Events land in the Event Hub-compatible hub, partitioned
  // by device, with the iothub-* annotations of docs/protocols.md, "Received events".
  void accept_device_producer(pn_connection_t* c, pn_link_t* link, LinkState& ls,
                              const std::vector<std::string>& parts) {
    const std::string device = device_of(parts);
    if (device.empty()) {
      refuse(link, "amqp:not-found",
             "The messaging entity '" + ls.path +
                 "' could not be found; devices send to devices/<id>/messages/events.");
      return;
    }
    if (!authorized(c, ls.path)) {
      refuse(link, "amqp:unauthorized-access",
             "Unauthorized access. 'DeviceConnect' claim(s) are required to perform this "
             "operation.");
      return;
    }
    ls.hub = find_hub(config.iothub_eventhub);
    if (ls.hub == nullptr) {
      refuse(link, "amqp:not-found",
             "The Event Hub-compatible hub '" + config.iothub_eventhub + "' does not exist.");
      return;
    }
    ls.kind = LinkKind::producer;
    ls.device_id = device;
    accept(link);
  }

  // ---- links ----

  void refuse(pn_link_t* link, const std::string& condition, const std::string& description) {
    // attach with null source and target, then detach with the error (docs/protocols.md, "Receiver
    // links and start positions").
    pn_terminus_set_type(pn_link_source(link), PN_UNSPECIFIED);
    pn_terminus_set_type(pn_link_target(link), PN_UNSPECIFIED);
    pn_link_open(link);
    pn_condition_set_name(pn_link_condition(link), condition.c_str());
    pn_condition_set_description(pn_link_condition(link), description.c_str());
    pn_link_close(link);
  }

  void accept(pn_link_t* link) {
    pn_terminus_copy(pn_link_source(link), pn_link_remote_source(link));
    pn_terminus_copy(pn_link_target(link), pn_link_remote_target(link));
    if (pn_link_is_sender(link) && pn_link_remote_snd_settle_mode(link) == PN_SND_SETTLED) {
      pn_link_set_snd_settle_mode(link, PN_SND_SETTLED);
    }
    // Producers size their batches by the max-message-size of this attach (the JS SDK makes
    // an empty batch of a 0, "unlimited", answer), so announce the real limit.
    pn_link_set_max_message_size(link, config.max_message_size);
    pn_link_open(link);
    if (pn_link_is_receiver(link)) {
      pn_link_flow(link, config.link_credit);
    }
  }

  // The selector filter and the epoch / receiver name of a consumer attach.
  static std::optional<std::string> filter_expression(pn_link_t* link) {
    pn_data_t* f = pn_terminus_filter(pn_link_remote_source(link));
    if (f == nullptr) {
      return std::nullopt;
    }
    pn_data_rewind(f);
    if (!pn_data_next(f) || pn_data_type(f) != PN_MAP) {
      return std::nullopt;
    }
    pn_data_enter(f);
    while (pn_data_next(f)) { // key
      pn_data_next(f);        // value: described(descriptor, string)
      if (pn_data_type(f) != PN_DESCRIBED) {
        continue;
      }
      pn_data_enter(f);
      pn_data_next(f); // descriptor: ulong 0x468C00000004 or the symbol, both accepted
      pn_data_next(f);
      std::optional<std::string> expr;
      if (pn_data_type(f) == PN_STRING) {
        expr = bytes_of(pn_data_get_string(f));
      }
      pn_data_exit(f);
      if (expr) {
        return expr;
      }
    }
    return std::nullopt;
  }

  static void read_link_properties(pn_link_t* link, LinkState& ls) {
    pn_data_t* p = pn_link_remote_properties(link); // null when the attach has none
    if (p == nullptr) {
      return;
    }
    pn_data_rewind(p);
    if (!pn_data_next(p) || pn_data_type(p) != PN_MAP) {
      return;
    }
    pn_data_enter(p);
    while (pn_data_next(p)) {
      const std::string key = pn_data_type(p) == PN_SYMBOL ? bytes_of(pn_data_get_symbol(p)) : "";
      pn_data_next(p);
      if (key == "com.microsoft:epoch") {
        if (pn_data_type(p) == PN_LONG) {
          ls.epoch = pn_data_get_long(p);
        } else if (pn_data_type(p) == PN_INT) {
          ls.epoch = pn_data_get_int(p);
        }
      } else if (key == "com.microsoft:receiver-name" && pn_data_type(p) == PN_STRING) {
        ls.receiver_name = bytes_of(pn_data_get_string(p));
      }
    }
  }

  // The attached consumers of a partition in a consumer group, other than `except`.
  std::vector<pn_link_t*> consumers_of(const Partition* p, const std::string& cg,
                                       pn_link_t* except) {
    std::vector<pn_link_t*> out;
    for (auto& [l, ls] : links) {
      if (l != except && ls.kind == LinkKind::consumer && ls.partition == p &&
          ls.consumer_group == cg && !ls.pending_close && !(pn_link_state(l) & PN_LOCAL_CLOSED)) {
        out.push_back(l);
      }
    }
    return out;
  }

  void close_elsewhere(pn_link_t* link, const std::string& condition,
                       const std::string& description) {
    links[link].pending_close = std::make_pair(condition, description);
    pn_connection_wake(pn_session_connection(pn_link_session(link)));
  }

  // Epoch rules of docs/protocols.md, "Receiver links and start positions"; returns false after
  // refusing `link`.
  bool admit_consumer(pn_link_t* link, LinkState& ls) {
    const auto existing = consumers_of(ls.partition, ls.consumer_group, link);
    std::optional<std::int64_t> highest;
    std::size_t non_epoch = 0;
    for (pn_link_t* l : existing) {
      const auto& e = links[l].epoch;
      if (e) {
        highest = std::max(highest.value_or(*e), *e);
      } else {
        ++non_epoch;
      }
    }
    if (ls.epoch) {
      if (highest && *ls.epoch < *highest) {
        refuse(link, "amqp:link:stolen",
               "Receiver '" + ls.receiver_name + "' with a higher epoch '" +
                   std::to_string(*highest) + "' already exists. Receiver '" + ls.receiver_name +
                   "' with epoch " + std::to_string(*ls.epoch) +
                   " cannot be created. Make sure you are creating receiver with increasing "
                   "epoch value to ensure connectivity, or ensure all old epoch receivers are "
                   "closed or disconnected.");
        return false;
      }
      for (pn_link_t* l : existing) { // equal or lower epochs, and non-epoch receivers, lose
        const LinkState& old = links[l];
        close_elsewhere(l, "amqp:link:stolen",
                        "New receiver '" + ls.receiver_name + "' with higher epoch of '" +
                            std::to_string(*ls.epoch) + "' is created hence current receiver '" +
                            old.receiver_name + "' with epoch '" +
                            (old.epoch ? std::to_string(*old.epoch) : std::string("0")) +
                            "' is getting disconnected. If you are recreating the receiver, make "
                            "sure a higher epoch is used.");
      }
      return true;
    }
    if (highest) {
      refuse(link, "amqp:link:stolen",
             "At least one receiver for the endpoint is created with epoch of '" +
                 std::to_string(*highest) +
                 "', and so non-epoch receiver is not allowed. Either reconnect with a higher "
                 "epoch, or make sure all epoch receivers are closed or disconnected.");
      return false;
    }
    if (non_epoch >= 5) {
      refuse(link, "amqp:resource-limit-exceeded",
             "Exceeded the maximum number of allowed receivers per partition in a consumer "
             "group which is 5.");
      return false;
    }
    return true;
  }

  void on_link_open(pn_link_t* link) {
    pn_connection_t* c = pn_session_connection(pn_link_session(link));
    LinkState& ls = links[link];
    ls.link = link;
    connections[c].links.push_back(link);
    const bool we_send = pn_link_is_sender(link);
    const std::string address =
        terminus_address(we_send ? pn_link_remote_source(link) : pn_link_remote_target(link));
    const std::string path = entity_path(address);
    ls.path = path;
    const auto parts = split(path, '/');
    if (trace) {
      std::fprintf(stderr, "eventhubs-emulator: attach %s '%s' (%s)\n", we_send ? "from" : "to",
                   address.c_str(), pn_link_name(link));
    }

    if (path == "$cbs") {
      ls.kind = we_send ? LinkKind::cbs_replies : LinkKind::cbs_requests;
      accept(link);
      return;
    }
    if (path == "$management" || (parts.size() == 2 && parts[1] == "$management")) {
      ls.kind = we_send ? LinkKind::mgmt_replies : LinkKind::mgmt_requests;
      accept(link);
      return;
    }
    if (connections[c].iothub) {
      if (we_send) {
        redirect_iothub(c, link, path);
      } else {
        accept_device_producer(c, link, ls, parts);
      }
      return;
    }
    Hub* hub = parts.empty() ? nullptr : find_hub(parts[0]);
    const std::string resource = "sb://" + lower(config.namespace_name) + "/" + lower(path);
    if (!authorized(c, path)) {
      refuse(link, "amqp:unauthorized-access",
             std::string("Unauthorized access. '") + (we_send ? "Listen" : "Send") +
                 "' claim(s) are required to perform this operation. Resource: '" + resource +
                 "'.");
      return;
    }
    if (hub == nullptr) {
      refuse(link, "amqp:not-found",
             "The messaging entity '" + config.namespace_name + ":eventhub:" +
                 (parts.empty() ? std::string() : parts[0]) + "' could not be found.");
      return;
    }
    ls.hub = hub;
    if (!we_send) {
      // A producer: <hub> or <hub>/Partitions/<id>.
      ls.kind = LinkKind::producer;
      if (parts.size() == 3 && lower(parts[1]) == "partitions") {
        ls.partition = hub->partition(parts[2]);
        if (ls.partition == nullptr) {
          refuse(link, "com.microsoft:argument-out-of-range",
                 "The specified partition is invalid for an EventHub partition sender or "
                 "receiver.");
          return;
        }
      } else if (parts.size() != 1) {
        refuse(link, "amqp:not-found", "The messaging entity '" + path + "' could not be found.");
        return;
      }
      accept(link);
      return;
    }
    // A consumer: <hub>/ConsumerGroups/<cg>/Partitions/<id>.
    ls.kind = LinkKind::consumer;
    if (parts.size() != 5 || lower(parts[1]) != "consumergroups" ||
        lower(parts[3]) != "partitions") {
      refuse(link, "amqp:not-found", "The messaging entity '" + path + "' could not be found.");
      return;
    }
    if (!hub->has_consumer_group(parts[2])) {
      refuse(link, "amqp:not-found",
             "The messaging entity '" + config.namespace_name + ":eventhub:" + hub->name + "|" +
                 parts[2] + "' could not be found.");
      return;
    }
    ls.consumer_group = lower(parts[2]);
    ls.partition = hub->partition(parts[4]);
    if (ls.partition == nullptr) {
      refuse(link, "com.microsoft:argument-out-of-range",
             "The specified partition is invalid for an EventHub partition sender or receiver.");
      return;
    }
    StartSelector selector; // no filter: the start of the stream
    if (const auto expr = filter_expression(link)) {
      const auto parsed = parse_start_selector(*expr);
      if (!parsed) {
        refuse(link, "com.microsoft:argument-error", "Invalid filter expression '" + *expr + "'.");
        return;
      }
      selector = *parsed;
    }
    read_link_properties(link, ls);
    if (!admit_consumer(link, ls)) {
      return;
    }
    ls.next = ls.partition->start_sequence(selector);
    ls.presettled = pn_link_remote_snd_settle_mode(link) == PN_SND_SETTLED;
    ++ls.partition->consumer_attaches;
    accept(link);
  }

  static constexpr int kMaxBurst = 64;

  void pump(pn_link_t* link) {
    LinkState& ls = links[link];
    if (ls.kind != LinkKind::consumer || ls.partition == nullptr ||
        (pn_link_state(link) & PN_LOCAL_CLOSED)) {
      return;
    }
    // A lapsed token stops delivery until a put-token renews it (docs/protocols.md, "Claims-based
    // security ($cbs)"); see on_cbs_request.
    if (paused || pn_link_credit(link) <= 0 ||
        !authorized(pn_session_connection(pn_link_session(link)), ls.path)) {
      return;
    }
    Partition& p = *ls.partition;
    ls.next = std::max(ls.next, p.begin_sequence()); // past the retention: the oldest kept
    // A bounded burst per link, then the rest after the proactor has written what is queued:
    // a whole window of credit at once piles its frames up in the transport's output buffer,
    // which Proton compacts after every partial socket write.
    for (int burst = 0; pn_link_credit(link) > 0; ++burst) {
      const StoredEvent* e = p.at(ls.next);
      if (e == nullptr) {
        break;
      }
      if (burst == kMaxBurst) {
        pn_connection_wake(pn_session_connection(pn_link_session(link)));
        break;
      }
      if (latency_ms > 0 && e->enqueued_ms + latency_ms > now_ms()) {
        arm_timer(e->enqueued_ms + latency_ms); // the timeout wakes every consumer
        break;
      }
      ++ls.next;
      ++p.deliveries;
      send_bytes(link, e->message, ls.presettled);
    }
  }

  // The annotations the service adds to an event (docs/protocols.md, "Received events", and
  // docs/protocols.md, "Received events" for a device's telemetry through the IoT Hub front end).
  using Annotation =
      std::pair<std::string, std::variant<std::int64_t, std::string, proton::timestamp>>;
  static std::vector<Annotation> service_annotations(const StoredEvent& e,
                                                     const std::string& device_id) {
    std::vector<Annotation> out = {{"x-opt-sequence-number", e.sequence_number},
                                   {"x-opt-offset", std::to_string(e.offset)},
                                   {"x-opt-enqueued-time", proton::timestamp(e.enqueued_ms)}};
    if (!e.partition_key.empty()) {
      out.emplace_back("x-opt-partition-key", e.partition_key);
    }
    if (!device_id.empty()) {
      out.emplace_back("iothub-connection-device-id", device_id);
      out.emplace_back("iothub-connection-auth-method",
                       std::string(R"({"scope":"hub","type":"sas","issuer":"iothub",)"
                                   R"("acceptingIpFilterRule":null})"));
      out.emplace_back("iothub-connection-auth-generation-id", std::string("638000000000000000"));
      out.emplace_back("iothub-enqueuedtime", proton::timestamp(e.enqueued_ms));
      out.emplace_back("iothub-message-source", std::string("Telemetry"));
    }
    return out;
  }

  // The event as receivers get it: the producer's message with the service's annotations,
  // encoded once.
  static std::string stamp(const std::string& produced, const StoredEvent& e,
                           const std::string& device_id) {
    const auto added = service_annotations(e, device_id);
    try {
      proton::message m;
      m.decode(std::vector<char>(produced.begin(), produced.end()));
      auto& annotations = m.message_annotations();
      for (const auto& [name, value] : added) {
        std::visit([&](const auto& v) { annotations.put(proton::symbol(name), v); }, value);
      }
      return encode(m);
    } catch (const proton::error&) {
      // Proton's C++ message keeps application properties as scalars and refuses a described
      // value there, which AMQP allows and the service forwards as it came: such a message is
      // stamped through the C API, which keeps every value.
      return stamp_keeping_every_value(produced, added);
    }
  }

  static std::string stamp_keeping_every_value(const std::string& produced,
                                               const std::vector<Annotation>& added) {
    pn_message_t* m = pn_message();
    std::string out;
    if (pn_message_decode(m, produced.data(), produced.size()) == 0) {
      pn_data_t* annotations = pn_message_annotations(m);
      // Existing annotations stay; the service's are appended (producers may not set them).
      pn_data_rewind(annotations);
      if (!pn_data_next(annotations)) {
        pn_data_put_map(annotations);
      }
      pn_data_rewind(annotations);
      pn_data_next(annotations);
      pn_data_enter(annotations);
      std::vector<std::string> present; // keys the producer set (x-opt-partition-key)
      for (bool key = true; pn_data_next(annotations); key = !key) {
        if (key && pn_data_type(annotations) == PN_SYMBOL) {
          const pn_bytes_t b = pn_data_get_symbol(annotations);
          present.emplace_back(b.start, b.size);
        }
      }
      for (const auto& [name, value] : added) {
        if (std::find(present.begin(), present.end(), name) != present.end()) {
          continue;
        }
        pn_data_put_symbol(annotations, pn_bytes(name.size(), name.data()));
        if (const auto* n = std::get_if<std::int64_t>(&value)) {
          pn_data_put_long(annotations, *n);
        } else if (const auto* text = std::get_if<std::string>(&value)) {
          pn_data_put_string(annotations, pn_bytes(text->size(), text->data()));
        } else {
          pn_data_put_timestamp(annotations, std::get<proton::timestamp>(value).milliseconds());
        }
      }
      pn_data_exit(annotations);
      std::vector<char> buffer(produced.size() + 1024);
      std::size_t size = buffer.size();
      while (pn_message_encode(m, buffer.data(), &size) == PN_OVERFLOW) {
        buffer.resize(buffer.size() * 2);
        size = buffer.size();
      }
      out.assign(buffer.data(), size);
    }
    pn_message_free(m);
    return out.empty() ? produced : out;
  }

  // Keeps one produced event in `p`, stamped, and in the data directory when there is one.
  void enqueue(Partition& p, const std::string& produced, const std::string& partition_key,
               const std::string& device_id, std::int64_t now) {
    StoredEvent& e = p.append(produced, partition_key, now);
    e.message = stamp(produced, e, device_id);
    if (const auto it = log_of.find(&p); it != log_of.end() && !it->second->append(e)) {
      std::fprintf(stderr,
                   "eventhubs-emulator: cannot write partition %s to the data "
                   "directory\n",
                   p.id.c_str());
    }
  }

  void arm_timer(std::int64_t due_ms) {
    if (!timer_due_ms || due_ms < *timer_due_ms) {
      timer_due_ms = due_ms;
      pn_proactor_set_timeout(
          proactor, static_cast<pn_millis_t>(std::max<std::int64_t>(due_ms - now_ms(), 0)));
    }
  }

  // On the proactor timeout: closes connections that put no valid token within the grace
  // period (docs/protocols.md, "Claims-based security ($cbs)"), and wakes consumers whose delayed
  // events may now be due.
  void on_timer() {
    timer_due_ms.reset();
    const std::int64_t now = now_ms();
    for (auto& [c, cs] : connections) {
      if (!cs.grants.empty() || cs.opened_ms == 0 || (pn_connection_state(c) & PN_LOCAL_CLOSED)) {
        continue;
      }
      if (now >= cs.opened_ms + config.auth_grace_ms) {
        pn_condition_t* cond = pn_connection_condition(c);
        pn_condition_set_name(cond, "amqp:unauthorized-access");
        const std::string why = "The connection was closed because no valid token was put on "
                                "$cbs within " +
                                std::to_string(config.auth_grace_ms) + " ms of opening it.";
        pn_condition_set_description(cond, why.c_str());
        to_close.push_back(c);
        pn_connection_wake(c);
      } else {
        arm_timer(cs.opened_ms + config.auth_grace_ms);
      }
    }
    wake_consumers();
  }

  // A producer's transfer: one event, or a batch whose data sections are events (docs/protocols.md,
  // "Event bodies").
  void on_produced(pn_link_t* link, pn_delivery_t* d, const std::string& bytes) {
    LinkState& ls = links[link];
    if (bytes.size() > config.max_message_size) {
      pn_condition_t* cond = pn_disposition_condition(pn_delivery_local(d));
      pn_condition_set_name(cond, "amqp:link:message-size-exceeded");
      const std::string description = "The received message (size:" + std::to_string(bytes.size()) +
                                      " bytes) exceeds the limit (" +
                                      std::to_string(config.max_message_size) +
                                      " bytes) currently allowed on the link.";
      pn_condition_set_description(cond, description.c_str());
      pn_delivery_update(d, PN_REJECTED);
      return;
    }
    std::vector<Section> sections;
    if (!split_sections(bytes, sections)) {
      pn_condition_t* cond = pn_disposition_condition(pn_delivery_local(d));
      pn_condition_set_name(cond, "amqp:decode-error");
      pn_condition_set_description(cond, "The message could not be decoded.");
      pn_delivery_update(d, PN_REJECTED);
      return;
    }
    std::string key;
    std::vector<std::string> inner;
    bool batch = true;
    for (const auto& s : sections) {
      if (s.code == kSectionMessageAnnotations) {
        key = annotation_partition_key(s.raw);
      } else if (s.code == kSectionData) {
        std::string payload = section_binary(s.raw);
        std::vector<Section> inner_sections;
        if (!split_sections(payload, inner_sections)) {
          batch = false;
        }
        inner.push_back(std::move(payload));
      } else if (s.code == kSectionValue || s.code == kSectionSequence) {
        batch = false; // a batch envelope's body is data sections only
      }
    }
    batch = batch && !inner.empty();
    if (trace) {
      std::fprintf(stderr, "eventhubs-emulator: transfer of %zu bytes: %s of %zu\n", bytes.size(),
                   batch ? "batch" : "single event", batch ? inner.size() : std::size_t{1});
    }
    const std::int64_t now = now_ms();
    std::vector<Partition*> touched;
    // Device telemetry is partitioned by device (IoT Hub does the same) and carries no key.
    const std::string& route_key = ls.device_id.empty() ? key : ls.device_id;
    auto store = [&](const std::string& message, const std::string& partition_key) {
      Partition& p = ls.partition != nullptr ? *ls.partition : ls.hub->route(route_key);
      enqueue(p, message, partition_key, ls.device_id, now);
      if (std::find(touched.begin(), touched.end(), &p) == touched.end()) {
        touched.push_back(&p);
      }
    };
    if (batch) {
      for (const auto& m : inner) {
        store(m, key);
      }
    } else {
      store(bytes, key);
    }
    pn_delivery_update(d, PN_ACCEPTED);
    // Wake the connections of consumers that can now see new events.
    for (auto& [l, state] : links) {
      if (state.kind == LinkKind::consumer &&
          std::find(touched.begin(), touched.end(), state.partition) != touched.end()) {
        pn_connection_wake(pn_session_connection(pn_link_session(l)));
      }
    }
  }

  void on_delivery(pn_delivery_t* d) {
    pn_link_t* link = pn_delivery_link(d);
    if (pn_link_is_sender(link)) {
      if (pn_delivery_remote_state(d) != 0 || pn_delivery_settled(d)) {
        pn_delivery_settle(d); // outcomes are ignored: no redelivery (docs/protocols.md, "Receiver
                               // links and start positions")
      }
      return;
    }
    if (!pn_delivery_readable(d) || pn_delivery_partial(d)) {
      return;
    }
    std::string bytes(pn_delivery_pending(d), '\0');
    std::size_t got = 0;
    while (true) {
      if (got == bytes.size()) {
        bytes.resize(bytes.size() + 4096);
      }
      const ssize_t n = pn_link_recv(link, bytes.data() + got, bytes.size() - got);
      if (n <= 0) {
        break;
      }
      got += static_cast<std::size_t>(n);
    }
    bytes.resize(got);
    pn_link_advance(link);
    pn_connection_t* c = pn_session_connection(pn_link_session(link));
    const LinkState& ls = links[link];
    if (ls.kind == LinkKind::producer) {
      on_produced(link, d, bytes);
    } else {
      proton::message m;
      try {
        m.decode(std::vector<char>(bytes.begin(), bytes.end()));
      } catch (const std::exception&) {
        pn_delivery_update(d, PN_REJECTED);
        pn_delivery_settle(d);
        return;
      }
      pn_delivery_update(d, PN_ACCEPTED);
      if (ls.kind == LinkKind::cbs_requests) {
        on_cbs_request(c, m);
      } else if (ls.kind == LinkKind::mgmt_requests) {
        on_management_request(c, m);
      }
    }
    pn_delivery_settle(d);
    if (pn_link_credit(link) < config.link_credit / 2) {
      pn_link_flow(link, config.link_credit - pn_link_credit(link));
    }
  }

  void forget_link(pn_link_t* link) {
    auto it = links.find(link);
    if (it == links.end()) {
      return;
    }
    pn_connection_t* c = pn_session_connection(pn_link_session(link));
    auto cit = connections.find(c);
    if (cit != connections.end()) {
      auto& v = cit->second.links;
      v.erase(std::remove(v.begin(), v.end(), link), v.end());
    }
    links.erase(it);
  }

  void on_wake(pn_connection_t* c) {
    const auto it = connections.find(c);
    if (it == connections.end()) {
      return;
    }
    if (std::find(to_close.begin(), to_close.end(), c) != to_close.end()) {
      to_close.erase(std::remove(to_close.begin(), to_close.end(), c), to_close.end());
      pn_connection_close(c);
      return;
    }
    if (std::find(to_drop.begin(), to_drop.end(), c) != to_drop.end()) {
      to_drop.erase(std::remove(to_drop.begin(), to_drop.end(), c), to_drop.end());
      pn_transport_t* t = pn_connection_transport(c);
      pn_condition_t* cond = pn_transport_condition(t);
      pn_condition_set_name(cond, "amqp:connection:forced");
      pn_condition_set_description(cond, "The emulator dropped the connection (fault injection).");
      pn_transport_close_tail(t);
      pn_transport_close_head(t);
      return;
    }
    for (pn_link_t* l : std::vector<pn_link_t*>(it->second.links)) {
      LinkState& ls = links[l];
      if (ls.pending_close && !(pn_link_state(l) & PN_LOCAL_CLOSED)) {
        pn_condition_set_name(pn_link_condition(l), ls.pending_close->first.c_str());
        pn_condition_set_description(pn_link_condition(l), ls.pending_close->second.c_str());
        pn_link_close(l);
        continue;
      }
      pump(l);
    }
  }

  // ---- faults and work from other threads ----

  void wake_consumers() {
    for (auto& [l, ls] : links) {
      if (ls.kind == LinkKind::consumer) {
        pn_connection_wake(pn_session_connection(pn_link_session(l)));
      }
    }
  }

  void run_inbox() {
    std::deque<std::pair<std::function<std::string()>, std::promise<std::string>>> work;
    {
      std::lock_guard lock(inbox_mutex);
      work.swap(inbox);
    }
    for (auto& [fn, done] : work) {
      done.set_value(fn());
    }
  }

  std::string post(std::function<std::string()> fn) {
    std::promise<std::string> done;
    auto result = done.get_future();
    {
      std::lock_guard lock(inbox_mutex);
      if (proactor == nullptr) {
        return "error: the emulator is not running";
      }
      inbox.emplace_back(std::move(fn), std::move(done));
      pn_proactor_interrupt(proactor);
    }
    if (result.wait_for(std::chrono::seconds(10)) != std::future_status::ready) {
      return "error: the emulator did not apply the request within 10 s";
    }
    return result.get();
  }

  std::string apply(const Fault& f) {
    switch (f.kind) {
    case Fault::Kind::drop_connections: {
      for (auto& [c, cs] : connections) {
        to_drop.push_back(c);
        pn_connection_wake(c);
      }
      return "dropping " + std::to_string(to_drop.size()) + " connection(s)";
    }
    case Fault::Kind::detach: {
      Hub* hub = find_hub(f.hub);
      Partition* p = hub != nullptr ? hub->partition(f.partition) : nullptr;
      if (p == nullptr) {
        return "error: no partition '" + f.partition + "' in hub '" + f.hub + "'";
      }
      std::size_t n = 0;
      for (auto& [l, ls] : links) {
        if (ls.kind == LinkKind::consumer && ls.partition == p && !ls.pending_close) {
          close_elsewhere(l, f.condition, f.description);
          ++n;
        }
      }
      return "detaching " + std::to_string(n) + " receiver(s) with " + f.condition;
    }
    case Fault::Kind::pause:
      paused = true;
      return "delivery paused";
    case Fault::Kind::resume:
      paused = false;
      wake_consumers();
      return "delivery resumed";
    case Fault::Kind::latency:
      latency_ms = f.number;
      wake_consumers();
      return "delivery latency " + std::to_string(f.number) + " ms";
    case Fault::Kind::refuse_connections:
      refuse_until_ms = now_ms() + f.number * 1000;
      return "refusing new connections for " + std::to_string(f.number) + " s";
    case Fault::Kind::iothub_failover: {
      if (iothub_listener == nullptr) {
        return "error: there is no IoT Hub front end (--iothub)";
      }
      // As after an IoT Hub failover: the endpoint has a new name and address, and the old
      // one refuses connections.
      const int port = emulators::free_port(config.host);
      if (port <= 0) {
        return "error: no free port for the new endpoint";
      }
      pn_listener_close(listener);
      listener = pn_listener();
      const std::string addr = config.host + ":" + std::to_string(port);
      pn_proactor_listen(proactor, listener, addr.c_str(), 64);
      redirect_port = ports.amqp = port;
      redirect_namespace = "failover" + std::to_string(++failovers) + "-" + redirect_namespace;
      for (auto& [c, cs] : connections) {
        if (!cs.iothub) {
          to_drop.push_back(c);
          pn_connection_wake(c);
        }
      }
      return "failover port " + std::to_string(port) + " namespace " + redirect_namespace;
    }
    case Fault::Kind::create_consumer_group: {
      Hub* hub = find_hub(f.hub);
      if (hub == nullptr || f.name.empty()) {
        return "error: no hub '" + f.hub + "' or no consumer group name";
      }
      if (!hub->has_consumer_group(f.name)) {
        hub->consumer_groups.push_back(f.name);
      }
      return "consumer group '" + f.name + "' in hub '" + hub->name + "'";
    }
    case Fault::Kind::reset:
      paused = false;
      latency_ms = 0;
      refuse_until_ms = 0;
      wake_consumers();
      return "faults cleared";
    }
    return "error: unknown fault";
  }

  std::string status_json() {
    std::string out = "{\"connections\":" + std::to_string(connections.size()) +
                      ",\"paused\":" + (paused ? "true" : "false") +
                      ",\"latency_ms\":" + std::to_string(latency_ms) + ",\"hubs\":{";
    for (std::size_t h = 0; h < hubs.size(); ++h) {
      out += (h > 0 ? ",\"" : "\"") + hubs[h].name + "\":{";
      for (std::size_t i = 0; i < hubs[h].partitions.size(); ++i) {
        const Partition& p = hubs[h].partitions[i];
        std::size_t receivers = 0;
        std::size_t blocked = 0; // attached, but no token on their connection covers them now
        for (auto& [l, ls] : links) {
          if (ls.kind == LinkKind::consumer && ls.partition == &p) {
            ++receivers;
            blocked += authorized(pn_session_connection(pn_link_session(l)), ls.path) ? 0 : 1;
          }
        }
        out += (i > 0 ? ",\"" : "\"") + p.id + "\":{\"events\":" + std::to_string(p.events.size()) +
               ",\"receivers\":" + std::to_string(receivers) +
               ",\"blocked_receivers\":" + std::to_string(blocked) +
               ",\"consumer_attaches\":" + std::to_string(p.consumer_attaches) +
               ",\"deliveries\":" + std::to_string(p.deliveries) + "}";
      }
      out += "}";
    }
    return out + "}}";
  }

  // ---- the loop ----

  bool handle(pn_event_t* e) {
    if (trace) {
      std::fprintf(stderr, "eventhubs-emulator: %s\n", pn_event_type_name(pn_event_type(e)));
    }
    switch (pn_event_type(e)) {
    case PN_LISTENER_OPEN: {
      pn_listener_t* l = pn_event_listener(e);
      char host[256];
      char port[16];
      pn_netaddr_host_port(pn_listener_addr(l), host, sizeof host, port, sizeof port);
      if (l != listener && l != tls_listener && l != iothub_listener) {
        break; // a failover's listener: its port was chosen before
      }
      (l == tls_listener      ? ports.amqps
       : l == iothub_listener ? ports.iothub
                              : ports.amqp) = std::atoi(port);
      if (l == listener) {
        redirect_port = ports.amqp;
      }
      if (++listeners_open ==
          1 + (tls_listener != nullptr ? 1 : 0) + (iothub_listener != nullptr ? 1 : 0)) {
        on_listening(ports);
      }
      break;
    }
    case PN_LISTENER_ACCEPT: {
      pn_listener_t* l = pn_event_listener(e);
      pn_connection_t* c = pn_connection();
      pn_transport_t* t = pn_transport();
      pn_transport_set_server(t);
      pn_transport_require_auth(t, false); // the C++ SDK's uAMQP sends no SASL layer
                                           // (docs/protocols.md, "Claims-based security ($cbs)")
      pn_sasl_t* sasl = pn_sasl(t);
      pn_sasl_allowed_mechs(sasl, "ANONYMOUS PLAIN EXTERNAL");
      pn_sasl_set_allow_insecure_mechs(sasl, true);
      if (l == tls_listener) {
        pn_ssl_init(pn_ssl(t), tls_domain, nullptr);
      }
      pn_listener_accept2(l, c, t);
      connections[c].iothub = l == iothub_listener;
      break;
    }
    case PN_LISTENER_CLOSE: {
      pn_condition_t* cond = pn_listener_condition(pn_event_listener(e));
      if (pn_condition_is_set(cond)) {
        std::fprintf(stderr, "eventhubs-emulator: listen failed: %s\n",
                     pn_condition_get_description(cond));
        listening_failed = true;
        return false;
      }
      break;
    }
    case PN_CONNECTION_REMOTE_OPEN: {
      pn_connection_t* c = pn_event_connection(e);
      pn_connection_set_container(c, ("eventhubs-emulator:" + config.namespace_name).c_str());
      pn_connection_open(c);
      connections[c].opened_ms = now_ms();
      arm_timer(connections[c].opened_ms + config.auth_grace_ms);
      if (now_ms() < refuse_until_ms) {
        pn_condition_t* cond = pn_connection_condition(c);
        pn_condition_set_name(cond, "amqp:connection:forced");
        pn_condition_set_description(cond,
                                     "The emulator refuses new connections (fault injection).");
        pn_connection_close(c);
      }
      break;
    }
    case PN_SESSION_REMOTE_OPEN:
      pn_session_open(pn_event_session(e));
      break;
    case PN_LINK_REMOTE_OPEN:
      on_link_open(pn_event_link(e));
      break;
    case PN_LINK_FLOW:
      if (pn_link_is_sender(pn_event_link(e))) {
        pump(pn_event_link(e));
      }
      break;
    case PN_DELIVERY:
      on_delivery(pn_event_delivery(e));
      break;
    case PN_CONNECTION_WAKE:
      on_wake(pn_event_connection(e));
      break;
    case PN_LINK_REMOTE_CLOSE:
    case PN_LINK_REMOTE_DETACH: {
      pn_link_t* l = pn_event_link(e);
      links[l].pending_close.reset();
      if (!(pn_link_state(l) & PN_LOCAL_CLOSED)) {
        pn_link_close(l);
      }
      links[l].kind = LinkKind::producer; // no longer a consumer of anything
      links[l].partition = nullptr;
      break;
    }
    case PN_LINK_FINAL:
      forget_link(pn_event_link(e));
      break;
    case PN_SESSION_REMOTE_CLOSE:
      pn_session_close(pn_event_session(e));
      break;
    case PN_CONNECTION_REMOTE_CLOSE:
      pn_connection_close(pn_event_connection(e));
      break;
    case PN_TRANSPORT_CLOSED: {
      pn_connection_t* c = pn_event_connection(e);
      if (c != nullptr) {
        const auto it = connections.find(c);
        if (it != connections.end()) {
          for (pn_link_t* l : it->second.links) {
            links.erase(l);
          }
          connections.erase(it);
        }
      }
      break;
    }
    case PN_TRANSPORT_ERROR:
      if (trace) {
        pn_condition_t* cond = pn_transport_condition(pn_event_transport(e));
        std::fprintf(stderr, "eventhubs-emulator: transport error %s: %s\n",
                     pn_condition_get_name(cond), pn_condition_get_description(cond));
      }
      break;
    case PN_PROACTOR_INTERRUPT:
      if (stop_requested) {
        return false;
      }
      run_inbox();
      break;
    case PN_PROACTOR_TIMEOUT:
      on_timer();
      break;
    default:
      break;
    }
    return true;
  }

  bool preload() {
    if (config.preload_events == 0) {
      return true;
    }
    std::vector<std::string> lines;
    if (FILE* f = std::fopen(config.preload_file.c_str(), "rb")) {
      char* line = nullptr;
      std::size_t capacity = 0;
      ssize_t n = 0;
      while ((n = getline(&line, &capacity, f)) > 0) {
        std::string text(line, static_cast<std::size_t>(n));
        while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) {
          text.pop_back();
        }
        if (!text.empty()) {
          lines.push_back(std::move(text));
        }
      }
      std::free(line);
      std::fclose(f);
    }
    if (lines.empty() || hubs.empty()) {
      std::fprintf(stderr, "eventhubs-emulator: --preload: no events in '%s'\n",
                   config.preload_file.c_str());
      return false;
    }
    Hub& hub = hubs.front();
    const std::int64_t now = now_ms();
    for (std::size_t i = 0; i < config.preload_events; ++i) {
      proton::message m;
      const std::string& text = lines[i % lines.size()];
      m.body(proton::binary(text.begin(), text.end()));
      m.inferred(true); // a data section, as producers send events
      enqueue(hub.partitions[i % hub.partitions.size()], encode(m), "", "", now);
    }
    return true;
  }

  // Reads each partition's log from the data directory (<dir>/<hub>/<partition>.log) and keeps
  // it open for appending.
  bool open_data_directory() {
    if (config.data_directory.empty()) {
      return true;
    }
    for (auto& hub : hubs) {
      const std::string dir = config.data_directory + "/" + hub.name;
      std::error_code ec;
      std::filesystem::create_directories(dir, ec);
      if (ec) {
        std::fprintf(stderr, "eventhubs-emulator: --data-dir: cannot create '%s': %s\n",
                     dir.c_str(), ec.message().c_str());
        return false;
      }
      for (auto& p : hub.partitions) {
        auto log = std::make_unique<PartitionLog>();
        if (const auto error = log->open(dir + "/" + p.id + ".log", p)) {
          std::fprintf(stderr, "eventhubs-emulator: --data-dir: %s\n", error->c_str());
          return false;
        }
        log_of[&p] = log.get();
        logs.push_back(std::move(log));
      }
    }
    return true;
  }

  int run() {
    if (!open_data_directory() || !preload()) {
      return 1;
    }
    {
      std::lock_guard lock(inbox_mutex);
      proactor = pn_proactor();
    }
    redirect_namespace =
        config.iothub_eventhub_namespace.empty() ? config.host : config.iothub_eventhub_namespace;
    listener = pn_listener();
    const std::string addr = config.host + ":" + std::to_string(config.port);
    pn_proactor_listen(proactor, listener, addr.c_str(), 64);
    if (config.tls_port >= 0) {
      tls_domain = pn_ssl_domain(PN_SSL_MODE_SERVER);
      if (pn_ssl_domain_set_credentials(tls_domain, config.tls_certificate.c_str(),
                                        config.tls_key.c_str(), nullptr) != 0) {
        std::fprintf(stderr,
                     "eventhubs-emulator: cannot use the TLS certificate '%s' and key '%s'\n",
                     config.tls_certificate.c_str(), config.tls_key.c_str());
        pn_proactor_free(proactor);
        proactor = nullptr;
        return 1;
      }
      tls_listener = pn_listener();
      const std::string tls_addr = config.host + ":" + std::to_string(config.tls_port);
      pn_proactor_listen(proactor, tls_listener, tls_addr.c_str(), 64);
    }
    if (!config.iothub_name.empty()) {
      iothub_listener = pn_listener();
      const std::string iot_addr = config.host + ":" + std::to_string(config.iothub_port);
      pn_proactor_listen(proactor, iothub_listener, iot_addr.c_str(), 64);
    }
    bool running = true;
    while (running) {
      pn_event_batch_t* batch = pn_proactor_wait(proactor);
      while (pn_event_t* e = pn_event_batch_next(batch)) {
        if (!handle(e)) {
          running = false;
        }
      }
      pn_proactor_done(proactor, batch);
    }
    {
      std::lock_guard lock(inbox_mutex);
      pn_proactor_free(proactor);
      proactor = nullptr;
      for (auto& [fn, done] : inbox) {
        done.set_value("error: the emulator stopped");
      }
      inbox.clear();
    }
    if (tls_domain != nullptr) {
      pn_ssl_domain_free(tls_domain);
    }
    return listening_failed ? 1 : 0;
  }
};

Server::Server(EmulatorConfig config) : impl_(std::make_unique<Impl>(std::move(config))) {}
Server::~Server() = default;

int Server::run(const std::function<void(const ListeningPorts&)>& on_listening) {
  impl_->on_listening = on_listening;
  return impl_->run();
}

void Server::stop() {
  std::lock_guard lock(impl_->inbox_mutex);
  impl_->stop_requested = true;
  if (impl_->proactor != nullptr) {
    pn_proactor_interrupt(impl_->proactor);
  }
}

std::string Server::inject(const Fault& fault) {
  return impl_->post([this, fault] { return impl_->apply(fault); });
}

std::string Server::status() {
  return impl_->post([this] { return impl_->status_json(); });
}

} // namespace hub2kusto::emulator
