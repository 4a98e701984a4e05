#pragma once
// PartitionPipeline: one partition from hub to Kusto, in turns on the workers that `run`
// shares between partitions, or on a thread of its own with run() (docs/architecture.md,
// "Threads", "Acknowledgement", 3, 7, 8). The loop, as it runs:
//
//   take events from the PartitionStream (waiting at most until the next batch is due)
//   for each event:  route it (unusable routing properties -> dead-letter, finished at once)
//                    add its body to its route's batch; track it in the checkpointer
//   for each batch that is full or due (or all open batches, once the partition has been quiet
//   for idle_flush):
//     ingest it (the managed ingestor decides streaming or queued) through the connection's
//     delivery queue, which joins it with other partitions' batches for the same target, while
//     the loop goes on taking and batching; one batch in flight per partition, in order: the
//     next waits for it, and its outcome is applied on this thread
//       delivered -> complete it
//       rejected  -> split it in halves and ingest each, down to single events, so only the
//                    events Kusto refuses are dead-lettered (with the service's reason)
//       retriable -> wait (backoff, or the service's Retry-After) and ingest it again; no new
//                    events are taken meanwhile, so the hub's credit runs out: backpressure
//   save the checkpoint when due (throttled)
//   on stop: close the open batches, deliver them until the deadline, save the checkpoint
//
// Memory is bounded by the partition's buffer (source.prefetch events and
// source.max_buffered_bytes, which AMQP credit follows) plus the open batch of each route, the
// next full batch and the one in flight (events taken, not yet delivered); and, for all
// partitions together, by the process's budget: after every turn the pipeline tells its stream
// what it holds, and the stream's credit comes from what the budget has left.
//
// Bodies are forwarded as they came, with the route's format and mapping reference for Kusto
// to apply; one record per line for the text formats. With a LocalMapper, events on the
// configured route are mapped here instead and sent as CSV rows (an unmappable event is
// dead-lettered at once with the engine's reason); events routed elsewhere by their properties
// are forwarded as they came.
#include <atomic>
#include <chrono>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>

#include "checkpoint/checkpointer.hpp"
#include "common/clock.hpp"
#include "common/metrics.hpp"
#include "common/random.hpp"
#include "hub/event_source.hpp"
#include "ingest/ingestor.hpp"
#include "pipeline/batcher.hpp"
#include "pipeline/dead_letter_store.hpp"
#include "pipeline/delivery_queue.hpp"
#include "pipeline/local_mapper.hpp"
#include "pipeline/router.hpp"

namespace hub2kusto::pipeline {

struct PipelineOptions {
  RoutingConfig routing;
  BatchLimits limits;
  std::size_t take_max = 1'000;                 // events taken from the stream per call
  std::chrono::milliseconds retry_first{1'000}; // between ingest attempts of a held batch
  std::chrono::milliseconds retry_max{30'000};
  // Deliver each partition's batches off the pipeline thread, one at a time and in order,
  // while the pipeline goes on taking and batching: receiving overlaps ingesting. Off, a batch
  // is delivered on the pipeline thread before the next events are taken.
  bool concurrent_delivery = true;
  // Where those deliveries go: the connection's queue, which joins the batches of its
  // partitions into fewer requests and runs them on the connection's pool (it must outlive the
  // pipeline). Without one (`hub2kusto replay`), each batch is a request of its own, on a
  // thread of its own.
  DeliveryQueue* queue = nullptr;
  // A partition that delivered no event for this long flushes its open batches without waiting
  // for the linger: a drained backlog or a pause in traffic is ingested at once. Zero: off.
  std::chrono::milliseconds idle_flush{100};
  // Largest body an event sent with `Compression=gzip` may inflate to; a larger one is
  // dead-lettered rather than held in memory.
  std::size_t max_inflated_event_bytes = 4U << 20;
  // How long a table's batches stay smaller after the service refused one as too large.
  std::chrono::milliseconds smaller_batches_for{15 * 60 * 1'000};
  // Where each delivered event's end-to-end latency goes (seconds from its enqueued time to
  // Kusto's acknowledgement): the connection's, shared by its partitions. None: not measured.
  Histogram* latency = nullptr;
};

struct PipelineMetrics {
  std::atomic<std::uint64_t> events_received{0};
  std::atomic<std::uint64_t> events_ingested{0};
  DeadLetterCounts events_dead_lettered; // by stage and the service's error code
  std::atomic<std::uint64_t> batches_delivered{0};
  std::atomic<std::uint64_t> batches_rejected{0};
  std::atomic<std::uint64_t> batch_retries{0};
  std::atomic<std::uint64_t> checkpoint_failures{0};
  // Delivery attempts refused because the configured target is wrong (the partition holds).
  std::atomic<std::uint64_t> target_problem_retries{0};
  std::atomic<std::uint64_t> values_nulled{0}; // local mapping: values that became null
  // Gauges.
  std::atomic<std::int64_t> checkpoint_sequence_number{-1}; // stored; -1: none yet
  // When the event at the stored checkpoint was enqueued (Unix ms); 0: not known (none stored
  // by this process yet). Not a series of its own: the lag in seconds is made of it.
  std::atomic<std::int64_t> checkpoint_enqueued_unix_ms{0};
  // Taken from the hub and not yet delivered: open batches, plus delivering_bytes.
  std::atomic<std::uint64_t> in_flight_bytes{0};
  // Of those, the batches handed to delivery (in flight to Kusto, or held for a retry).
  std::atomic<std::uint64_t> delivering_bytes{0};

  // Every field above as a series with `labels` (connection and partition); the checkpoint's
  // sequence number only once there is one.
  void describe(MetricsSink& out, const MetricLabels& labels) const;
};

class PartitionPipeline : private DeliveryMember {
public:
  PartitionPipeline(PipelineOptions options, std::shared_ptr<hub::PartitionStream> stream,
                    ingest::Ingestor& ingestor, DeadLetterStore& dead_letters,
                    checkpoint::PartitionCheckpointer& checkpointer, const Clock& clock,
                    Sleeper& sleeper, std::optional<LocalMapper> mapper = std::nullopt);
  // Waits for the batch in flight, if one is: its delivery uses this pipeline.
  ~PartitionPipeline() override;
  PartitionPipeline(const PartitionPipeline&) = delete;
  PartitionPipeline& operator=(const PartitionPipeline&) = delete;

  // One turn of the loop: take, batch, deliver what is ready, save the checkpoint when due.
  // Returns false once the stream is stopped and drained. With `block` it waits for events (up
  // to when the next batch is due) and for the batch in flight before it launches the next;
  // without, it waits for neither (a turn on Workers): next_turn() says when to come back.
  bool step(bool block = true);
  // After a turn that did not block: when the next is due at the latest (now, when the stream
  // may hold more than one take).
  std::chrono::steady_clock::time_point next_turn() const;
  // Set before the first turn: called on the delivery's thread when a batch in flight has its
  // outcome, so a loop that does not block comes back for it.
  void on_delivery_end(std::function<void()> callback) { on_delivery_end_ = std::move(callback); }
  bool stopping() const override { return stopping_; }
  // Runs step() until stop() or the stream ends, then drain().
  void run();
  // Any thread: ends run() after the current step.
  void stop();
  // Delivers every open batch (giving up on a batch that is still retriable at `deadline`) and
  // saves the checkpoint. Returns whether everything was delivered.
  bool drain(std::chrono::steady_clock::time_point deadline);

  // After the partition went to another owner: waits for the batch in flight (sent already)
  // and drops the open and held batches undelivered; the new owner reads their events again
  // after the checkpoint. Saves nothing.
  void abandon();
  const PipelineMetrics& metrics() const { return metrics_; }
  // Any thread: why the partition cannot go on at the moment, for /readyz: the Kusto target
  // refuses every batch, or the dead-letter or the checkpoint store refuses writes. Empty when
  // nothing is wrong.
  std::vector<std::string> problems() const;

private:
  // False when the event could not be finished (its dead letter was not written before
  // stopping): it and the events after it are left behind the checkpoint.
  bool accept(const hub::HubEvent& event);
  // Ingests until delivered or rejected; false when the deadline passed or stop() was called
  // while it still was retriable.
  bool deliver(ReadyBatch& batch, std::optional<std::chrono::steady_clock::time_point> deadline);
  // DeliveryMember, for the queue's deliveries.
  bool deliver_alone(const ReadyBatch& run) override;
  void judge(const ingest::Batch& request, ingest::DeliveryStatus& status,
             std::size_t events) override;
  // Events [begin, end) of `batch` as one request; a rejection splits the range in halves.
  bool deliver_range(const ReadyBatch& batch, std::size_t begin, std::size_t end,
                     std::optional<std::chrono::steady_clock::time_point> deadline);
  // Whether `target` is the configured one (not one an event's routing properties chose).
  bool configured(const ingest::IngestTarget& target) const;
  // Writes the records, retrying while the store refuses them; false when the deadline (or,
  // without one, stop()) comes first.
  bool dead_letter(std::vector<DeadLetter> records,
                   std::optional<std::chrono::steady_clock::time_point> deadline = std::nullopt);
  // Whether a retry loop gives up rather than wait `wait` more: draining, when that passes the
  // deadline; running (no deadline), once stop() was called.
  bool give_up(std::optional<std::chrono::steady_clock::time_point> deadline,
               std::chrono::milliseconds wait) const;
  // Sleeps `wait`, or less once stop() is called.
  void pause_unless_stopped(std::chrono::milliseconds wait);
  void set_problem(std::string& slot, std::string problem);
  // Starts delivering `batch` off the pipeline thread (concurrent_delivery).
  void launch(ReadyBatch batch);
  // Completes the batch in flight once delivered (waiting for it with `block`); false when it
  // was not delivered (stopping while Kusto refused it), and then it is held for drain().
  bool settle(bool block);
  void save_checkpoint(bool now);
  // The batch's outcome is final: the checkpointer may pass it, and its events' latency counts.
  void finished(const ReadyBatch& batch);
  // Tells the queue whether this partition has open batches (their events may join a request
  // that waits), when that changed.
  void report_batching();

  PipelineOptions options_;
  std::shared_ptr<hub::PartitionStream> stream_;
  ingest::Ingestor& ingestor_;
  DeadLetterStore& dead_letters_;
  checkpoint::PartitionCheckpointer& checkpointer_;
  const Clock& clock_;
  Sleeper& sleeper_;
  Batcher batcher_;
  PipelineMetrics metrics_;
  std::atomic<bool> stopping_{false};
  bool reported_batching_ = false;
  bool took_all_ = true; // the last take emptied what the stream had (fewer than take_max)
  std::function<void()> on_delivery_end_;
  std::chrono::steady_clock::time_point last_event_{}; // when the last event was taken
  std::vector<ReadyBatch> ready_;
  struct InFlight {
    std::shared_ptr<ReadyBatch> batch;
    std::future<bool> done;
  };
  std::optional<InFlight> in_flight_;
  std::vector<ReadyBatch> held_; // not delivered while stopping: drain() tries them again
  // Tables whose batches the service refused as too large, from the delivery thread: the
  // pipeline thread limits their batches at its next step.
  std::mutex size_limits_mutex_;
  std::vector<std::pair<std::string, std::size_t>> size_limits_;
  std::optional<LocalMapper> mapper_;
  std::string mapped_;   // scratch: one event's rows
  std::string inflated_; // scratch: one `Compression=gzip` event's body, inflated
  // The configured route's batch key, and the route and key of locally mapped events: kept,
  // not built per event.
  std::string default_key_;
  Route mapped_route_;
  std::string mapped_key_;
  mutable std::mutex problems_mutex_;
  std::string target_problem_; // the Kusto target's refusal, until a batch gets an answer
  std::optional<std::chrono::steady_clock::time_point> last_target_log_; // delivery thread
  std::string dead_letter_problem_; // the dead-letter store's last refusal, until it takes one
  std::string checkpoint_problem_;  // the checkpoint store's, until a save succeeds
};

} // namespace hub2kusto::pipeline
