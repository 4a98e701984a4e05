#include "app/bridge.hpp"

#include <filesystem>
#include <thread>

#include <fmt/format.h>

#include "checkpoint/checkpointer.hpp"
#include "checkpoint/file_checkpoint_store.hpp"
#include "common/endpoint.hpp"
#include "common/logging.hpp"
#include "common/random.hpp"
#include "hub/amqp_event_source.hpp"
#include "ingest/managed_ingestor.hpp"
#include "ingest/queued_ingestor.hpp"
#include "ingest/streaming_ingestor.hpp"
#include "ingest/token_provider.hpp"
#include "pipeline/dead_letter_store.hpp"
#include "pipeline/partition_pipeline.hpp"

namespace hub2kusto::app {

struct Bridge::Connection {
  std::string name;
  SystemClock clock;
  SystemRandom random;
  ingest::ThreadSleeper sleeper;
  std::unique_ptr<hub::AmqpEventSource> source;
  std::unique_ptr<ingest::HttpTransport> transport;
  std::unique_ptr<ingest::TokenProvider> tokens;
  std::unique_ptr<ingest::StreamingIngestor> streaming;
  std::unique_ptr<ingest::QueuedIngestor> queued;
  std::unique_ptr<ingest::ManagedIngestor> managed;
  std::unique_ptr<checkpoint::CheckpointStore> store;
  std::unique_ptr<pipeline::DeadLetterStore> dead_letters;
  std::vector<std::unique_ptr<checkpoint::PartitionCheckpointer>> checkpointers;
  std::vector<std::unique_ptr<pipeline::PartitionPipeline>> pipelines;
  std::vector<std::thread> threads;
};

namespace {

// The data management endpoint: ingest-<cluster> for a real cluster, the same URL for a local
// emulator (kusto-ingest.md §0).
std::string data_management_url(const KustoConnectionString& k) {
  if (is_loopback_host(k.host) || k.host.rfind("ingest-", 0) == 0 ||
      k.host.find_first_not_of("0123456789.") == std::string::npos) {
    return k.data_source();
  }
  const std::string port = k.port == 443 ? "" : fmt::format(":{}", k.port);
  return fmt::format("{}://ingest-{}{}", k.scheme, k.host, port);
}

hub::StartPosition configured_start(const StartPosition& s) {
  switch (s.kind) {
  case StartPosition::Kind::earliest:
    return hub::StartPosition::earliest();
  case StartPosition::Kind::latest:
    return hub::StartPosition::latest();
  case StartPosition::Kind::enqueued_time:
    return hub::StartPosition::enqueued_since(
        std::chrono::time_point_cast<std::chrono::milliseconds>(s.enqueued_time));
  }
  return hub::StartPosition::earliest();
}

std::string namespace_of(const HubConnectionString& c) {
  if (const auto* eh = std::get_if<EventHubsConnectionString>(&c)) {
    return eh->host;
  }
  return std::get<IotHubConnectionString>(c).host;
}

} // namespace

Bridge::Bridge(const Config& config) : config_(config) {}

Bridge::~Bridge() {
  stop();
  wait();
}

Result<std::unique_ptr<Bridge>> Bridge::start(const Config& config) {
  std::unique_ptr<Bridge> bridge(new Bridge(config));
  for (const auto& c : config.connections) {
    if (auto started = bridge->start_connection(c); !started) {
      bridge->stop();
      bridge->wait();
      return failure(std::move(started).error());
    }
  }
  return bridge;
}

Result<std::monostate> Bridge::start_connection(const ConnectionConfig& c) {
  auto log = logger("app");
  auto conn = std::make_unique<Connection>();
  conn->name = c.name;
  if (config_.checkpoint.store != CheckpointConfig::Store::file) {
    return failure(fmt::format("connection '{}': the Azure Blob checkpoint store is not in this "
                               "build yet; use checkpoint.store 'file'",
                               c.name));
  }

  hub::HubOptions hub_options;
  hub_options.connection = c.source.connection;
  hub_options.event_hub = c.source.event_hub;
  hub_options.consumer_group = c.source.consumer_group;
  hub_options.owner_level = c.source.owner_level;
  hub_options.ca_file = c.source.ca_file;
  hub_options.receiver_name = "hub2kusto-" + c.name;
  conn->source = std::make_unique<hub::AmqpEventSource>(hub_options, conn->clock, conn->random);

  std::vector<PartitionId> partitions = c.source.partitions;
  if (partitions.empty()) {
    auto hub = conn->source->hub_properties(std::chrono::seconds(60));
    if (!hub) {
      return failure(fmt::format("connection '{}': cannot read the hub's partitions: {}", c.name,
                                 hub.error().message));
    }
    partitions = hub->partition_ids;
    if (c.source.event_hub.value().empty()) {
      hub_options.event_hub = hub->name;
    }
  }

  conn->transport = ingest::make_cpprest_transport();
  conn->tokens = ingest::make_token_provider(c.target.connection,
                                             ingest::AuthEnvironment::from_process_environment(),
                                             *conn->transport, conn->clock);
  ingest::StreamingOptions so;
  so.engine_url = c.target.connection.data_source();
  so.app_version = "0.1.0";
  conn->streaming =
      std::make_unique<ingest::StreamingIngestor>(so, *conn->transport, *conn->tokens);
  ingest::QueuedOptions qo;
  qo.dm_url = data_management_url(c.target.connection);
  qo.app_version = "0.1.0";
  conn->queued =
      std::make_unique<ingest::QueuedIngestor>(qo, *conn->transport, *conn->tokens, conn->clock);
  ingest::ManagedOptions mo;
  mo.streaming_limit = c.batching.max_bytes;
  conn->managed = std::make_unique<ingest::ManagedIngestor>(
      mo, *conn->streaming, *conn->queued, conn->clock, conn->random, conn->sleeper);

  checkpoint::Scope scope{namespace_of(c.source.connection), hub_options.event_hub,
                          c.source.consumer_group};
  conn->store =
      std::make_unique<checkpoint::FileCheckpointStore>(config_.checkpoint.directory, scope);
  conn->dead_letters = std::make_unique<pipeline::FileDeadLetterStore>(
      std::filesystem::path(config_.dead_letter.directory) / (c.name + ".jsonl"));

  pipeline::PipelineOptions po;
  po.routing.defaults.database = c.target.database;
  po.routing.defaults.table = c.target.table;
  po.routing.defaults.format = c.target.format;
  po.routing.defaults.mapping = c.target.mapping;
  po.limits.max_bytes = c.batching.max_bytes;
  po.limits.max_events = c.batching.max_events;
  po.limits.linger = c.batching.linger;

  for (const auto& id : partitions) {
    auto stored = conn->store->load(id);
    if (!stored) {
      return failure(fmt::format("connection '{}': {}", c.name, stored.error().message));
    }
    const hub::StartPosition start = *stored ? hub::StartPosition::after((*stored)->sequence_number)
                                             : configured_start(c.source.start_position);
    if (*stored) {
      log->info("connection '{}' partition {}: resuming after sequence number {}", c.name, id,
                (*stored)->sequence_number);
    }
    auto stream = conn->source->open_partition(id, start);
    auto cp = std::make_unique<checkpoint::PartitionCheckpointer>(
        id, *conn->store, conn->clock, config_.checkpoint.interval, *stored);
    auto p = std::make_unique<pipeline::PartitionPipeline>(
        po, stream, *conn->managed, *conn->dead_letters, *cp, conn->clock, conn->sleeper);
    conn->checkpointers.push_back(std::move(cp));
    conn->pipelines.push_back(std::move(p));
  }
  for (auto& p : conn->pipelines) {
    ++running_;
    conn->threads.emplace_back([this, pp = p.get()] {
      pp->run();
      const auto deadline =
          deadline_ns_.load() != 0
              ? std::chrono::steady_clock::time_point(std::chrono::nanoseconds(deadline_ns_.load()))
              : std::chrono::steady_clock::now() + config_.drain_deadline;
      if (!pp->drain(deadline)) {
        all_delivered_ = false;
      }
      --running_;
    });
  }
  log->info("connection '{}': {} partition(s) started", c.name, partitions.size());
  connections_.push_back(std::move(conn));
  return std::monostate{};
}

void Bridge::stop() {
  if (stopping_.exchange(true)) {
    return;
  }
  deadline_ns_ =
      (std::chrono::steady_clock::now() + config_.drain_deadline).time_since_epoch().count();
  for (auto& c : connections_) {
    for (auto& p : c->pipelines) {
      p->stop();
    }
  }
}

bool Bridge::finished() const {
  return running_.load() == 0;
}

bool Bridge::wait() {
  bool failed_partition = false;
  for (auto& c : connections_) {
    for (auto& t : c->threads) {
      if (t.joinable()) {
        t.join();
      }
    }
    c->threads.clear();
    if (c->source) {
      if (auto fatal = c->source->fatal_error()) {
        failed_partition = true;
      }
      c->source->close();
    }
  }
  return all_delivered_.load() && !failed_partition;
}

} // namespace hub2kusto::app
