#pragma once
// PartitionCheckpointer: turns "this batch is done" into a stored position, in order and
// forward only (docs/architecture.md, "Acknowledgement"; Vector's ordered finalizer).
//
// The pipeline tracks every event in partition order with the batch that carries it (batches
// of different routes interleave), and completes a batch when its outcome is final: delivered,
// or rejected and dead-lettered. An event dead-lettered before it joined a batch is tracked as
// done at once. The watermark is the last event of the longest prefix of finished events, so
// a later batch finishing first never moves it past an earlier pending event. Saves are
// throttled to one per `interval` on the injected clock; flush() saves at once (shutdown).
//
//   track(1,A) track(2,B) track(3,A)   complete(B) -> no watermark (1 pending in A)
//                                      complete(A) -> watermark = 3
//
// Memory: one small entry per run of consecutive events of one batch in flight.
// Threads: one (the partition's pipeline thread).
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <unordered_set>

#include "checkpoint/checkpoint_store.hpp"
#include "common/clock.hpp"

namespace hub2kusto::checkpoint {

// The right to write one partition's checkpoint, held while this process owns the partition
// (docs/protocols.md, "Ownership and load balancing"): once another owner took it, its
// checkpoint is theirs to move. Any thread.
class OwnershipFence {
public:
  // Runs `save` unless the right was withdrawn; whether it ran.
  template <typename F> bool run(F&& save) {
    std::lock_guard lock(mutex_);
    if (withdrawn_) {
      return false;
    }
    std::forward<F>(save)();
    return true;
  }
  // Withdraws the right, for good; returns once no save is running.
  void withdraw() {
    std::lock_guard lock(mutex_);
    withdrawn_ = true;
  }

private:
  std::mutex mutex_;
  bool withdrawn_ = false;
};

// Names a batch to the checkpointer; assigned by the pipeline, never reused in a partition.
using BatchToken = std::uint64_t;

class PartitionCheckpointer {
public:
  PartitionCheckpointer(PartitionId partition, CheckpointStore& store, const Clock& clock,
                        std::chrono::milliseconds interval, const std::optional<Checkpoint>& stored,
                        std::shared_ptr<OwnershipFence> fence = nullptr)
      : partition_(std::move(partition)), store_(store), clock_(clock), interval_(interval),
        fence_(std::move(fence)), saved_(stored), watermark_(stored) {}
  // Nothing stored yet, no fence. (No default argument for `stored`: GCC 12 at -O1 warns that
  // a defaulted empty optional<Checkpoint> may be destroyed uninitialised.)
  PartitionCheckpointer(PartitionId partition, CheckpointStore& store, const Clock& clock,
                        std::chrono::milliseconds interval)
      : partition_(std::move(partition)), store_(store), clock_(clock), interval_(interval) {}

  // When an event was enqueued in the hub: kept for the stored position, so an operator sees how
  // many seconds the checkpoint is behind (not stored with it).
  // Milliseconds, as the hub sends it: any value converts without overflow.
  using EnqueuedTime =
      std::chrono::time_point<std::chrono::system_clock, std::chrono::milliseconds>;
  // An event joined batch `batch`. Events are tracked in partition order; one at or before
  // the stored position is ignored (a replay after a restart).
  void track(SequenceNumber sequence_number, const Offset& offset, BatchToken batch,
             EnqueuedTime enqueued = {});
  // An event finished without a batch (dead-lettered before batching).
  void track_done(SequenceNumber sequence_number, const Offset& offset, EnqueuedTime enqueued = {});
  // The batch's outcome is final.
  void complete(BatchToken batch);

  // The position a restart should resume after, if any.
  const std::optional<Checkpoint>& watermark() const { return watermark_; }
  const std::optional<Checkpoint>& saved() const { return saved_; }
  // When the event at the stored position was enqueued, once this process stored one.
  std::optional<EnqueuedTime> saved_enqueued_time() const { return saved_enqueued_; }
  std::size_t pending() const { return pending_events_; } // events not yet behind the watermark

  // Saves the watermark if it moved and the interval since the last save has passed. Returns
  // whether it saved; a failed save is an error and is tried again next time (the stored
  // position stays behind: at-least-once, nothing skipped).
  Result<bool> maybe_save();
  // Saves the watermark now if it moved (shutdown).
  Result<bool> flush();
  // Both write nothing and return false once the fence (if any) was withdrawn.

private:
  Result<bool> save_now();

  void advance();

  // Consecutive events of one batch (or finished ones) share an entry: the common case of one
  // route costs an entry per batch instead of one per event.
  struct Run {
    SequenceNumber last_sequence_number;
    Offset last_offset;
    EnqueuedTime last_enqueued;
    std::optional<BatchToken> batch; // none: finished already
    std::size_t events = 0;
  };

  void extend(SequenceNumber sequence_number, const Offset& offset, EnqueuedTime enqueued,
              std::optional<BatchToken> batch);

  PartitionId partition_;
  CheckpointStore& store_;
  const Clock& clock_;
  std::chrono::milliseconds interval_;
  std::shared_ptr<OwnershipFence> fence_;
  std::optional<Checkpoint> saved_;
  std::optional<Checkpoint> watermark_;
  std::optional<EnqueuedTime> watermark_enqueued_;
  std::optional<EnqueuedTime> saved_enqueued_;
  std::deque<Run> pending_;
  std::size_t pending_events_ = 0;
  std::unordered_map<BatchToken, std::size_t> open_; // runs of unfinished batches, by batch
  std::unordered_set<BatchToken> done_;
  std::optional<std::chrono::steady_clock::time_point> last_save_;
};

} // namespace hub2kusto::checkpoint
