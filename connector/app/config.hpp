#pragma once
// hub2kusto's configuration: one JSON file (comments allowed), every setting overridable from
// the environment, secrets readable from files. See config_reader.hpp for the rules and
// deploy/examples/ for annotated files.
//
// load_config() returns the typed configuration or every problem found, each naming its
// setting; main prints them and exits 2 (docs/architecture.md, "Errors").

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <spdlog/common.h>

#include "app/config_reader.hpp"
#include "azure/credential.hpp"
#include "azure/storage_connection_string.hpp"
#include "base/result.hpp"
#include "common/hub_connection_string.hpp"
#include "common/ingest_format.hpp"
#include "common/kusto_connection_string.hpp"
#include "common/logging.hpp"
#include "common/secret.hpp"
#include "common/types.hpp"
#include "mappings/engine.hpp"

namespace hub2kusto::app {

struct StartPosition {
  enum class Kind { earliest, latest, enqueued_time };
  Kind kind = Kind::earliest;
  std::chrono::system_clock::time_point enqueued_time{}; // with Kind::enqueued_time
};

struct SourceConfig {
  Secret connection_string; // as given; printed only through redaction
  HubConnectionString connection;
  // Event Hubs without a key in the connection string: source.credential, else the top-level
  // credential (Microsoft Entra ID). Kind none with a key.
  azure::Credential credential;
  EventHubName event_hub; // EntityPath or the `event_hub` setting (Event Hubs only)
  ConsumerGroup consumer_group{"$Default"};
  StartPosition start_position;
  std::optional<std::int64_t> owner_level; // epoch; none = non-exclusive receivers
  std::vector<PartitionId> partitions;     // empty = every partition of the hub
  std::string ca_file;                     // empty = the system CA bundle
  // AMQP over TCP or WebSockets: source.transport, else the connection string's TransportType.
  HubTransport transport = HubTransport::amqp;
  // source.proxy (may hold a password; printed only as host:port); none: HTTPS_PROXY.
  std::optional<std::string> proxy;
  // Per partition: events and bytes received and not yet taken by the pipeline, at most
  // (AMQP credit follows both; hub/partition_channel.hpp).
  std::uint32_t prefetch = 300;
  std::uint64_t max_buffered_bytes = 8ULL << 20;
};

struct TargetConfig {
  Secret connection_string;
  KustoConnectionString connection;
  // The identity tokens are asked for: target.credential, else the connection string's
  // keywords, else the top-level credential; kind none for an emulator.
  azure::Credential credential;
  DatabaseName database;
  TableName table;
  IngestFormat format = IngestFormat::json;
  std::optional<MappingName> mapping; // ingestion mapping reference on the table
  // Set with `schema`: the bridge maps events on this route itself (mappings/ engine) and
  // sends CSV rows; `mapping_file` and `system_properties` as given.
  std::optional<mappings::MapperOptions> local_mapping;
  std::string schema;
  std::string mapping_file;
  // Requests the cluster is sent at once, by every connection to it together (the smallest
  // value of those connections holds); throttling lowers it for a while.
  int max_concurrent_requests = 4;
};

struct BatchingConfig {
  // Under the 4 MiB of raw data a streaming request may carry, with room for the last event.
  std::uint64_t max_bytes = 3584ULL << 10;
  std::uint32_t max_events = 10'000;
  std::chrono::milliseconds linger{1'000};
  // Flush open batches once the partition delivered nothing for this long (0: wait for linger).
  std::chrono::milliseconds idle_flush{100};
};

struct DeliveryConfig {
  // Queued batches carry their batch id as an ingest-by tag with ingestIfNotExists, so Kusto
  // drops one it already holds (docs/protocols.md, "De-duplicating queued batches").
  bool deduplicate = false;
};

struct ConnectionConfig {
  std::string name;
  SourceConfig source;
  TargetConfig target;
  BatchingConfig batching;
  DeliveryConfig delivery;
};

// Where the checkpoints or the dead letters are kept: files below a directory, or blobs in a
// container of an Azure Storage account. Read and written by the same code for both.
struct StoreConfig {
  enum class Store { file, blob };
  Store store = Store::file;
  std::string directory; // Store::file
  // Store::blob: the account, from a connection string (key or SAS), or its endpoint alone
  // (blob_storage.blob_endpoint) opened by `credential`'s tokens.
  Secret blob_connection_string;
  azure::StorageConnectionString blob_storage;
  azure::Credential credential; // kind none with a connection string
  std::string container;        // Store::blob

  explicit StoreConfig(std::string default_directory) : directory(std::move(default_directory)) {}
};

// Store::file: <directory>/<namespace>/<hub>/<consumer group>/checkpoint/<partition>, the SDKs'
// blob layout as files; Store::blob: the same names as blobs in `container`.
struct CheckpointConfig : StoreConfig {
  CheckpointConfig() : StoreConfig("checkpoints") {}
  // How often positions are written at most; 0: after every batch Kusto accepted, so a crash
  // repeats at most the batches in flight (docs/architecture.md, "Checkpoints").
  std::chrono::milliseconds interval{0};
};

// Several replicas (and Azure SDK processors) share a hub's partitions through ownership blobs
// beside the checkpoints (docs/protocols.md, "Ownership and load balancing"). On whenever the
// checkpoints are in blob storage, unless `enabled` is false; with file checkpoints only one
// replica may run.
struct OwnershipConfig {
  std::optional<bool> enabled;                       // none: on with blob checkpoints
  std::string owner_id;                              // default: <host name>-<process id>
  std::chrono::milliseconds update_interval{10'000}; // one balancing cycle
  std::chrono::milliseconds expiration{120'000};     // an owner silent this long lost its claims
  bool greedy = false;                               // claim the whole share at once
};

// Store::file: events that cannot be ingested go to <directory>/<connection name>.jsonl;
// Store::blob: one blob of JSON lines per write, <connection>/<partition>/... in `container`.
struct DeadLetterConfig : StoreConfig {
  DeadLetterConfig() : StoreConfig("dead-letter") {}
};

struct OpsConfig {
  std::string address = "0.0.0.0";
  std::uint16_t port = 8080;
  // How often partition lag (from the hub's management node) and the Kusto target's
  // reachability are refreshed for /metrics and /readyz.
  std::chrono::milliseconds refresh_interval{15'000};
  // /healthz fails once an AMQP thread or a worker has been busy this long without progress.
  // Longer than any bounded wait inside one piece of work (an HTTP request's 60 s timeout).
  std::chrono::milliseconds stuck_after{120'000};
};

struct LogConfig {
  spdlog::level::level_enum level = spdlog::level::info;
  LogFormat format = LogFormat::text;
};

struct Config {
  std::optional<azure::Credential> credential; // for every endpoint that names none
  std::vector<ConnectionConfig> connections;
  CheckpointConfig checkpoint;
  OwnershipConfig ownership;
  DeadLetterConfig dead_letter;
  OpsConfig ops;
  LogConfig log;
  std::chrono::milliseconds drain_deadline{30'000}; // shutdown: flush and checkpoint by then
  // Threads that run every partition's pipeline, taking turns; 0: the cores (at least 2).
  std::size_t workers = 0;
  // limits.max_buffered_bytes: events taken from the hubs and not yet delivered, by every
  // partition of every connection together (common/memory_budget.hpp).
  std::uint64_t max_buffered_bytes = 1ULL << 30;
  std::vector<std::string> warnings; // not fatal, e.g. ignored connection-string keys
  std::vector<std::string> secret_origins;

  // Whether the replicas balance partitions through ownership blobs.
  bool ownership_on() const {
    return checkpoint.store == StoreConfig::Store::blob && ownership.enabled.value_or(true);
  }
};

struct ConfigInput {
  std::optional<std::string> file_path; // none: environment only
  std::map<std::string, std::string> environment;
  // The container's memory limit (container_memory_limit()), which sizes the default of
  // limits.max_buffered_bytes; none: no limit is set.
  std::optional<std::uint64_t> memory_limit = std::nullopt;
};

// The memory limit of the cgroup this process runs in (cgroup v2 memory.max, else v1
// memory.limit_in_bytes); none when there is none.
std::optional<std::uint64_t> container_memory_limit();
// A cgroup memory limit file's content: a number of bytes, or none for "max" and the near
// 2^63 that v1 writes for no limit.
std::optional<std::uint64_t> parse_memory_limit(std::string_view text);
// limits.max_buffered_bytes when not set: half the container's memory limit (the rest is the
// process itself, the requests' compressed copies and the HTTP clients' buffers), else 1 GiB.
std::uint64_t default_max_buffered_bytes(std::optional<std::uint64_t> memory_limit);

using ConfigProblems = std::vector<ConfigProblem>;

Result<Config, ConfigProblems> load_config(const ConfigInput& input);

// The environment of this process (HUB2KUSTO_* variables only).
std::map<std::string, std::string> process_environment();

// The effective configuration with every secret masked, for `check-config`.
nlohmann::json to_masked_json(const Config& config);

} // namespace hub2kusto::app
