#pragma once
// PartitionCheckpointer: turns "this batch is done" into a stored position, in order and
// forward only (STYLE.md principles 2 and 3; Vector's ordered finalizer).
//
// The pipeline calls begin() for each batch in partition order as it hands the batch to the
// ingestor, and complete() when the batch's outcome is final: delivered, or rejected and
// dead-lettered. The watermark is the end of the longest prefix of completed batches, so a
// later batch finishing first never moves it past an earlier pending one. Saves are throttled
// to one per `interval` on the injected clock, and flush() saves at once (shutdown).
//
//   begin(b1) begin(b2) begin(b3)   complete(b2)  -> watermark unchanged (b1 pending)
//                                   complete(b1)  -> watermark = end of b2
//
// Threads: one (the partition's pipeline thread).
#include <chrono>
#include <deque>
#include <optional>

#include "checkpoint/checkpoint_store.hpp"
#include "common/clock.hpp"

namespace hub2kusto::checkpoint {

// A batch's place in the partition: its first and last event.
struct BatchRange {
  SequenceNumber first;
  SequenceNumber last;
  Offset last_offset;
};

class PartitionCheckpointer {
public:
  PartitionCheckpointer(PartitionId partition, CheckpointStore& store, const Clock& clock,
                        std::chrono::milliseconds interval,
                        std::optional<Checkpoint> stored = std::nullopt)
      : partition_(std::move(partition)), store_(store), clock_(clock), interval_(interval),
        saved_(stored), watermark_(stored) {}

  // A batch entered ingestion. Batches must begin in partition order without overlap;
  // a batch at or before the watermark is ignored (a replay after a restart).
  void begin(const BatchRange& batch);
  // The batch (by its first sequence number) has its final outcome.
  void complete(SequenceNumber first);

  // The position a restart should resume after, if any.
  const std::optional<Checkpoint>& watermark() const { return watermark_; }
  const std::optional<Checkpoint>& saved() const { return saved_; }
  std::size_t pending() const { return pending_.size(); }

  // Saves the watermark if it moved and the interval since the last save has passed. Returns
  // whether it saved; a failed save is an error and is tried again next time (the stored
  // position stays behind: at-least-once, nothing skipped).
  Result<bool> maybe_save();
  // Saves the watermark now if it moved (shutdown).
  Result<bool> flush();

private:
  Result<bool> save_now();

  struct Pending {
    BatchRange range;
    bool done = false;
  };

  PartitionId partition_;
  CheckpointStore& store_;
  const Clock& clock_;
  std::chrono::milliseconds interval_;
  std::optional<Checkpoint> saved_;
  std::optional<Checkpoint> watermark_;
  std::deque<Pending> pending_;
  std::optional<std::chrono::steady_clock::time_point> last_save_;
};

} // namespace hub2kusto::checkpoint
