#include "app/preflight.hpp"

#include <filesystem>
#include <fstream>
#include <optional>

#include <fmt/chrono.h>
#include <fmt/format.h>

#include "app/bridge.hpp"
#include "app/store_config.hpp"
#include "azure/blob_client.hpp"
#include "azure/token_provider.hpp"
#include "base/text.hpp"
#include "common/clock.hpp"
#include "common/key_value_list.hpp"
#include "common/random.hpp"
#include "hub/amqp_event_source.hpp"
#include "ingest/ingestor.hpp"
#include "ingest/kusto_management.hpp"
#include "mappings/schema.hpp"

namespace hub2kusto::app {
namespace {

using std::chrono::milliseconds;

// Collects checks and hands each to the caller's report as it is made.
class Findings {
public:
  explicit Findings(const std::function<void(const Check&)>& report) : report_(report) {}

  void ok(const std::string& subject, std::string finding) {
    add({CheckLevel::ok, subject, std::move(finding), {}});
  }
  void warning(const std::string& subject, std::string finding, std::string fix) {
    add({CheckLevel::warning, subject, std::move(finding), std::move(fix)});
  }
  void error(const std::string& subject, std::string finding, std::string fix) {
    add({CheckLevel::error, subject, std::move(finding), std::move(fix)});
  }
  std::vector<Check> take() { return std::move(checks_); }

private:
  void add(Check c) {
    if (report_) {
      report_(c);
    }
    checks_.push_back(std::move(c));
  }

  const std::function<void(const Check&)>& report_;
  std::vector<Check> checks_;
};

bool contains(const std::string& text, std::string_view part) {
  return text::lower(text).find(part) != std::string::npos;
}

// ---- hubs ----

struct HubIdentity {
  std::string host;
  std::string rule;
};

HubIdentity identity_of(const HubConnectionString& c) {
  if (const auto* eh = std::get_if<EventHubsConnectionString>(&c)) {
    return {eh->host, eh->key_name};
  }
  const auto& iot = std::get<IotHubConnectionString>(c);
  return {iot.host, iot.key_name};
}

// What to change when the hub cannot be read, from what the service or the network said.
std::string hub_fix(const ConnectionConfig& c, const std::string& why) {
  const HubIdentity id = identity_of(c.source.connection);
  if (contains(why, "unauthorized") || contains(why, "401") || contains(why, "signature") ||
      contains(why, "token")) {
    return fmt::format("check source.connection_string: the key of shared access policy '{}' "
                       "(it needs the Listen claim) for sb://{}/{}",
                       id.rule, id.host, c.source.event_hub.value());
  }
  if (contains(why, "404") || contains(why, "not found") || contains(why, "could not be found")) {
    return fmt::format("set source.event_hub (or EntityPath in the connection string) to an "
                       "Event Hub of the namespace {}",
                       id.host);
  }
  return fmt::format("check that {} is reachable from here (DNS, firewall, proxy) and, for a "
                     "private certificate authority, source.ca_file",
                     id.host);
}

// Attaches one receiver of the consumer group (no owner level: a running bridge keeps its
// partitions) and waits until the service accepts or refuses it.
hub::PartitionStatus attach_once(hub::AmqpEventSource& source, const PartitionId& partition,
                                 milliseconds timeout) {
  const auto stream = source.open_partition(partition, hub::StartPosition::latest());
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::vector<hub::HubEvent> ignored;
  while (std::chrono::steady_clock::now() < deadline) {
    const auto status = stream->status();
    if (status.state == hub::PartitionState::receiving || status.stopped() ||
        (status.state == hub::PartitionState::recovering && !status.reason.empty())) {
      return status;
    }
    ignored.clear();
    stream->take(ignored, 16, milliseconds(100)); // wakes on a status change too
  }
  return stream->status();
}

void check_hub(const ConnectionConfig& c, milliseconds timeout, Findings& out) {
  const std::string subject = fmt::format("connection '{}' hub", c.name);
  SystemClock clock;
  SystemRandom random;
  hub::HubOptions o = hub_options(c, "hub2kusto-preflight-" + c.name);
  o.credit = hub::CreditWindow{.high = 16, .low = 8, .max_bytes = 1U << 20};
  hub::AmqpEventSource source(o, clock, random);
  auto hub = source.hub_properties(timeout);
  if (!hub) {
    out.error(subject, hub.error().message, hub_fix(c, hub.error().message));
    source.close();
    return;
  }
  const std::string label =
      fmt::format("Event Hub '{}' of {}", hub->name, hub->fully_qualified_namespace);
  out.ok(subject, fmt::format("{}: the connection opened and the token was accepted; {} "
                              "partition(s)",
                              label, hub->partition_ids.size()));

  std::vector<PartitionId> partitions = c.source.partitions;
  if (partitions.empty()) {
    partitions = hub->partition_ids;
  }
  std::optional<std::chrono::system_clock::time_point> newest;
  std::string newest_partition;
  std::size_t empty = 0;
  for (const auto& p : partitions) {
    auto props = source.partition_properties(p, timeout);
    if (!props) {
      out.error(subject, fmt::format("partition {}: {}", p, props.error().message),
                fmt::format("list only partitions of {} in source.partitions (it has {})", label,
                            fmt::join(hub->partition_ids, ", ")));
      continue;
    }
    if (props->is_empty) {
      ++empty;
    } else if (!newest || props->last_enqueued_time > *newest) {
      newest = props->last_enqueued_time;
      newest_partition = p.value();
    }
  }
  if (newest) {
    out.ok(subject,
           fmt::format("partitions {}: the last event was enqueued at {:%FT%TZ} "
                       "(partition {}); {} partition(s) empty",
                       fmt::join(partitions, ", "),
                       std::chrono::floor<std::chrono::seconds>(*newest), newest_partition, empty));
  } else if (!partitions.empty()) {
    out.ok(subject,
           fmt::format("partitions {}: no events retained yet", fmt::join(partitions, ", ")));
  }

  const auto& cg = c.source.consumer_group.value();
  if (partitions.empty()) {
    source.close();
    return;
  }
  const auto attached = attach_once(source, partitions.front(), timeout);
  switch (attached.state) {
  case hub::PartitionState::receiving:
    out.ok(subject, fmt::format("consumer group '{}': a receiver attached", cg));
    break;
  case hub::PartitionState::stolen:
    out.ok(subject, fmt::format("consumer group '{}' exists and an exclusive receiver (owner "
                                "level) holds partition {} now: {}",
                                cg, partitions.front(), attached.reason));
    break;
  default:
    if (contains(attached.reason, "not-found") || contains(attached.reason, "does not exist")) {
      out.error(subject, fmt::format("consumer group '{}' does not exist in {}", cg, label),
                fmt::format("create it (az eventhubs eventhub consumer-group create "
                            "--namespace-name <namespace> --eventhub-name {} --name {} "
                            "--resource-group <group>) or set source.consumer_group",
                            hub->name, cg));
    } else if (attached.reason.empty()) {
      out.warning(subject,
                  fmt::format("consumer group '{}': no answer to an attach within {} ms", cg,
                              timeout.count()),
                  "run the check again; if it persists, check the network path to the hub");
    } else {
      out.error(
          subject,
          fmt::format("consumer group '{}': the receiver was refused: {}", cg, attached.reason),
          hub_fix(c, attached.reason));
    }
  }
  source.close();
}

// ---- Kusto ----

std::string schema_text(const mappings::TableSchema& schema) {
  std::vector<std::string> columns;
  for (const auto& column : schema.columns) {
    columns.push_back(fmt::format("{}:{}", column.name, mappings::to_string(column.type)));
  }
  return fmt::format("{}", fmt::join(columns, ", "));
}

// Whether a streaming-policy row says enabled; none when it holds no policy.
std::optional<bool> streaming_enabled(const ingest::ResultTable& t) {
  const std::string policy = t.rows.empty() ? std::string() : t.text(0, "Policy");
  if (policy.empty() || policy == "null") {
    return std::nullopt;
  }
  const auto json = nlohmann::json::parse(policy, nullptr, false);
  return json.is_object() && json.value("IsEnabled", false);
}

void check_kusto(const ConnectionConfig& c, milliseconds timeout, Findings& out) {
  const auto& t = c.target;
  const std::string db = t.database.value();
  const std::string table = t.table.value();
  const std::string subject = fmt::format("connection '{}' Kusto {}.{}", c.name, db, table);
  SystemClock clock;
  auto transport = azure::make_http_transport();
  auto tokens = azure::make_cluster_token_provider(t.connection, t.credential, *transport, clock);
  ingest::KustoManagement engine(t.connection.engine_url(), *transport, *tokens, "hub2kusto",
                                 "preflight");

  auto version = engine.execute(db, ".show version", timeout);
  if (!version) {
    const auto& e = version.error();
    out.error(subject, fmt::format("the engine {} does not answer: {}", engine.url(), e.reason),
              e.status == 401 || e.status == 403
                  ? "check the identity settings of target.connection_string and that the "
                    "identity has a role on the database (Viewer to read, Ingestor to ingest)"
                  : fmt::format("check that {} is reachable from here (DNS, firewall, proxy)",
                                engine.url()));
    return;
  }
  out.ok(subject, fmt::format("the engine {} answers", engine.url()));

  const std::string create_hint =
      t.schema.empty() ? fmt::format(".create table {} (<column>:<type>, ...)", table)
                       : fmt::format(".create table {} ({})", table, t.schema);
  auto tables = engine.table(db, ".show tables", timeout);
  if (!tables) {
    const auto& e = tables.error();
    const bool no_database = e.code == "BadRequest_DatabaseNotExist" ||
                             e.code == "BadRequest_EntityNotFound" || e.status == 404;
    out.error(subject,
              no_database ? fmt::format("database '{}' does not exist: {}", db, e.reason)
                          : fmt::format("the tables of '{}' cannot be listed: {}", db, e.reason),
              no_database ? "set target.database (or Initial Catalog) to an existing database"
                          : "grant the identity at least the Viewer role on the database");
    return;
  }
  bool found = false;
  for (std::size_t i = 0; i < tables->rows.size(); ++i) {
    found = found || tables->text(i, "TableName") == table;
  }
  if (!found) {
    out.error(subject, fmt::format("table '{}' does not exist in database '{}'", table, db),
              fmt::format("create it: {}; or set target.table", create_hint));
    return;
  }
  auto schema = engine.table(db, fmt::format(".show table ['{}'] cslschema", table), timeout);
  if (schema && !schema->rows.empty()) {
    const std::string text = schema->text(0, "Schema");
    out.ok(subject, fmt::format("table '{}' exists: ({})", table, text));
    if (t.local_mapping) {
      auto actual = mappings::parse_schema(text);
      if (actual && schema_text(*actual) != schema_text(t.local_mapping->schema)) {
        out.error(subject,
                  fmt::format("target.schema ({}) does not agree with table '{}' ({})",
                              schema_text(t.local_mapping->schema), table, schema_text(*actual)),
                  fmt::format("set target.schema to \"{}\", or change the table: .alter table "
                              "{} ({})",
                              text, table, schema_text(t.local_mapping->schema)));
      } else if (actual) {
        out.ok(subject, "target.schema agrees with the table");
      }
    }
  } else {
    out.warning(subject,
                fmt::format("the schema of '{}' cannot be read: {}", table,
                            schema ? "an empty answer" : schema.error().reason),
                "grant the identity the Viewer role on the database to let it be checked");
  }

  if (t.mapping) {
    const std::string wanted = t.mapping->value();
    const std::string kind(mapping_kind(t.format));
    auto mappings =
        engine.table(db, fmt::format(".show table ['{}'] ingestion mappings", table), timeout);
    if (!mappings) {
      out.warning(subject,
                  fmt::format("the ingestion mappings of '{}' cannot be read: {}", table,
                              mappings.error().reason),
                  "grant the identity the Viewer role on the database to let it be checked");
    } else {
      std::vector<std::string> kinds;
      for (std::size_t i = 0; i < mappings->rows.size(); ++i) {
        if (mappings->text(i, "Name") == wanted) {
          kinds.push_back(mappings->text(i, "Kind"));
        }
      }
      const bool right_kind = std::any_of(kinds.begin(), kinds.end(), [&](const std::string& k) {
        return text::lower(k) == text::lower(kind);
      });
      if (right_kind) {
        out.ok(subject, fmt::format("ingestion mapping '{}' ({}) exists", wanted, kind));
      } else if (kinds.empty()) {
        out.error(subject, fmt::format("table '{}' has no ingestion mapping '{}'", table, wanted),
                  fmt::format("create it: .create table {} ingestion {} mapping '{}' '[...]'; "
                              "or set target.mapping",
                              table, text::lower(kind), wanted));
      } else {
        out.error(subject,
                  fmt::format("ingestion mapping '{}' of table '{}' is a {} mapping; target.format "
                              "'{}' needs a {} mapping",
                              wanted, table, fmt::join(kinds, "/"), ingest_format_name(t.format),
                              kind),
                  fmt::format("create it: .create table {} ingestion {} mapping '{}' '[...]'; or "
                              "change target.format",
                              table, text::lower(kind), wanted));
      }
    }
  }

  const std::string enable = fmt::format(".alter table {} policy streamingingestion enable", table);
  auto table_policy =
      engine.table(db, fmt::format(".show table ['{}'] policy streamingingestion", table), timeout);
  std::optional<bool> enabled;
  std::string where = "table";
  if (table_policy) {
    enabled = streaming_enabled(*table_policy);
    if (!enabled) {
      where = "database";
      auto db_policy = engine.table(
          db, fmt::format(".show database ['{}'] policy streamingingestion", db), timeout);
      if (db_policy) {
        enabled = streaming_enabled(*db_policy);
      }
    }
  }
  if (!table_policy) {
    out.warning(subject,
                fmt::format("the streaming ingestion policy cannot be read: {}",
                            table_policy.error().reason),
                "grant the identity the Viewer role on the database to let it be checked");
  } else if (enabled.value_or(false)) {
    out.ok(subject, fmt::format("streaming ingestion is enabled (the {}'s policy)", where));
  } else {
    out.warning(subject,
                "streaming ingestion is not enabled for the table or its database: every batch "
                "goes by queued ingestion, with minutes of latency",
                enable);
  }

  ingest::KustoManagement dm(t.connection.data_management_url(), *transport, *tokens, "hub2kusto",
                             "preflight");
  auto resources = dm.execute("NetDefaultDB", ".get ingestion resources", timeout);
  if (resources) {
    out.ok(subject,
           fmt::format("the data management endpoint {} lets this identity ingest (it answered "
                       "'.get ingestion resources')",
                       dm.url()));
  } else if (resources.error().status == 401 || resources.error().status == 403) {
    out.error(
        subject,
        fmt::format("this identity may not ingest into '{}': {}", db, resources.error().reason),
        fmt::format(".add database {} ingestors ('aadapp=<application id>;<tenant id>') "
                    "(or the principal of the identity in use)",
                    db));
  } else {
    out.error(subject,
              fmt::format("the data management endpoint {} does not answer: {}; queued "
                          "ingestion (large batches, streaming off, fallbacks) cannot work",
                          dm.url(), resources.error().reason),
              "check that the cluster's ingest- endpoint is reachable from here; "
              "target.connection_string names the engine, not the ingest- endpoint");
  }
}

// ---- stores ----

void check_directory(const std::string& subject, const std::string& directory, Findings& out) {
  std::error_code ec;
  std::filesystem::create_directories(directory, ec);
  const auto probe =
      std::filesystem::path(directory) / fmt::format(".hub2kusto-preflight-{}", make_uuid());
  std::ofstream file(probe);
  file << "preflight\n";
  file.close();
  const bool written = !ec && file.good();
  std::filesystem::remove(probe, ec);
  if (written) {
    out.ok(subject, fmt::format("directory '{}' is writable", directory));
  } else {
    out.error(subject, fmt::format("directory '{}' cannot be written", directory),
              "mount a writable volume there, or change the directory setting");
  }
}

void check_container(const std::string& subject, const StoreConfig& store, milliseconds timeout,
                     Findings& out) {
  SystemClock clock;
  auto transport = azure::make_http_transport();
  const auto client = make_blob_client(store, *transport, clock, timeout);
  auto& blobs = *client;
  const std::string& container = store.container;
  auto exists = blobs.container_exists(container);
  if (!exists) {
    out.error(subject, exists.error().message,
              "check the storage connection string (account, key or SAS) or the credential, and "
              "that the account is reachable from here");
    return;
  }
  if (!*exists) {
    out.warning(
        subject,
        fmt::format("container '{}' does not exist at {}; run creates it at start when "
                    "the credential may create containers",
                    container, blobs.endpoint()),
        fmt::format("az storage container create --name {} (or let run create it)", container));
    return;
  }
  const std::string probe = fmt::format("hub2kusto-preflight/{}", make_uuid());
  if (auto written = blobs.put_block_blob(container, probe, "preflight\n"); !written) {
    out.error(subject, written.error().message,
              "grant the identity write access to the container (Storage Blob Data "
              "Contributor), or use a SAS with write permission");
    return;
  }
  (void)blobs.delete_blob(container, probe);
  out.ok(subject, fmt::format("container '{}' at {} is writable", container, blobs.endpoint()));
}

} // namespace

std::vector<Check> preflight(const Config& config, const PreflightOptions& options,
                             const std::function<void(const Check&)>& report) {
  Findings out(report);
  for (const auto& c : config.connections) {
    if (options.hubs) {
      check_hub(c, options.timeout, out);
    }
    check_kusto(c, options.timeout, out);
  }
  if (config.checkpoint.store == CheckpointConfig::Store::blob) {
    check_container("checkpoint store", config.checkpoint, options.timeout, out);
  } else {
    check_directory("checkpoint store", config.checkpoint.directory, out);
  }
  if (config.dead_letter.store == DeadLetterConfig::Store::blob) {
    check_container("dead-letter store", config.dead_letter, options.timeout, out);
  } else {
    check_directory("dead-letter store", config.dead_letter.directory, out);
  }
  return out.take();
}

std::string format_check(const Check& check) {
  const char* level = check.level == CheckLevel::ok        ? "ok"
                      : check.level == CheckLevel::warning ? "warning"
                                                           : "error";
  return fmt::format("{:<8}{}: {}{}{}", level, check.subject, check.finding,
                     check.fix.empty() ? "" : "; fix: ", check.fix);
}

} // namespace hub2kusto::app
