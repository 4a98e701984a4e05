#pragma once
// DeliveryQueue: a connection's batches on their way to Kusto, joined across partitions
// (docs/architecture.md, "Requests across partitions"). Each partition hands it one batch at a
// time (its run of events for one route); the runs that wait for the same target (database,
// table, format, mapping) are joined into one request, up to the batch limits. The queue sends
// at most `max_requests` requests at once, and a request leaves when a slot is free and
//   - it is full: the next run for its target would not fit, or a run in it closed at the
//     batch limits by itself (a busy partition's), or
//   - one of its runs is due: its first event arrived a linger ago, and a tenth of the linger
//     more has passed, for company (partitions that each close a batch at the linger hand them
//     in one after another; without it, each left on its own as it came); a run handed in
//     after it came due waits that tenth from when it came (under load a partition hands in
//     its next run only when its last request ended, late, together with the partitions whose
//     runs that request carried), or
//   - no partition of the connection is batching events: nothing else is coming, or
//   - a partition of it is stopping.
// So a quiet connection sends each run at once, and a busy one, or one with hundreds of
// partitions that each close small batches, sends fewer and larger requests: the cost follows
// the events, not the partition count. Group commit, as databases write their log.
//
// What becomes of a joined request:
//   delivered -> every run in it is delivered: each completes in its own partition
//   rejected  -> each run is sent again on its own, by its partition, which splits it to find
//                the events Kusto refuses (a bad record names no partition)
//   retriable -> the same runs are sent again after the pause (backoff, or Retry-After); a run
//                whose partition is stopping leaves it, undelivered, for the partition's drain
//
// Runs are not joined when they are files of a binary format (each event is one), or when the
// connection asks Kusto to drop batches it has seen (delivery.deduplicate): that key must name
// the same events for every reader, and which runs wait together is chance.
//
// Threads: any thread may call the public methods; deliveries run on the connection's TaskPool,
// which must be destroyed before the queue (it runs what was submitted, then joins), and a
// timer thread of the queue's own ("h2k-queue") sends the requests that become due.
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.hpp"
#include "common/metrics.hpp"
#include "common/task_pool.hpp"
#include "ingest/ingestor.hpp"
#include "pipeline/batcher.hpp"
#include "pipeline/table_size_limits.hpp"

namespace hub2kusto::pipeline {

// One partition's side of the requests its runs travel in (its pipeline).
class DeliveryMember {
public:
  virtual ~DeliveryMember() = default;
  // Sends the run as a request of its own, until delivered or rejected (a rejection splits
  // it, and the events Kusto refuses are dead-lettered); false when it gave up, stopping.
  virtual bool deliver_alone(const ReadyBatch& run) = 0;
  // The answer to a request that carried `events` of its events: counted, and the target's
  // problems noted for /readyz. May turn `status` into a rejection (a missing table that an
  // event's routing properties named).
  virtual void judge(const ingest::Batch& request, ingest::DeliveryStatus& status,
                     std::size_t events) = 0;
  virtual bool stopping() const = 0;
};

class DeliveryQueue {
public:
  struct Options {
    BatchLimits limits; // the largest joined request (max_bytes, max_events)
    // Requests out at once (target.max_concurrent_requests): while they are, runs wait and join.
    std::size_t max_requests = 4;
    bool join = true; // false: one run per request (delivery.deduplicate)
    std::chrono::milliseconds retry_first{1'000};
    std::chrono::milliseconds retry_max{30'000};
    // How long a table's requests stay smaller after the service refused one as too large.
    std::chrono::milliseconds smaller_batches_for{15 * 60 * 1'000};
    std::string connection; // a field of the JSON lines logged on the delivery threads
  };
  struct Counts {
    std::uint64_t requests = 0; // sent by the queue, each run alone or joined
    std::uint64_t joined = 0;   // of those, requests carrying more than one run
    std::uint64_t runs = 0;     // runs submitted
  };

  DeliveryQueue(Options options, TaskPool& pool, ingest::Ingestor& ingestor, const Clock& clock,
                Sleeper& sleeper);
  // Every future is ready by then (their members are gone): it ends the timer thread.
  ~DeliveryQueue();
  DeliveryQueue(const DeliveryQueue&) = delete;
  DeliveryQueue& operator=(const DeliveryQueue&) = delete;

  // Delivers `run` for `member`, which must stay alive until the future is ready. True once
  // delivered (or its refused events dead-lettered); false when given up while stopping.
  // `done` is called (on a delivery thread) after the future became ready.
  std::future<bool> submit(std::shared_ptr<const ReadyBatch> run, DeliveryMember& member,
                           std::function<void()> done);
  // A partition of the connection began (true) or stopped (false) batching events: its open
  // batches may soon join those waiting.
  void batching(bool open);
  // Looks again at what waits: the time moved on, or a partition is stopping.
  void wake();
  Counts counts() const;
  // The counts and the requests' sizes (bytes, events) as series with `labels` (the connection).
  void describe(MetricsSink& out, const MetricLabels& labels) const;

private:
  struct Waiting {
    std::string key; // the target: runs with the same key may join
    bool joinable = true;
    bool taken = false; // moved into a request: erased from waiting_ after dispatch()
    std::shared_ptr<const ReadyBatch> run;
    // Until when it waits for company while others batch: a tenth of the linger after it came
    // due, or after it was handed in when it came in late (its partition's previous request
    // was out), so the runs of partitions that one request carried join again.
    std::chrono::steady_clock::time_point company_until;
    DeliveryMember* member = nullptr;
    std::promise<bool> outcome;
    std::function<void()> done;
  };
  // Under mutex_: starts the requests that may leave while there are free slots, and sets
  // next_due_ to when the first of the others may.
  void dispatch();
  void timer();
  // On a delivery thread: sends `runs` (one target) until each has its outcome.
  void deliver(std::vector<Waiting> runs);
  // Sends `runs` as one request, again while retriable, and resolves the runs that have their
  // outcome; those left in `runs` go alone (rejected, or the only one not stopping).
  void deliver_joined(std::vector<Waiting>& runs);
  // Under mutex_: the largest request for the target's table.
  std::size_t max_bytes_for(const ingest::IngestTarget& target);
  static void resolve(Waiting& w, bool delivered);

  Options options_;
  TaskPool& pool_;
  ingest::Ingestor& ingestor_;
  const Clock& clock_;
  Sleeper& sleeper_;
  mutable std::mutex mutex_;
  std::deque<Waiting> waiting_; // in the order they came
  std::size_t active_ = 0;      // requests out (deliveries running)
  std::size_t batching_ = 0;    // partitions with open batches
  Counts counts_;
  Histogram request_bytes_{Histogram::bytes()};
  Histogram request_events_{Histogram::events()};
  std::optional<std::chrono::steady_clock::time_point> next_due_;
  std::condition_variable timer_wake_;
  bool ending_ = false;
  // Tables whose requests the service asked to be smaller: joined requests stay under it.
  TableSizeLimits table_limits_;
  std::thread timer_; // last: starts once the rest is set up
};

} // namespace hub2kusto::pipeline
