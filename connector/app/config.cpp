#include "app/config.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <fstream>
#include <set>
#include <sstream>

#include <fmt/format.h>

#include "app/credential_config.hpp"
#include "app/store_config.hpp"
#include "azure/storage_connection_string.hpp"
#include "azure/token_provider.hpp"
#include "base/files.hpp"
#include "base/text.hpp"
#include "common/iso8601.hpp"
#include "common/key_value_list.hpp"
#include "common/proxy.hpp"
#include "common/redact.hpp"
#include "mappings/format.hpp"

extern char** environ; // NOLINT: POSIX

namespace hub2kusto::app {
namespace {

bool is_alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

// Event Hubs entity names: 1-256 letters, digits, '.', '-', '_', starting and ending with a
// letter or digit.
std::optional<std::string> check_event_hubs_name(std::string_view name, std::size_t max) {
  if (name.empty() || name.size() > max) {
    return fmt::format("must be 1 to {} characters", max);
  }
  for (const char c : name) {
    if (!is_alnum(c) && c != '.' && c != '-' && c != '_') {
      return std::string("may contain only letters, digits, '.', '-' and '_'");
    }
  }
  if (!is_alnum(name.front()) || !is_alnum(name.back())) {
    return std::string("must start and end with a letter or digit");
  }
  return std::nullopt;
}

// Kusto entity names: 1-1024 letters, digits, '_', ' ', '.', '-'.
std::optional<std::string> check_kusto_name(std::string_view name) {
  if (name.empty() || name.size() > 1024) {
    return std::string("must be 1 to 1024 characters");
  }
  for (const char c : name) {
    if (!is_alnum(c) && c != '_' && c != ' ' && c != '.' && c != '-') {
      return std::string("may contain only letters, digits, '_', ' ', '.' and '-'");
    }
  }
  return std::nullopt;
}

void read_source(Section s, SourceConfig& out, const std::optional<azure::Credential>& shared,
                 std::vector<std::string>& warnings) {
  auto cs = s.string("connection_string", Sensitivity::secret);
  const auto fqns = s.string("fully_qualified_namespace");
  const auto credential = read_credential(s.section("credential"));
  const auto event_hub = s.string("event_hub");
  const auto consumer_group = s.string("consumer_group");
  const auto start = s.string("start_position");
  const auto owner_level = s.integer("owner_level", 0, std::numeric_limits<std::int64_t>::max());
  const auto partitions = s.string_list("partitions");
  const auto ca_file = s.string("ca_file");
  const auto transport = s.string("transport");
  const auto proxy = s.string("proxy", Sensitivity::secret);
  const auto prefetch = s.integer("prefetch", 2, 100'000);
  const auto max_buffered_bytes = s.byte_size("max_buffered_bytes", 64ULL << 10, 4ULL << 30);
  s.finish();

  if (prefetch) {
    out.prefetch = static_cast<std::uint32_t>(*prefetch);
  }
  if (max_buffered_bytes) {
    out.max_buffered_bytes = *max_buffered_bytes;
  }
  if (fqns && cs) {
    s.problem("fully_qualified_namespace", "give the namespace or a connection string, not both");
  } else if (fqns) {
    // The namespace alone, as the SDKs take it with a credential: a connection string without
    // a key says the same.
    cs = fmt::format("Endpoint=sb://{}/", *fqns);
  }
  if (!cs) {
    s.problem("connection_string", "required: the Event Hubs or IoT Hub connection string (or "
                                   "fully_qualified_namespace with a credential)");
  } else {
    out.connection_string = Secret(*cs);
    auto parsed = parse_hub_connection_string(*cs);
    if (!parsed) {
      s.problem("connection_string", parsed.error().message);
    } else {
      out.connection = std::move(parsed).value();
      std::visit(
          [&](const auto& c) {
            for (const auto& key : c.ignored_keys) {
              warnings.push_back(
                  fmt::format("{}: ignored unknown key '{}'", s.path_of("connection_string"), key));
            }
          },
          out.connection);
      if (const auto* eh = std::get_if<EventHubsConnectionString>(&out.connection)) {
        if (event_hub && !eh->entity_path.empty() && !text::iequals(*event_hub, eh->entity_path)) {
          s.problem("event_hub", fmt::format("'{}' differs from the connection string's "
                                             "EntityPath '{}'",
                                             *event_hub, eh->entity_path));
        } else if (!event_hub && eh->entity_path.empty()) {
          s.problem("event_hub", "required: the connection string has no EntityPath, so name "
                                 "the Event Hub here");
        } else {
          out.event_hub = EventHubName(event_hub ? *event_hub : eh->entity_path);
          if (auto why = check_event_hubs_name(out.event_hub.value(), 256)) {
            s.problem("event_hub", fmt::format("'{}' {}", out.event_hub.value(), *why));
          }
        }
      } else if (event_hub) {
        s.problem("event_hub", "must not be set for an IoT Hub: the Event Hub-compatible name "
                               "is discovered from the hub");
      }
      read_source_credential(s, out, credential, shared);
    }
  }
  if (consumer_group) {
    if (*consumer_group != "$Default") {
      if (auto why = check_event_hubs_name(*consumer_group, 50)) {
        s.problem("consumer_group", fmt::format("'{}' {}", *consumer_group, *why));
      }
    }
    out.consumer_group = ConsumerGroup(*consumer_group);
  }
  if (start) {
    if (*start == "earliest") {
      out.start_position.kind = StartPosition::Kind::earliest;
    } else if (*start == "latest") {
      out.start_position.kind = StartPosition::Kind::latest;
    } else if (const auto tp = parse_iso8601_utc(*start)) {
      out.start_position = {StartPosition::Kind::enqueued_time, *tp};
    } else {
      s.problem("start_position", fmt::format("'{}' is not earliest, latest or an ISO 8601 "
                                              "time with a zone such as 2026-01-31T00:00:00Z",
                                              *start));
    }
  }
  out.owner_level = owner_level;
  if (partitions) {
    std::set<std::string> seen;
    for (const auto& p : *partitions) {
      // Event Hubs partition ids are "0", "1", ...: an empty, negative or repeated one would
      // read nothing, fail at run time or read a partition twice.
      if (p.empty() || !std::all_of(p.begin(), p.end(),
                                    [](unsigned char ch) { return std::isdigit(ch) != 0; })) {
        s.problem("partitions",
                  fmt::format("'{}' is not a partition id (0, 1, 2, ...)", printable(p, 40)));
      } else if (!seen.insert(p).second) {
        s.problem("partitions", fmt::format("partition '{}' is listed twice", p));
      } else {
        out.partitions.emplace_back(p);
      }
    }
  }
  if (ca_file) {
    if (!std::ifstream(*ca_file)) {
      s.problem("ca_file", fmt::format("cannot read the file '{}'", *ca_file));
    }
    out.ca_file = *ca_file;
  }
  const auto from_connection_string =
      std::visit([](const auto& c) { return c.transport; }, out.connection);
  out.transport = from_connection_string.value_or(HubTransport::amqp);
  if (transport) {
    if (*transport != "amqp" && *transport != "websockets") {
      s.problem("transport",
                fmt::format("'{}' is not amqp or websockets", printable(*transport, 40)));
    } else {
      const HubTransport chosen =
          *transport == "amqp" ? HubTransport::amqp : HubTransport::websockets;
      if (from_connection_string && *from_connection_string != chosen) {
        s.problem("transport", fmt::format("'{}' differs from the connection string's "
                                           "TransportType",
                                           *transport));
      }
      out.transport = chosen;
    }
  }
  if (proxy) {
    if (auto parsed = parse_proxy_url(*proxy); !parsed) {
      s.problem("proxy", parsed.error().message);
    } else {
      out.proxy = *proxy;
    }
  }
}

// target.schema / mapping_file / system_properties: the bridge maps events itself with the
// mappings/ engine (docs/architecture.md, "Data flow"). Everything is checked here, so a bad schema
// or mapping stops start-up naming the setting and the entry.
void read_local_mapping(Section& s, const std::optional<std::string>& schema,
                        const std::optional<std::string>& mapping_file,
                        const std::optional<std::vector<std::string>>& system_properties,
                        TargetConfig& out) {
  if (!schema) {
    if (mapping_file) {
      s.problem("mapping_file", "needs target.schema (the table's columns) to map events here");
    }
    if (system_properties) {
      s.problem("system_properties",
                "needs target.schema: the bridge adds system properties as columns when it maps "
                "events itself");
    }
    return;
  }
  mappings::MapperOptions options;
  auto parsed_schema = mappings::parse_schema(*schema);
  if (!parsed_schema) {
    s.problem("schema", parsed_schema.error().message);
    return;
  }
  options.schema = std::move(parsed_schema).value();
  const auto data_format = mappings::parse_data_format(ingest_format_name(out.format));
  if (!data_format) {
    s.problem("format", fmt::format("'{}' cannot be mapped here (json, multijson, singlejson, "
                                    "csv, tsv, tsve, psv, scsv, sohsv, txt, raw)",
                                    ingest_format_name(out.format)));
    return;
  }
  options.format = *data_format;
  options.output = mappings::OutputFormat::csv;
  if (out.mapping) {
    s.problem("mapping", "names a mapping stored on the table, but with target.schema the bridge "
                         "maps events itself: give the mapping's JSON in target.mapping_file");
  }
  if (mapping_file) {
    const auto text = read_whole_file(*mapping_file);
    if (!text) {
      s.problem("mapping_file", fmt::format("cannot read '{}'", *mapping_file));
      return;
    }
    auto definition = mappings::parse_mapping(*text, mappings::mapping_kind_of(options.format));
    if (!definition) {
      s.problem("mapping_file", fmt::format("'{}': {}", *mapping_file, definition.error().message));
      return;
    }
    options.mapping = std::move(definition).value();
    out.mapping_file = *mapping_file;
  }
  if (system_properties) {
    for (const auto& name : *system_properties) {
      if (mappings::find_system_property(name) == nullptr) {
        s.problem("system_properties", fmt::format("'{}' is not an event system property ADX "
                                                   "ingests (x-opt-enqueued-time, "
                                                   "x-opt-sequence-number, x-opt-offset, ...)",
                                                   name));
        return;
      }
    }
    options.system_properties = *system_properties;
  }
  if (auto mapper = mappings::Mapper::create(options); !mapper) {
    s.problem(mapping_file ? "mapping_file" : "schema", mapper.error().message);
    return;
  }
  out.schema = *schema;
  out.local_mapping = std::move(options);
}

void read_target(Section s, TargetConfig& out, const std::optional<azure::Credential>& shared,
                 std::vector<std::string>& warnings) {
  const auto cs = s.string("connection_string", Sensitivity::secret);
  const auto credential = read_credential(s.section("credential"));
  const auto database = s.string("database");
  const auto table = s.string("table");
  const auto format = s.string("format");
  const auto mapping = s.string("mapping");
  const auto schema = s.string("schema");
  const auto mapping_file = s.string("mapping_file");
  const auto system_properties = s.string_list("system_properties");
  const auto max_concurrent_requests = s.integer("max_concurrent_requests", 1, 64);
  s.finish();

  if (max_concurrent_requests) {
    out.max_concurrent_requests = static_cast<int>(*max_concurrent_requests);
  }
  bool connection_ok = false;
  if (!cs) {
    s.problem("connection_string", "required: the Kusto connection string (Data Source=...)");
  } else {
    out.connection_string = Secret(*cs);
    auto parsed = parse_kusto_connection_string(*cs);
    if (!parsed) {
      s.problem("connection_string", parsed.error().message);
    } else {
      out.connection = std::move(parsed).value();
      connection_ok = true;
      const auto& k = out.connection;
      if (k.auth != KustoAuth::none && credential) {
        s.problem("credential", fmt::format("the connection string names an identity ({}) and "
                                            "so does target.credential: keep one",
                                            to_string(k.auth)));
      }
      out.credential = credential                            ? *credential
                       : k.auth != KustoAuth::none           ? azure::kusto_credential(k)
                       : shared && !k.federated_security_off ? *shared
                                                             : azure::Credential{};
      if (k.scheme == "https" && out.credential.kind == azure::CredentialKind::none &&
          !k.federated_security_off) {
        // A real cluster refuses every request without a token; only an emulator on loopback
        // (plain http) or an operator who says so runs without one.
        s.problem("connection_string",
                  fmt::format("{} is https but names no identity, so the cluster would refuse "
                              "every request: add 'AAD Federated Security=True' with an identity "
                              "(Application Client Id, Application Key and Authority Id; Managed "
                              "Identity=system; or Workload Identity=true) or a credential, or "
                              "say 'AAD Federated Security=False' to connect without one on "
                              "purpose",
                              k.data_source()));
      }
      if (k.host.rfind("ingest-", 0) == 0) {
        warnings.push_back(fmt::format(
            "{}: Data Source {} is the data-management (ingest-) endpoint; hub2kusto needs the "
            "engine's address: it sends streaming ingestion and queries to {} and queued "
            "ingestion to {}. Name the engine to silence this",
            s.path_of("connection_string"), k.data_source(), k.engine_url(),
            k.data_management_url()));
      }
    }
  }
  if (database && database->empty()) {
    s.problem("database", "must not be empty");
  } else if (database) {
    out.database = DatabaseName(*database);
  } else if (!out.connection.initial_catalog.empty()) {
    out.database = DatabaseName(out.connection.initial_catalog);
  } else if (connection_ok) {
    s.problem("database", "required: set it here or as Initial Catalog in the connection string");
  }
  if (!out.database.value().empty()) {
    if (auto why = check_kusto_name(out.database.value())) {
      s.problem("database", fmt::format("'{}' {}", out.database.value(), *why));
    }
  }
  if (!table) {
    s.problem("table", "required: the default table events are ingested into");
  } else {
    out.table = TableName(*table);
    if (auto why = check_kusto_name(*table)) {
      s.problem("table", fmt::format("'{}' {}", *table, *why));
    }
  }
  if (format) {
    if (const auto parsed = parse_ingest_format(*format)) {
      out.format = *parsed;
    } else {
      s.problem("format", fmt::format("'{}' is not a Kusto data format (one of json, multijson, "
                                      "csv, tsv, psv, scsv, sohsv, txt, raw, avro, parquet, ...)",
                                      *format));
    }
  }
  if (mapping) {
    if (mapping->empty()) {
      s.problem("mapping", "must not be empty (omit it for no mapping)");
    }
    out.mapping = MappingName(*mapping);
  }
  read_local_mapping(s, schema, mapping_file, system_properties, out);
}

void read_batching(Section s, BatchingConfig& out) {
  const auto max_bytes = s.byte_size("max_bytes", 1024, 1ULL << 30);
  const auto max_events = s.integer("max_events", 1, 1'000'000);
  const auto linger = s.duration("linger");
  const auto idle_flush = s.duration("idle_flush");
  s.finish();
  if (idle_flush) {
    if (*idle_flush > std::chrono::minutes(5)) {
      s.problem("idle_flush", "must be at most 5m (0 turns it off)");
    } else {
      out.idle_flush = *idle_flush;
    }
  }
  if (max_bytes) {
    out.max_bytes = *max_bytes;
  }
  if (max_events) {
    out.max_events = static_cast<std::uint32_t>(*max_events);
  }
  if (linger) {
    if (*linger > std::chrono::minutes(5)) {
      s.problem("linger", "must be at most 5m");
    } else {
      out.linger = *linger;
    }
  }
}

std::string_view start_kind_name(StartPosition::Kind kind) {
  switch (kind) {
  case StartPosition::Kind::earliest:
    return "earliest";
  case StartPosition::Kind::latest:
    return "latest";
  case StartPosition::Kind::enqueued_time:
    return "enqueued-time";
  }
  return "?";
}

} // namespace

std::optional<std::uint64_t> parse_memory_limit(std::string_view text) {
  text = text::trim(text);
  std::uint64_t bytes = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), bytes);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() ||
      bytes >= (1ULL << 62)) {
    return std::nullopt;
  }
  return bytes;
}

std::optional<std::uint64_t> container_memory_limit() {
  for (const char* path :
       {"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"}) {
    std::ifstream in(path);
    std::string text;
    if (in && std::getline(in, text)) {
      return parse_memory_limit(text);
    }
  }
  return std::nullopt;
}

std::uint64_t default_max_buffered_bytes(std::optional<std::uint64_t> memory_limit) {
  if (!memory_limit) {
    return 1ULL << 30;
  }
  return std::max<std::uint64_t>(16ULL << 20, *memory_limit / 2);
}

Result<Config, ConfigProblems> load_config(const ConfigInput& input) {
  nlohmann::json root = nlohmann::json::object();
  if (input.file_path) {
    const auto file = read_whole_file(*input.file_path);
    if (!file) {
      return failure(ConfigProblems{{*input.file_path, "cannot read the config file"}});
    }
    const std::string& text = *file;
    // JSON allows a key twice and the parser keeps the last: in a config that hides a
    // mistake, so a repeated key is an error naming it.
    std::vector<std::set<std::string>> keys; // one set per open object
    std::vector<std::string> repeated;
    const nlohmann::json::parser_callback_t check_keys =
        [&](int, nlohmann::json::parse_event_t event, nlohmann::json& parsed) {
          if (event == nlohmann::json::parse_event_t::object_start) {
            keys.emplace_back();
          } else if (event == nlohmann::json::parse_event_t::object_end && !keys.empty()) {
            keys.pop_back();
          } else if (event == nlohmann::json::parse_event_t::key && !keys.empty() &&
                     !keys.back().insert(parsed.get<std::string>()).second) {
            repeated.push_back(parsed.get<std::string>());
          }
          return true;
        };
    try {
      root = nlohmann::json::parse(text, check_keys, /*allow_exceptions=*/true,
                                   /*ignore_comments=*/true);
    } catch (const nlohmann::json::parse_error& e) {
      // Turn the byte offset into line:column; nlohmann's own text repeats the input.
      std::size_t line = 1;
      std::size_t column = 1;
      for (std::size_t i = 0; i + 1 < e.byte && i < text.size(); ++i) {
        if (text[i] == '\n') {
          ++line;
          column = 1;
        } else {
          ++column;
        }
      }
      return failure(ConfigProblems{
          {fmt::format("{}:{}:{}", *input.file_path, line, column), "invalid JSON"}});
    } catch (const nlohmann::json::exception&) {
      return failure(ConfigProblems{{*input.file_path, "invalid JSON: a number is out of range"}});
    }
    if (!root.is_object()) {
      return failure(ConfigProblems{{*input.file_path, "the config must be a JSON object"}});
    }
    if (!repeated.empty()) {
      ConfigProblems problems;
      for (const auto& key : repeated) {
        problems.push_back(
            {*input.file_path, fmt::format("the key '{}' appears twice in one object; JSON "
                                           "readers keep only one of them",
                                           printable(key, 60))});
      }
      return failure(std::move(problems));
    }
  }

  ConfigReader reader(root, input.environment);
  Section top(reader);
  Config config;

  config.credential = read_credential(top.section("credential"));
  const std::size_t count = top.array_size("connections");
  for (std::size_t i = 0; i < count; ++i) {
    Section c = top.element("connections", i);
    ConnectionConfig connection;
    const auto name = c.string("name");
    connection.name = name ? *name : fmt::format("connection-{}", i);
    if (auto why = check_event_hubs_name(connection.name, 64)) {
      c.problem("name", fmt::format("'{}' {}", connection.name, *why));
    }
    for (const auto& other : config.connections) {
      if (other.name == connection.name) {
        c.problem("name", fmt::format("'{}' is used by another connection", connection.name));
      }
    }
    read_source(c.section("source"), connection.source, config.credential, config.warnings);
    read_target(c.section("target"), connection.target, config.credential, config.warnings);
    read_batching(c.section("batching"), connection.batching);
    {
      Section delivery = c.section("delivery");
      connection.delivery.deduplicate = delivery.boolean("deduplicate").value_or(false);
      delivery.finish();
    }
    c.finish();
    config.connections.push_back(std::move(connection));
  }
  if (count == 0) {
    reader.problem("connections", "at least one connection (a source hub and a Kusto target) "
                                  "is required");
  }

  if (const auto workers = top.integer("workers", 1, 256)) {
    config.workers = static_cast<std::size_t>(*workers);
  }
  {
    Section limits = top.section("limits");
    const auto budget = limits.byte_size("max_buffered_bytes", 16ULL << 20, 1ULL << 40);
    limits.finish();
    config.max_buffered_bytes = budget.value_or(default_max_buffered_bytes(input.memory_limit));
  }
  read_checkpoint(top.section("checkpoint"), config.checkpoint, config.credential);
  read_ownership(top.section("ownership"), config.ownership, config.checkpoint);
  read_dead_letter(top.section("dead_letter"), config.dead_letter, config.credential);

  {
    Section ops = top.section("ops");
    const auto address = ops.string("address");
    const auto port = ops.integer("port", 0, 65535);
    const auto refresh = ops.duration("refresh_interval");
    const auto stuck_after = ops.duration("stuck_after");
    ops.finish();
    if (stuck_after) {
      if (*stuck_after < std::chrono::seconds(1) || *stuck_after > std::chrono::hours(1)) {
        ops.problem("stuck_after", "must be from 1s to 1h");
      } else {
        config.ops.stuck_after = *stuck_after;
      }
    }
    if (refresh) {
      if (*refresh < std::chrono::milliseconds(100) || *refresh > std::chrono::minutes(10)) {
        ops.problem("refresh_interval", "must be from 100ms to 10m");
      } else {
        config.ops.refresh_interval = *refresh;
      }
    }
    if (address) {
      // Found now, not when the ops server fails to listen at run time.
      in6_addr v6{};
      in_addr v4{};
      if (inet_pton(AF_INET, address->c_str(), &v4) == 1 ||
          inet_pton(AF_INET6, address->c_str(), &v6) == 1 || *address == "localhost") {
        config.ops.address = *address;
      } else {
        ops.problem("address", fmt::format("'{}' is not an IP address to listen on (0.0.0.0, "
                                           "127.0.0.1, ::, ...)",
                                           printable(*address, 60)));
      }
    }
    if (port) {
      config.ops.port = static_cast<std::uint16_t>(*port);
    }
  }
  {
    Section log = top.section("log");
    const auto level = log.string("level");
    const auto format = log.string("format");
    log.finish();
    if (level) {
      if (const auto l = parse_log_level(*level)) {
        config.log.level = *l;
      } else {
        log.problem("level", fmt::format("'{}' is not a log level: trace, debug, info, warn, "
                                         "error, critical or off",
                                         *level));
      }
    }
    if (format) {
      if (const auto f = parse_log_format(*format)) {
        config.log.format = *f;
      } else {
        log.problem("format", fmt::format("'{}' is not a log format: text or json", *format));
      }
    }
  }
  {
    Section shutdown = top.section("shutdown");
    const auto deadline = shutdown.duration("drain_deadline");
    shutdown.finish();
    if (deadline) {
      if (*deadline < std::chrono::seconds(1) || *deadline > std::chrono::minutes(10)) {
        shutdown.problem("drain_deadline", "must be from 1s to 10m");
      } else {
        config.drain_deadline = *deadline;
      }
    }
  }
  top.finish();
  reader.finish();

  if (!reader.problems().empty()) {
    return failure(reader.problems());
  }
  config.secret_origins = reader.secret_origins();
  return config;
}

std::map<std::string, std::string> process_environment() {
  std::map<std::string, std::string> env;
  const std::string prefix = std::string(ConfigReader::kEnvPrefix) + "_";
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    const std::string_view entry(*e);
    const std::size_t eq = entry.find('=');
    if (eq == std::string_view::npos || entry.substr(0, prefix.size()) != prefix) {
      continue;
    }
    env.emplace(std::string(entry.substr(0, eq)), std::string(entry.substr(eq + 1)));
  }
  return env;
}

nlohmann::json to_masked_json(const Config& config) {
  using nlohmann::json;
  const auto environment = azure::AuthEnvironment::from_process_environment();
  json connections = json::array();
  for (const auto& c : config.connections) {
    json source = {
        {"connection_string", redact_connection_string(c.source.connection_string.reveal())},
        {"kind", std::holds_alternative<IotHubConnectionString>(c.source.connection)
                     ? "iot_hub"
                     : "event_hubs"},
        {"consumer_group", c.source.consumer_group.value()},
        {"prefetch", c.source.prefetch},
        {"max_buffered_bytes", c.source.max_buffered_bytes},
        {"start_position", std::string(start_kind_name(c.source.start_position.kind))},
    };
    if (!c.source.event_hub.value().empty()) {
      source["event_hub"] = c.source.event_hub.value();
    }
    if (c.source.credential.kind != azure::CredentialKind::none) {
      source["credential"] = credential_json(c.source.credential, environment);
    }
    if (c.source.start_position.kind == StartPosition::Kind::enqueued_time) {
      source["start_position"] = format_iso8601_utc(c.source.start_position.enqueued_time);
    }
    if (c.source.owner_level) {
      source["owner_level"] = *c.source.owner_level;
    }
    if (!c.source.partitions.empty()) {
      json parts = json::array();
      for (const auto& p : c.source.partitions) {
        parts.push_back(p.value());
      }
      source["partitions"] = parts;
    }
    if (!c.source.ca_file.empty()) {
      source["ca_file"] = c.source.ca_file;
    }
    source["transport"] = c.source.transport == HubTransport::websockets ? "websockets" : "amqp";
    if (c.source.proxy) {
      if (auto proxy = parse_proxy_url(*c.source.proxy)) {
        source["proxy"] = proxy->user.empty()
                              ? fmt::format("http://{}", proxy->label())
                              : fmt::format("http://{}:***@{}", proxy->user, proxy->label());
      }
    }
    json target = {
        {"connection_string", redact_connection_string(c.target.connection_string.reveal())},
        {"data_source", c.target.connection.data_source()},
        {"auth", std::string(to_string(c.target.connection.auth))},
        {"credential", credential_json(c.target.credential, environment)},
        {"database", c.target.database.value()},
        {"table", c.target.table.value()},
        {"format", ingest_format_name(c.target.format)},
        {"max_concurrent_requests", c.target.max_concurrent_requests},
    };
    if (c.target.mapping) {
      target["mapping"] = c.target.mapping->value();
    }
    if (c.target.local_mapping) {
      target["schema"] = c.target.schema;
      if (!c.target.mapping_file.empty()) {
        target["mapping_file"] = c.target.mapping_file;
      }
      target["system_properties"] = c.target.local_mapping->system_properties;
    }
    connections.push_back({{"name", c.name},
                           {"source", source},
                           {"target", target},
                           {"batching",
                            {{"max_bytes", c.batching.max_bytes},
                             {"max_events", c.batching.max_events},
                             {"linger", fmt::format("{}ms", c.batching.linger.count())},
                             {"idle_flush", fmt::format("{}ms", c.batching.idle_flush.count())}}},
                           {"delivery", {{"deduplicate", c.delivery.deduplicate}}}});
  }
  json checkpoint = store_json(config.checkpoint, environment);
  checkpoint["interval"] = fmt::format("{}ms", config.checkpoint.interval.count());
  json out = {
      {"connections", connections},
      {"checkpoint", checkpoint},
      {"ownership", ownership_json(config)},
      {"dead_letter", store_json(config.dead_letter, environment)},
      {"ops",
       {{"address", config.ops.address},
        {"port", config.ops.port},
        {"refresh_interval", fmt::format("{}ms", config.ops.refresh_interval.count())},
        {"stuck_after", fmt::format("{}ms", config.ops.stuck_after.count())}}},
      {"log",
       {{"level", std::string(spdlog::level::to_string_view(config.log.level).data(),
                              spdlog::level::to_string_view(config.log.level).size())},
        {"format", config.log.format == LogFormat::json ? "json" : "text"}}},
      {"shutdown", {{"drain_deadline", fmt::format("{}ms", config.drain_deadline.count())}}},
      {"workers", config.workers},
      {"limits", {{"max_buffered_bytes", config.max_buffered_bytes}}},
  };
  if (config.credential) {
    out["credential"] = credential_json(*config.credential, environment);
  }
  if (!config.secret_origins.empty()) {
    out["secret_sources"] = config.secret_origins;
  }
  return out;
}

} // namespace hub2kusto::app
