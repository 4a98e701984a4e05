#pragma once
// Batcher: one partition's events grouped per route into batches, flushed by size, event count
// and linger time. Each batch gets a deterministic id,
// "<partition>-<first sequence number>-<last sequence number>", which the ingestors carry in
// the client request id and the blob name, so a batch replayed after a crash is recognisable,
// and a token the checkpointer tracks its events by. A batch keeps its events' positions and
// bodies so that, if Kusto rejects it as bad data, each event can be dead-lettered.
//
// Threads: one (the partition's pipeline thread).
#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "checkpoint/checkpointer.hpp"
#include "common/clock.hpp"
#include "hub/hub_event.hpp"
#include "ingest/ingestor.hpp"
#include "pipeline/router.hpp"
#include "pipeline/table_size_limits.hpp"

namespace hub2kusto::pipeline {

struct BatchLimits {
  std::size_t max_bytes = 4U << 20; // the streaming ingestion limit
  std::size_t max_events = 10'000;
  std::chrono::milliseconds linger{1'000};
};

struct BatchedEvent {
  SequenceNumber sequence_number;
  Offset offset;
  hub::Timestamp enqueued_time;
  // The body as received, for dead-lettering, kept only when the payload is something else
  // (rows the local mapping made of it); otherwise the payload is the body, plus the newline
  // the pipeline added when `newline_added`, and the body is not stored twice.
  std::string body;
  // Its payload: bytes [payload_begin, payload_begin + payload_size) of the batch's data.
  std::size_t payload_begin = 0;
  std::size_t payload_size = 0;
  bool payload_is_body = false;
  bool newline_added = false;
};

// The event's body as received.
std::string original_body(const struct ReadyBatch& batch, const BatchedEvent& event);

struct ReadyBatch {
  checkpoint::BatchToken token = 0;
  ingest::Batch batch;
  std::vector<BatchedEvent> events;
  // When the linger would have closed it (its first event's arrival plus the linger): a batch
  // that closed sooner may wait until then for other partitions' batches to share a request.
  std::chrono::steady_clock::time_point due{};
  bool full = false; // closed by the size limits (or a binary format's file), not by time
};

class Batcher {
public:
  Batcher(PartitionId partition, BatchLimits limits, const Clock& clock)
      : partition_(std::move(partition)), limits_(limits), clock_(clock) {}

  // Adds the event's payload (its records, ready for the route's format) to the route's open
  // batch and returns the token of that batch; batches this made ready are appended to
  // `ready`: the open batch first, when the payload would take it past max_bytes, and the
  // batch itself once it holds max_events.
  // What an event adds to its batch: `bytes`, then a newline when `add_newline`. With
  // `is_body` the bytes are the event's body, so the body need not be kept apart.
  struct Payload {
    std::string_view bytes;
    bool add_newline = false;
    bool is_body = false;
    std::size_t size() const { return bytes.size() + (add_newline ? 1 : 0); }
  };
  // `key` is route.key(), which the caller keeps for its usual routes (it is per event).
  checkpoint::BatchToken add(const hub::HubEvent& event, const Route& route, const std::string& key,
                             Payload payload, std::vector<ReadyBatch>& ready);

  // Batches open for at least the linger time.
  void take_due(std::vector<ReadyBatch>& ready);
  // Every open batch (shutdown, or the pipeline is idle and wants to drain).
  void take_all(std::vector<ReadyBatch>& ready);
  // When the oldest open batch becomes due; none when nothing is open.
  std::optional<std::chrono::steady_clock::time_point> next_due() const;
  std::size_t open_bytes() const { return open_bytes_; }
  std::size_t open_batches() const { return open_.size(); }

  // Until `until`, the table's batches close at `max_bytes` (when that is below the limits):
  // the service refused a batch of the table as too large. `table_key`: TableSizeLimits::key.
  void limit_table(const std::string& table_key, std::size_t max_bytes,
                   std::chrono::steady_clock::time_point until);

private:
  std::size_t max_bytes_for(const Route& route);
  struct Open {
    ReadyBatch ready;
    std::chrono::steady_clock::time_point opened;
  };
  void close(const std::string& key, std::vector<ReadyBatch>& ready, bool full);

  PartitionId partition_;
  BatchLimits limits_;
  const Clock& clock_;
  std::map<std::string, Open> open_; // by route key
  TableSizeLimits table_limits_;
  std::size_t open_bytes_ = 0;
  checkpoint::BatchToken next_token_ = 1;
};

} // namespace hub2kusto::pipeline
