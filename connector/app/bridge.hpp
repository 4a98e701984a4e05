#pragma once
// Bridge: the composition root's running form (docs/architecture.md, "Seams"). For each configured
// connection it builds the hub source, the ingestors, the checkpoint and dead-letter stores,
// and one PartitionPipeline thread per partition, resumed after its checkpoint.
//
// Lifecycle (docs/architecture.md, "Acknowledgement"): stop() (the first SIGTERM/SIGINT) ends each
// pipeline's loop after its current step; each then delivers its open batches until the drain
// deadline and writes its final checkpoint; then the hub connections close. Events the pipelines
// had not taken stay behind the checkpoint and are read again at the next start: at least once.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "app/config.hpp"
#include "app/kusto_sink.hpp"
#include "base/result.hpp"
#include "checkpoint/checkpoint_store.hpp"
#include "common/liveness.hpp"
#include "common/memory_budget.hpp"
#include "common/workers.hpp"
#include "hub/amqp_event_source.hpp"
#include "ops/ops_server.hpp"
#include "pipeline/partition_pipeline.hpp"

namespace hub2kusto::app {

// A connection's routing defaults and batching limits, as its partition pipelines use them.
pipeline::PipelineOptions pipeline_options(const ConnectionConfig& c);

// How a connection's source reaches its hub (address, identity, transport, proxy), receiving
// as `receiver_name` with the configured prefetch; ownership and the memory budget are the
// bridge's to add.
hub::HubOptions hub_options(const ConnectionConfig& c, const std::string& receiver_name);

class Bridge {
public:
  // Connects every source, reads its partitions and checkpoints, starts the pipelines. Fails
  // with one readable message (no secrets) when a connection cannot start.
  static Result<std::unique_ptr<Bridge>> start(const Config& config);
  ~Bridge();

  // Any thread, once: begin the orderly stop.
  void stop();
  // Whether every pipeline has ended (all stopped, or all partitions failed).
  bool finished() const;
  // Stops (if not stopped yet) and blocks until every pipeline ended and the connections
  // closed. True when everything taken was delivered (or dead-lettered) and checkpointed, and
  // no partition failed.
  bool wait();

  // Any thread (the ops server's). Ready when every partition is receiving and every Kusto
  // target answered the last probe.
  ops::Readiness readiness() const;
  // Any thread: the AMQP threads and workers busy for longer than ops.stuck_after without
  // progress, one line each (/healthz fails on any).
  std::vector<std::string> stuck() const { return liveness_.stuck(config_.ops.stuck_after); }
  // Every series of docs/architecture.md, "Metrics and logs", per connection and partition.
  std::string metrics_text() const;

  struct Connection;

private:
  explicit Bridge(const Config& config);
  Result<std::monostate> start_connection(const ConnectionConfig& c);
  // The stored checkpoints of `partitions` (IoT Hub: with the place earlier versions used as
  // a fallback).
  Result<std::vector<std::optional<checkpoint::Checkpoint>>>
  load_checkpoints(Connection& c, const std::vector<PartitionId>& partitions);
  // Starts reading the partition after `stored` (or from the configured start).
  void start_partition(Connection& c, const PartitionId& id,
                       const std::optional<checkpoint::Checkpoint>& stored);
  // The balancer's hooks (balancer.hpp), on its thread.
  void gain_partitions(Connection& c, const std::vector<PartitionId>& ids);
  void lose_partition(Connection& c, const PartitionId& id);
  // The monitor thread: every ops.refresh_interval, reads each partition's last enqueued
  // sequence number from the hub's management node (for the lag series) and probes each
  // Kusto target (for readiness), until stop().
  void monitor();
  void refresh(Connection& c);

  const Config& config_;
  SystemClock clock_;
  RequestLimiters limiters_{clock_}; // before the connections, whose sinks share them
  // The AMQP threads' and the workers' hearts (before both): /healthz fails on a stuck one.
  Liveness liveness_;
  // Every partition's loop, taking turns (before the connections, whose streams and deliveries
  // wake the loops).
  Workers workers_;
  // limits.max_buffered_bytes: every partition's credit comes from it.
  std::shared_ptr<MemoryBudget> budget_;
  std::vector<std::unique_ptr<Connection>> connections_;
  std::atomic<bool> stopping_{false};
  std::atomic<std::int64_t> deadline_ns_{0}; // steady clock, set by stop()
  std::atomic<int> running_{0};
  std::atomic<bool> all_delivered_{true};
  std::thread monitor_;
  std::mutex monitor_mutex_;
  std::condition_variable monitor_wake_;
};

} // namespace hub2kusto::app
