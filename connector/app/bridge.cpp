#include "app/bridge.hpp"

#include <algorithm>
#include <filesystem>
#include <thread>

#include <fmt/format.h>

#include "app/kusto_sink.hpp"
#include "app/store_config.hpp"
#include "azure/blob_client.hpp"
#include "azure/token_provider.hpp"
#include "base/text.hpp"
#include "checkpoint/blob_checkpoint_store.hpp"
#include "checkpoint/checkpointer.hpp"
#include "checkpoint/file_checkpoint_store.hpp"
#include "checkpoint/load_all.hpp"
#include "common/endpoint.hpp"
#include "common/key_value_list.hpp"
#include "common/logging.hpp"
#include "common/random.hpp"
#include "hub/amqp_event_source.hpp"
#include "ops/prometheus.hpp"
#include "pipeline/dead_letter_store.hpp"
#include "pipeline/partition_pipeline.hpp"

namespace hub2kusto::app {

namespace {

// What the ops endpoints read about one partition, from any thread.
struct PartitionView {
  PartitionId id;
  std::shared_ptr<hub::PartitionStream> stream;
  const pipeline::PartitionPipeline* pipeline = nullptr;
  // From the management node, refreshed by the monitor thread; -1: not read yet.
  std::atomic<std::int64_t> last_enqueued{-1};
  std::atomic<std::int64_t> last_enqueued_unix_ms{0};
};

} // namespace

struct Bridge::Connection {
  std::string name;
  DatabaseName database;
  std::vector<std::unique_ptr<PartitionView>> partitions;
  mutable std::mutex probe_mutex;
  std::optional<std::string> kusto_error; // the last probe's failure; none: reachable
  bool kusto_probed = false;
  SystemClock clock;
  SystemRandom random;
  ThreadSleeper sleeper;
  std::unique_ptr<hub::AmqpEventSource> source;
  std::unique_ptr<KustoSink> kusto;
  std::unique_ptr<azure::BlobClient> checkpoint_blobs;
  std::unique_ptr<azure::BlobClient> dead_letter_blobs;
  std::unique_ptr<checkpoint::CheckpointStore> store;
  std::atomic<std::uint64_t> queued_failures{0}; // batches Kusto failed after queuing
  std::unique_ptr<pipeline::DeadLetterStore> dead_letters;
  std::vector<std::unique_ptr<checkpoint::PartitionCheckpointer>> checkpointers;
  std::vector<std::unique_ptr<pipeline::PartitionPipeline>> pipelines;
  std::vector<std::thread> threads;
};

namespace {

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

} // namespace

pipeline::PipelineOptions pipeline_options(const ConnectionConfig& c) {
  pipeline::PipelineOptions po;
  po.routing.defaults.database = c.target.database;
  po.routing.defaults.table = c.target.table;
  po.routing.defaults.format = c.target.format;
  po.routing.defaults.mapping = c.target.mapping;
  po.limits.max_bytes = c.batching.max_bytes;
  po.limits.max_events = c.batching.max_events;
  po.limits.linger = c.batching.linger;
  po.idle_flush = c.batching.idle_flush;
  return po;
}

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
  bridge->monitor_ = std::thread([b = bridge.get()] { b->monitor(); });
  return bridge;
}

Result<std::monostate> Bridge::start_connection(const ConnectionConfig& c) {
  auto log = logger("app");
  auto conn = std::make_unique<Connection>();
  conn->name = c.name;
  conn->database = c.target.database;

  hub::HubOptions hub_options;
  hub_options.connection = c.source.connection;
  hub_options.event_hub = c.source.event_hub;
  hub_options.consumer_group = c.source.consumer_group;
  hub_options.owner_level = c.source.owner_level;
  hub_options.ca_file = c.source.ca_file;
  hub_options.receiver_name = "hub2kusto-" + c.name;
  hub_options.tokens =
      azure::make_standalone_token_provider(c.source.credential, azure::kEventHubsAudience);
  hub_options.credit = hub::CreditWindow{.high = c.source.prefetch,
                                         .low = c.source.prefetch / 2,
                                         .max_bytes = c.source.max_buffered_bytes};
  conn->source = std::make_unique<hub::AmqpEventSource>(hub_options, conn->clock, conn->random);

  std::vector<PartitionId> partitions = c.source.partitions;
  const bool iot_hub = std::holds_alternative<IotHubConnectionString>(c.source.connection);
  std::string checkpoint_namespace = namespace_of(c.source.connection);
  // IoT Hub checkpoints: where versions before this one kept them (the IoT Hub host, and the
  // hub name only when it was learned), read once for partitions with none in the new place.
  std::optional<checkpoint::Scope> earlier_scope;
  if (partitions.empty() || iot_hub) {
    auto hub = conn->source->hub_properties(std::chrono::seconds(60));
    if (!hub) {
      return failure(fmt::format("connection '{}': cannot read the hub's partitions: {}", c.name,
                                 hub.error().message));
    }
    if (partitions.empty()) {
      partitions = hub->partition_ids;
      if (c.source.event_hub.value().empty()) {
        hub_options.event_hub = hub->name;
      }
    }
    if (iot_hub) {
      // As the SDKs scope them: the Event Hub-compatible namespace and name the redirect named,
      // whether or not the partitions are configured (docs/protocols.md, "IoT Hub").
      earlier_scope =
          checkpoint::Scope{checkpoint_namespace, hub_options.event_hub, c.source.consumer_group};
      checkpoint_namespace = hub->fully_qualified_namespace;
      hub_options.event_hub = hub->name;
    }
  }

  conn->kusto = make_kusto_sink(
      c, report_scope(c, namespace_of(c.source.connection), hub_options.event_hub.value()),
      conn->clock, conn->random, conn->sleeper);

  checkpoint::Scope scope{checkpoint_namespace, hub_options.event_hub, c.source.consumer_group};
  if (config_.checkpoint.store == CheckpointConfig::Store::blob) {
    conn->checkpoint_blobs =
        make_blob_client(config_.checkpoint, *conn->kusto->transport, conn->clock);
  }
  const auto make_store =
      [&](const checkpoint::Scope& s) -> std::unique_ptr<checkpoint::CheckpointStore> {
    if (conn->checkpoint_blobs) {
      return std::make_unique<checkpoint::BlobCheckpointStore>(*conn->checkpoint_blobs,
                                                               config_.checkpoint.container, s);
    }
    return std::make_unique<checkpoint::FileCheckpointStore>(config_.checkpoint.directory, s);
  };
  conn->store = make_store(scope);
  if (config_.dead_letter.store == DeadLetterConfig::Store::blob) {
    conn->dead_letter_blobs =
        make_blob_client(config_.dead_letter, *conn->kusto->transport, conn->clock);
    conn->dead_letters = std::make_unique<pipeline::BlobDeadLetterStore>(
        *conn->dead_letter_blobs, config_.dead_letter.container, c.name, conn->clock);
  } else {
    conn->dead_letters = std::make_unique<pipeline::FileDeadLetterStore>(
        std::filesystem::path(config_.dead_letter.directory) / (c.name + ".jsonl"));
  }
  // A store that cannot be written would stop the first partition that needs it, long after
  // start: find out now.
  if (auto ready = conn->store->prepare(); !ready) {
    return failure(fmt::format("connection '{}': {}", c.name, ready.error().message));
  }
  if (auto ready = conn->dead_letters->prepare(); !ready) {
    return failure(fmt::format("connection '{}': {}", c.name, ready.error().message));
  }

  const pipeline::PipelineOptions po = pipeline_options(c);

  auto checkpoints = checkpoint::load_all(*conn->store, partitions);
  if (!checkpoints) {
    return failure(fmt::format("connection '{}': {}", c.name, checkpoints.error().message));
  }
  if (earlier_scope &&
      (text::lower(earlier_scope->fully_qualified_namespace) !=
           text::lower(scope.fully_qualified_namespace) ||
       text::lower(earlier_scope->event_hub.value()) != text::lower(scope.event_hub.value()))) {
    std::vector<PartitionId> missing;
    for (std::size_t i = 0; i < partitions.size(); ++i) {
      if (!checkpoints.value()[i]) {
        missing.push_back(partitions[i]);
      }
    }
    const auto earlier_store = make_store(*earlier_scope);
    auto earlier = checkpoint::load_all(*earlier_store, missing);
    if (!earlier) {
      return failure(fmt::format("connection '{}': reading the checkpoints kept under {}/{}: {}",
                                 c.name, earlier_scope->fully_qualified_namespace,
                                 earlier_scope->event_hub, earlier.error().message));
    }
    for (std::size_t i = 0, m = 0; i < partitions.size(); ++i) {
      if (checkpoints.value()[i]) {
        continue;
      }
      if (auto& found = earlier.value()[m++]) {
        log->info("connection '{}' partition {}: checkpoint read from where earlier versions "
                  "kept it ({}/{}); saved under {}/{} from now on",
                  c.name, partitions[i], earlier_scope->fully_qualified_namespace,
                  earlier_scope->event_hub, scope.fully_qualified_namespace, scope.event_hub);
        checkpoints.value()[i] = std::move(found);
      }
    }
  }
  for (std::size_t i = 0; i < partitions.size(); ++i) {
    const PartitionId& id = partitions[i];
    const std::optional<checkpoint::Checkpoint>& stored = checkpoints.value()[i];
    const hub::StartPosition start = stored ? hub::StartPosition::after(stored->sequence_number)
                                            : configured_start(c.source.start_position);
    if (stored) {
      log->info("connection '{}' partition {}: resuming after sequence number {}", c.name, id,
                stored->sequence_number);
    }
    auto stream = conn->source->open_partition(id, start);
    auto cp = std::make_unique<checkpoint::PartitionCheckpointer>(
        id, *conn->store, conn->clock, config_.checkpoint.interval, stored);
    std::optional<pipeline::LocalMapper> mapper;
    if (c.target.local_mapping) {
      auto created = pipeline::LocalMapper::create(*c.target.local_mapping);
      if (!created) {
        return failure(
            fmt::format("connection '{}': target.schema: {}", c.name, created.error().message));
      }
      mapper.emplace(std::move(created).value());
    }
    auto p = std::make_unique<pipeline::PartitionPipeline>(po, stream, *conn->kusto->managed,
                                                           *conn->dead_letters, *cp, conn->clock,
                                                           conn->sleeper, std::move(mapper));
    auto view = std::make_unique<PartitionView>();
    view->id = id;
    view->stream = stream;
    view->pipeline = p.get();
    conn->partitions.push_back(std::move(view));
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
  std::lock_guard lock(monitor_mutex_);
  monitor_wake_.notify_all();
}

bool Bridge::finished() const {
  return running_.load() == 0;
}

bool Bridge::wait() {
  // The monitor runs until stop(). When every partition stopped on its own (stolen by a
  // receiver with a higher owner level, or failed), nobody else calls it: without this the
  // join below would wait forever, and the process would hang with /healthz still answering.
  stop();
  if (monitor_.joinable()) {
    monitor_.join();
  }
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

void Bridge::monitor() {
  while (true) {
    for (auto& c : connections_) {
      if (stopping_) {
        return;
      }
      refresh(*c);
    }
    std::unique_lock lock(monitor_mutex_);
    if (monitor_wake_.wait_for(lock, config_.ops.refresh_interval,
                               [this] { return stopping_.load(); })) {
      return;
    }
  }
}

void Bridge::refresh(Connection& c) {
  const auto timeout = std::min<std::chrono::milliseconds>(config_.ops.refresh_interval * 2,
                                                           std::chrono::seconds(10));
  for (auto& p : c.partitions) {
    auto props = c.source->partition_properties(p->id, timeout);
    if (props) {
      p->last_enqueued.store(props->is_empty ? -1 : props->last_enqueued_sequence_number.value());
      p->last_enqueued_unix_ms.store(std::chrono::duration_cast<std::chrono::milliseconds>(
                                         props->last_enqueued_time.time_since_epoch())
                                         .count());
    } else {
      logger("app")->debug("connection '{}' partition {}: lag not refreshed: {}", c.name, p->id,
                           props.error().message);
    }
  }
  c.queued_failures.fetch_add(record_queued_failures(*c.kusto->queued, *c.dead_letters, c.name),
                              std::memory_order_relaxed);
  auto probed = c.kusto->streaming->probe(c.database, timeout);
  std::lock_guard lock(c.probe_mutex);
  if (probed) {
    if (c.kusto_error) {
      logger("app")->info("connection '{}': the Kusto target answers again", c.name);
    }
    c.kusto_error.reset();
  } else {
    if (!c.kusto_error) {
      logger("app")->warn("connection '{}': the Kusto target does not answer: {}", c.name,
                          probed.error().message);
    }
    c.kusto_error = probed.error().message;
  }
  c.kusto_probed = true;
}

ops::Readiness Bridge::readiness() const {
  ops::Readiness r;
  for (const auto& c : connections_) {
    for (const auto& p : c->partitions) {
      const auto status = p->stream->status();
      if (status.state != hub::PartitionState::receiving) {
        r.reasons.push_back(fmt::format("connection '{}' partition {}: {}{}{}", c->name, p->id,
                                        hub::partition_state_name(status.state),
                                        status.reason.empty() ? "" : ": ", status.reason));
      }
      for (const auto& problem : p->pipeline->problems()) {
        r.reasons.push_back(
            fmt::format("connection '{}' partition {}: {}", c->name, p->id, problem));
      }
    }
    std::lock_guard lock(c->probe_mutex);
    if (!c->kusto_probed) {
      r.reasons.push_back(fmt::format("connection '{}': the Kusto target not probed yet", c->name));
    } else if (c->kusto_error) {
      r.reasons.push_back(fmt::format("connection '{}': {}", c->name, *c->kusto_error));
    }
  }
  if (stopping_) {
    r.reasons.emplace_back("stopping");
  }
  r.ready = r.reasons.empty();
  return r;
}

std::string Bridge::metrics_text() const {
  ops::PrometheusText m;
  const auto relaxed = std::memory_order_relaxed;
  for (const auto& c : connections_) {
    const ops::Labels conn{{"connection", c->name}};
    for (const auto& p : c->partitions) {
      const ops::Labels l{{"connection", c->name}, {"partition", p->id.value()}};
      const auto& pm = p->pipeline->metrics();
      pm.describe(m, l);
      hub::describe_stream(*p->stream, m, l);
      const std::int64_t checkpointed = pm.checkpoint_sequence_number.load(relaxed);
      const std::int64_t enqueued = p->last_enqueued.load(relaxed);
      if (enqueued >= 0) {
        m.gauge("hub2kusto_partition_last_enqueued_sequence_number",
                "The partition's last enqueued sequence number (management node).", l,
                static_cast<double>(enqueued));
        m.gauge("hub2kusto_partition_lag_events",
                "Events enqueued in the partition and not yet checkpointed.", l,
                static_cast<double>(std::max<std::int64_t>(0, enqueued - checkpointed)));
        if (const auto last = p->stream->last_received()) {
          m.gauge("hub2kusto_partition_receive_lag_events",
                  "Events enqueued in the partition and not yet received.", l,
                  static_cast<double>(std::max<std::int64_t>(0, enqueued - last->value())));
        }
      }
    }
    c->source->metrics().describe(m, conn);
    c->kusto->managed->metrics().describe(m, conn);
    m.counter("hub2kusto_queued_ingestion_failures_total",
              "Queued batches Kusto reported failed after accepting them (dead-lettered by "
              "batch).",
              conn, c->queued_failures.load(relaxed));
    std::lock_guard lock(c->probe_mutex);
    m.gauge("hub2kusto_kusto_reachable", "1 when the Kusto target answered the last probe.", conn,
            c->kusto_probed && !c->kusto_error ? 1 : 0);
  }
  return m.render();
}

} // namespace hub2kusto::app
