#include "app/bridge.hpp"

#include <algorithm>
#include <filesystem>
#include <future>
#include <map>
#include <thread>

#include <fmt/format.h>

#include "app/kusto_sink.hpp"
#include "app/store_config.hpp"
#include "azure/blob_client.hpp"
#include "azure/token_provider.hpp"
#include "base/text.hpp"
#include "checkpoint/balancer.hpp"
#include "checkpoint/blob_checkpoint_store.hpp"
#include "checkpoint/blob_ownership_store.hpp"
#include "checkpoint/checkpointer.hpp"
#include "checkpoint/file_checkpoint_store.hpp"
#include "common/endpoint.hpp"
#include "common/key_value_list.hpp"
#include "common/logging.hpp"
#include "common/random.hpp"
#include "common/task_pool.hpp"
#include "hub/amqp_event_source.hpp"
#include "ops/prometheus.hpp"
#include "pipeline/dead_letter_store.hpp"
#include "pipeline/partition_pipeline.hpp"

namespace hub2kusto::app {

struct Bridge::Connection {
  // What the ops endpoints read about one partition, from any thread.
  struct PartitionView {
    PartitionId id;
    std::shared_ptr<hub::PartitionStream> stream;
    const pipeline::PartitionPipeline* pipeline = nullptr;
    // From the management node, refreshed by the monitor thread; -1: not read yet.
    std::atomic<std::int64_t> last_enqueued{-1};
    std::atomic<std::int64_t> last_enqueued_unix_ms{0};
  };

  // One partition this process reads: its pipeline's loop, taking turns on the workers.
  struct RunningPartition {
    std::shared_ptr<PartitionView> view;
    std::shared_ptr<checkpoint::OwnershipFence> fence =
        std::make_shared<checkpoint::OwnershipFence>();
    std::unique_ptr<checkpoint::PartitionCheckpointer> checkpointer;
    std::unique_ptr<pipeline::PartitionPipeline> pipeline;
    Workers::Handle loop;
    // Ready once the loop ended (drained or abandoned); its last turn keeps a reference.
    std::shared_ptr<std::promise<void>> over = std::make_shared<std::promise<void>>();
    std::future<void> over_future = over->get_future();
    std::atomic<bool> lost{false};  // another owner has it: abandon, do not drain
    std::atomic<bool> ended{false}; // the loop is over: nothing touches this any more
    bool active() const { return !lost.load() && !ended.load(); }
  };

  const ConnectionConfig* config = nullptr;
  std::string name;
  DatabaseName database;
  // What /metrics says the connection is (hub2kusto_connection_info), and how many partitions
  // its hub has: set at start.
  MetricLabels info;
  std::size_t partitions = 0;
  mutable std::mutex probe_mutex;
  std::optional<std::string> kusto_error; // the last probe's failure; none: reachable
  bool kusto_probed = false;
  SystemClock clock;
  SystemRandom random;
  ThreadSleeper sleeper;
  std::unique_ptr<hub::AmqpEventSource> source;
  std::unique_ptr<KustoSink> kusto;
  // The partitions' batches, joined into requests (after `kusto`, which it uses; before
  // `running`, whose pipelines wait for their batch in flight when they end) and the pool
  // its deliveries run on (after the queue: the pool ends first, running what is left).
  std::unique_ptr<pipeline::DeliveryQueue> queue;
  std::unique_ptr<TaskPool> deliveries;
  std::unique_ptr<azure::BlobClient> checkpoint_blobs;
  std::unique_ptr<azure::BlobClient> dead_letter_blobs;
  std::unique_ptr<checkpoint::CheckpointStore> store;
  // IoT Hub: where earlier versions kept the checkpoints, read for partitions with none.
  std::unique_ptr<checkpoint::CheckpointStore> earlier_store;
  std::string place; // "<namespace>/<hub>", for messages
  std::string earlier_place;
  pipeline::DeadLetterCounts queued_failures; // batches Kusto failed after queuing
  Histogram latency; // delivered events: seconds from enqueued to Kusto's acknowledgement
  std::unique_ptr<pipeline::DeadLetterStore> dead_letters;
  pipeline::PipelineOptions pipeline_options;
  std::unique_ptr<checkpoint::BlobOwnershipStore> ownership;
  std::unique_ptr<checkpoint::Balancer> balancer; // null: every configured partition is ours
  mutable std::mutex running_mutex;
  std::map<std::string, std::unique_ptr<RunningPartition>> running; // by partition id

  // The views of the partitions read now, for the ops endpoints and the monitor.
  std::vector<std::shared_ptr<PartitionView>> views() const {
    std::lock_guard lock(running_mutex);
    std::vector<std::shared_ptr<PartitionView>> out;
    for (const auto& [id, p] : running) {
      if (p->active()) {
        out.push_back(p->view);
      }
    }
    return out;
  }
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

hub::HubOptions hub_options(const ConnectionConfig& c, const std::string& receiver_name) {
  hub::HubOptions o;
  o.connection = c.source.connection;
  o.event_hub = c.source.event_hub;
  o.consumer_group = c.source.consumer_group;
  o.ca_file = c.source.ca_file;
  o.transport = c.source.transport;
  o.proxy = c.source.proxy;
  o.receiver_name = receiver_name;
  o.tokens = azure::make_standalone_token_provider(c.source.credential, azure::kEventHubsAudience);
  o.credit = hub::CreditWindow{.high = c.source.prefetch,
                               .low = c.source.prefetch / 2,
                               .max_bytes = c.source.max_buffered_bytes};
  return o;
}

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

Bridge::Bridge(const Config& config)
    : config_(config),
      workers_(config.workers != 0 ? config.workers
                                   : std::max(2U, std::thread::hardware_concurrency()),
               "h2k-worker", &liveness_),
      budget_(MemoryBudget::create(config.max_buffered_bytes)) {}

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

  hub::HubOptions source_options = hub_options(c, "hub2kusto-" + c.name);
  source_options.liveness = &liveness_;
  source_options.owner_level = c.source.owner_level;
  if (config_.ownership_on() && !source_options.owner_level) {
    source_options.owner_level = 0; // a new owner's receiver evicts the old one (as the SDKs read)
  }
  source_options.budget = budget_;
  conn->source = std::make_unique<hub::AmqpEventSource>(source_options, conn->clock, conn->random);

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
        source_options.event_hub = hub->name;
      }
    }
    if (iot_hub) {
      // As the SDKs scope them: the Event Hub-compatible namespace and name the redirect named,
      // whether or not the partitions are configured (docs/protocols.md, "IoT Hub").
      earlier_scope = checkpoint::Scope{checkpoint_namespace, source_options.event_hub,
                                        c.source.consumer_group};
      checkpoint_namespace = hub->fully_qualified_namespace;
      source_options.event_hub = hub->name;
    }
  }

  conn->kusto = make_kusto_sink(
      c, report_scope(c, namespace_of(c.source.connection), source_options.event_hub.value()),
      c.delivery.deduplicate
          ? deduplication_scope(checkpoint_namespace, source_options.event_hub.value())
          : std::string(),
      limiters_.for_target(c.target), conn->clock, conn->random, conn->sleeper);

  checkpoint::Scope scope{checkpoint_namespace, source_options.event_hub, c.source.consumer_group};
  conn->partitions = partitions.size();
  conn->info = {{"connection", c.name},
                {"namespace", checkpoint_namespace},
                {"event_hub", source_options.event_hub.value()},
                {"consumer_group", c.source.consumer_group.value()},
                {"database", c.target.database.value()},
                {"table", c.target.table.value()}};
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

  conn->config = &c;
  conn->pipeline_options = pipeline_options(c);
  // Twice the requests the cluster takes at once: while some threads wait in a retry's pause
  // or upload a queued batch, others keep the cluster's share busy.
  conn->deliveries = std::make_unique<TaskPool>(
      2 * static_cast<std::size_t>(c.target.max_concurrent_requests), "h2k-delivery");
  conn->queue = std::make_unique<pipeline::DeliveryQueue>(
      pipeline::DeliveryQueue::Options{
          .limits = conn->pipeline_options.limits,
          .max_requests = static_cast<std::size_t>(c.target.max_concurrent_requests),
          // The de-duplication key must name the same events for every reader.
          .join = !c.delivery.deduplicate,
          .retry_first = conn->pipeline_options.retry_first,
          .retry_max = conn->pipeline_options.retry_max,
          .smaller_batches_for = conn->pipeline_options.smaller_batches_for,
          .connection = c.name},
      *conn->deliveries, *conn->kusto->managed, conn->clock, conn->sleeper);
  conn->pipeline_options.queue = conn->queue.get();
  conn->pipeline_options.latency = &conn->latency;
  if (c.target.local_mapping) { // each partition builds its own; find a problem now
    if (auto created = pipeline::LocalMapper::create(*c.target.local_mapping); !created) {
      return failure(
          fmt::format("connection '{}': target.schema: {}", c.name, created.error().message));
    }
  }
  if (earlier_scope &&
      (text::lower(earlier_scope->fully_qualified_namespace) !=
           text::lower(scope.fully_qualified_namespace) ||
       text::lower(earlier_scope->event_hub.value()) != text::lower(scope.event_hub.value()))) {
    conn->earlier_store = make_store(*earlier_scope);
    conn->earlier_place =
        fmt::format("{}/{}", earlier_scope->fully_qualified_namespace, earlier_scope->event_hub);
  }
  conn->place = fmt::format("{}/{}", scope.fully_qualified_namespace, scope.event_hub);
  Connection& connection = *conn;
  connections_.push_back(std::move(conn));

  if (config_.ownership_on()) {
    // Which partitions are ours is decided cycle by cycle, with the other replicas.
    connection.ownership = std::make_unique<checkpoint::BlobOwnershipStore>(
        *connection.checkpoint_blobs, config_.checkpoint.container, scope);
    const auto& o = config_.ownership;
    connection.balancer = std::make_unique<checkpoint::Balancer>(
        *connection.ownership, partitions,
        checkpoint::BalancerOptions{o.owner_id, o.update_interval, o.expiration,
                                    o.greedy ? checkpoint::BalancingStrategy::greedy
                                             : checkpoint::BalancingStrategy::balanced},
        connection.clock, connection.random,
        checkpoint::Balancer::Hooks{
            [this, &connection](const std::vector<PartitionId>& ids) {
              gain_partitions(connection, ids);
            },
            [this, &connection](const PartitionId& id) { lose_partition(connection, id); }});
    log->info("connection '{}': {} partition(s) shared with the other owners of {} as '{}'", c.name,
              partitions.size(), connection.place, o.owner_id);
    connection.balancer->start();
    return std::monostate{};
  }
  auto checkpoints = load_checkpoints(connection, partitions);
  if (!checkpoints) {
    return failure(fmt::format("connection '{}': {}", c.name, checkpoints.error().message));
  }
  for (std::size_t i = 0; i < partitions.size(); ++i) {
    start_partition(connection, partitions[i], checkpoints.value()[i]);
  }
  log->info("connection '{}': {} partition(s) started", c.name, partitions.size());
  return std::monostate{};
}

Result<std::vector<std::optional<checkpoint::Checkpoint>>>
Bridge::load_checkpoints(Connection& c, const std::vector<PartitionId>& partitions) {
  auto checkpoints = c.store->load_many(partitions);
  if (!checkpoints || !c.earlier_store) {
    return checkpoints;
  }
  std::vector<PartitionId> missing;
  for (std::size_t i = 0; i < partitions.size(); ++i) {
    if (!checkpoints.value()[i]) {
      missing.push_back(partitions[i]);
    }
  }
  auto earlier = c.earlier_store->load_many(missing);
  if (!earlier) {
    return failure(fmt::format("reading the checkpoints kept under {}: {}", c.earlier_place,
                               earlier.error().message));
  }
  for (std::size_t i = 0, m = 0; i < partitions.size(); ++i) {
    if (checkpoints.value()[i]) {
      continue;
    }
    if (auto& found = earlier.value()[m++]) {
      logger("app")->info("connection '{}' partition {}: checkpoint read from where earlier "
                          "versions kept it ({}); saved under {} from now on",
                          c.name, partitions[i], c.earlier_place, c.place);
      checkpoints.value()[i] = std::move(found);
    }
  }
  return checkpoints;
}

void Bridge::start_partition(Connection& c, const PartitionId& id,
                             const std::optional<checkpoint::Checkpoint>& stored) {
  const hub::StartPosition start = stored ? hub::StartPosition::after(stored->sequence_number)
                                          : configured_start(c.config->source.start_position);
  if (stored) {
    logger("app")->info("connection '{}' partition {}: resuming after sequence number {}", c.name,
                        id, stored->sequence_number);
  }
  std::optional<pipeline::LocalMapper> mapper;
  if (c.config->target.local_mapping) { // checked at start
    mapper.emplace(pipeline::LocalMapper::create(*c.config->target.local_mapping).value());
  }
  auto p = std::make_unique<Connection::RunningPartition>();
  p->view = std::make_shared<Connection::PartitionView>();
  p->view->id = id;
  p->view->stream = c.source->open_partition(id, start);
  p->checkpointer = std::make_unique<checkpoint::PartitionCheckpointer>(
      id, *c.store, c.clock, config_.checkpoint.interval, stored, p->fence);
  p->pipeline = std::make_unique<pipeline::PartitionPipeline>(
      c.pipeline_options, p->view->stream, *c.kusto->managed, *c.dead_letters, *p->checkpointer,
      c.clock, c.sleeper, std::move(mapper));
  p->view->pipeline = p->pipeline.get();
  ++running_;
  Connection::RunningPartition* rp = p.get();
  // The loop's last turn: the pipeline stopped (told to, or its stream ended or was stolen).
  const auto end = [this, &c, rp] {
    if (c.balancer && !rp->lost &&
        rp->view->stream->status().state == hub::PartitionState::stolen) {
      // A new owner's receiver took the link before our cycle saw its claim: the same loss.
      rp->fence->withdraw();
      rp->lost = true;
      c.balancer->forget(rp->view->id);
    }
    rp->view->stream->on_readable(nullptr);
    if (rp->lost) {
      rp->pipeline->abandon();
      c.source->close_partition(rp->view->id);
    } else {
      const auto deadline =
          deadline_ns_.load() != 0
              ? std::chrono::steady_clock::time_point(std::chrono::nanoseconds(deadline_ns_.load()))
              : std::chrono::steady_clock::now() + config_.drain_deadline;
      if (!rp->pipeline->drain(deadline)) {
        all_delivered_ = false;
      }
    }
  };
  p->loop = workers_.add(
      [this, rp, end, over = p->over, connection = c.name]() -> std::optional<Workers::TimePoint> {
        const LogFields fields{{"connection", connection}, {"partition", rp->view->id.value()}};
        if (!rp->pipeline->stopping() && rp->pipeline->step(false)) {
          return rp->pipeline->next_turn();
        }
        end();
        --running_;
        rp->ended = true; // from here on the partition may be reaped: only `over` is used
        over->set_value();
        return std::nullopt;
      });
  // Woken by its events, by its delivery's end, and by stop(); the first turn comes now.
  p->view->stream->on_readable([this, loop = p->loop] { workers_.wake(loop); });
  p->pipeline->on_delivery_end([this, loop = p->loop] { workers_.wake(loop); });
  workers_.wake(p->loop);
  std::lock_guard lock(c.running_mutex);
  c.running[id.value()] = std::move(p);
}

namespace {

// Removes the partitions whose loops are over. Under the connection's running_mutex.
void reap(decltype(Bridge::Connection::running)& running) {
  for (auto it = running.begin(); it != running.end();) {
    if (it->second->ended) {
      it = running.erase(it);
    } else {
      ++it;
    }
  }
}

} // namespace

void Bridge::gain_partitions(Connection& c, const std::vector<PartitionId>& gained) {
  std::vector<PartitionId> ids;
  {
    std::lock_guard lock(c.running_mutex);
    reap(c.running);
    if (stopping_) {
      return; // released with the others
    }
    for (const auto& id : gained) {
      if (!c.running.contains(id.value())) { // else the last owner's thread is ending
        ids.push_back(id);
      }
    }
  }
  if (ids.empty()) {
    return;
  }
  // Reading it from its default position could skip or repeat data: the claim lapses instead
  // and the partition is claimed again (here or elsewhere) when it expires.
  const auto not_read = [&](const PartitionId& id, const Error& why) {
    logger("app")->error("connection '{}' partition {}: claimed but its checkpoint cannot be "
                         "read, so it is not read: {}",
                         c.name, id, why.message);
    c.balancer->forget(id);
  };
  // Together: one listing for many (blob_checkpoint_store.hpp).
  auto stored = load_checkpoints(c, ids);
  if (stored) {
    for (std::size_t i = 0; i < ids.size(); ++i) {
      start_partition(c, ids[i], stored.value()[i]);
    }
    return;
  }
  if (ids.size() == 1) {
    not_read(ids.front(), stored.error());
    return;
  }
  // Each on its own, so one unreadable checkpoint holds back only its own partition.
  for (const auto& id : ids) {
    if (auto one = load_checkpoints(c, {id}); one) {
      start_partition(c, id, one.value().front());
    } else {
      not_read(id, one.error());
    }
  }
}

void Bridge::lose_partition(Connection& c, const PartitionId& id) {
  std::lock_guard lock(c.running_mutex);
  const auto it = c.running.find(id.value());
  if (it == c.running.end() || it->second->lost) {
    return;
  }
  // No checkpoint is written from now on; the loop ends after its current turn, waits for the
  // batch in flight and drops the rest (its last turn).
  it->second->fence->withdraw();
  it->second->lost = true;
  it->second->pipeline->stop();
  workers_.wake(it->second->loop);
}

void Bridge::stop() {
  if (stopping_.exchange(true)) {
    return;
  }
  deadline_ns_ =
      (std::chrono::steady_clock::now() + config_.drain_deadline).time_since_epoch().count();
  for (auto& c : connections_) {
    std::lock_guard lock(c->running_mutex);
    for (auto& [id, p] : c->running) {
      p->pipeline->stop();
      workers_.wake(p->loop);
    }
  }
  std::lock_guard lock(monitor_mutex_);
  monitor_wake_.notify_all();
}

bool Bridge::finished() const {
  // A replica that balances may own nothing for a while: it goes on until stopped.
  return running_.load() == 0 && std::none_of(connections_.begin(), connections_.end(),
                                              [](const auto& c) { return c->balancer != nullptr; });
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
    if (c->balancer) {
      c->balancer->stop(); // no partition gained or lost from here on
    }
    {
      std::lock_guard lock(c->running_mutex);
      for (auto& [id, p] : c->running) {
        p->pipeline->stop(); // one the balancer started after stop() went by
        workers_.wake(p->loop);
        p->over_future.wait();
      }
      c->running.clear();
    }
    if (c->balancer) {
      // Drained and checkpointed: the others may take them at once.
      c->balancer->release_all();
    }
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
  for (const auto& p : c.views()) {
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
  record_queued_failures(*c.kusto->queued, *c.dead_letters, c.queued_failures, c.name);
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
    std::unique_lock running(c->running_mutex); // the pipelines stay while they are read
    for (const auto& [key, rp] : c->running) {
      if (!rp->active()) {
        continue;
      }
      const auto& p = rp->view;
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
    running.unlock();
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
  static constexpr std::string_view kLagSecondsHelp =
      "How late the stored checkpoint is: 0 when it holds the partition's newest event, else "
      "seconds since the event at the checkpoint was enqueued. Absent until this process stored "
      "a checkpoint while behind.";
  for (const auto& c : connections_) {
    const ops::Labels conn{{"connection", c->name}};
    const std::int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                    c->clock.system_now().time_since_epoch())
                                    .count();
    std::unique_lock running(c->running_mutex); // the pipelines stay while they are read
    for (const auto& [key, rp] : c->running) {
      if (!rp->active()) {
        continue;
      }
      const auto& p = rp->view;
      const ops::Labels l{{"connection", c->name}, {"partition", p->id.value()}};
      const auto& pm = p->pipeline->metrics();
      pm.describe(m, l);
      hub::describe_stream(*p->stream, m, l);
      const std::int64_t checkpointed = pm.checkpoint_sequence_number.load(relaxed);
      const std::int64_t enqueued = p->last_enqueued.load(relaxed);
      if (enqueued >= 0) {
        const auto seconds_since = [&](std::int64_t unix_ms) {
          // In doubles: an enqueued time may be anything, and int64 arithmetic could overflow.
          return std::max(0.0,
                          (static_cast<double>(now_ms) - static_cast<double>(unix_ms)) / 1000.0);
        };
        m.gauge("hub2kusto_partition_last_enqueued_age_seconds",
                "Seconds since the partition's newest event was enqueued (management node): how "
                "quiet the partition is.",
                l, seconds_since(p->last_enqueued_unix_ms.load(relaxed)));
        // Caught up, the checkpoint is not late however old its event; behind, it is as late
        // as its event is old (the next event to deliver is at least that old).
        const std::int64_t checkpoint_enqueued = pm.checkpoint_enqueued_unix_ms.load(relaxed);
        if (checkpointed >= enqueued) {
          m.gauge("hub2kusto_partition_lag_seconds", kLagSecondsHelp, l, 0);
        } else if (checkpoint_enqueued > 0) {
          m.gauge("hub2kusto_partition_lag_seconds", kLagSecondsHelp, l,
                  seconds_since(checkpoint_enqueued));
        }
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
    running.unlock();
    if (c->balancer) {
      c->balancer->metrics().describe(m, conn);
    }
    c->source->metrics().describe(m, conn);
    c->kusto->managed->metrics().describe(m, conn);
    c->queued_failures.describe(m, conn, "hub2kusto_queued_ingestion_failures_total",
                                "Queued batches Kusto reported failed after accepting them "
                                "(dead-lettered by batch), by the report's error code.");
    m.counter("hub2kusto_queued_duplicates_skipped_total",
              "Queued batches Kusto skipped because the table already held their "
              "de-duplication key (delivery.deduplicate).",
              conn, c->kusto->queued->duplicates_skipped());
    m.gauge("hub2kusto_connection_info",
            "1 per connection, with the hub namespace, Event Hub, consumer group, database and "
            "table it joins: join other series on `connection` to filter by them.",
            c->info, 1);
    m.gauge("hub2kusto_connection_partitions",
            "Partitions the connection reads, by this replica or others: the configured ones, else "
            "all of the hub's.",
            conn, static_cast<double>(c->partitions));
    c->queue->describe(m, conn);
    m.histogram("hub2kusto_end_to_end_latency_seconds",
                "Seconds from an event's enqueued time in the hub to Kusto's acknowledgement of "
                "the batch that carried it (streaming: the answer; queued: the blob's message "
                "posted, not the ingestion the service does later).",
                conn, c->latency.snapshot());
    std::lock_guard lock(c->probe_mutex);
    m.gauge("hub2kusto_kusto_reachable", "1 when the Kusto target answered the last probe.", conn,
            c->kusto_probed && !c->kusto_error ? 1 : 0);
  }
  limiters_.describe(m);
  m.gauge("hub2kusto_threads_stuck",
          "AMQP threads and workers busy for longer than ops.stuck_after without progress "
          "(/healthz fails while it is above 0).",
          {}, static_cast<double>(stuck().size()));
  m.gauge("hub2kusto_memory_budget_bytes",
          "limits.max_buffered_bytes: events taken from the hubs and not yet delivered, by every "
          "partition together, at most.",
          {}, static_cast<double>(budget_->limit()));
  m.gauge("hub2kusto_memory_budget_used_bytes",
          "What the partitions hold of it now: receive buffers and their credit, open batches and "
          "batches not yet delivered.",
          {}, static_cast<double>(budget_->used()));
  return m.render();
}

} // namespace hub2kusto::app
