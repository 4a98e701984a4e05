#pragma once
// The emulator's event store: hubs, their partitions and consumer groups, and each partition's
// events with the positions the service stamps on them (docs/protocols.md, "Received events"): a
// sequence number from 0, an offset that is the byte position of the event in the partition (a
// numeric string on the wire), and the enqueue time in milliseconds.
//
// A partition keeps at most `retention` events (0: all); older ones are dropped from the front,
// so the first retained sequence number grows as the service's begin_sequence_number does.
// With a data directory every event is also appended to a log file per partition and read back
// at start-up (PartitionLog).

#include <cstdint>
#include <cstdio>
#include <deque>
#include <optional>
#include <string>
#include <vector>

#include "selector.hpp"

namespace hub2kusto::emulator {

struct StoredEvent {
  std::int64_t sequence_number = 0;
  std::int64_t offset = 0;
  std::int64_t enqueued_ms = 0;
  std::string partition_key; // empty when the producer set none
  std::string message;       // the encoded AMQP message, as delivered to receivers
};

struct Partition {
  std::string id;
  std::deque<StoredEvent> events; // retained events, in sequence order
  std::int64_t next_offset = 0;
  std::int64_t next_sequence = 0;
  std::size_t retention = 0; // most events kept; 0: no limit
  // Counters for the control API's status.
  std::uint64_t consumer_attaches = 0;
  std::uint64_t deliveries = 0;

  // Assigns the next positions to `message` (the producer's encoding, whose size advances the
  // offset) and keeps it; drops the oldest event past the retention.
  StoredEvent& append(std::string message, std::string partition_key, std::int64_t now_ms);
  // Keeps an event read back from a data directory, positions as they were.
  void restore(StoredEvent event);

  std::int64_t begin_sequence() const; // first retained; next_sequence when empty
  // The event with this sequence number, or null when it is not retained or not there yet.
  const StoredEvent* at(std::int64_t sequence_number) const;
  // The sequence number of the first event the selector delivers (next_sequence: none yet).
  std::int64_t start_sequence(const StartSelector& selector) const;

private:
  void trim();
};

struct Hub {
  std::string name;
  std::int64_t created_ms = 0;
  std::vector<Partition> partitions;
  std::vector<std::string> consumer_groups; // "$Default" always present

  Partition* partition(const std::string& id);
  bool has_consumer_group(const std::string& name) const; // case-insensitive
  // The partition for an event: by key hash when there is a key, else round robin.
  Partition& route(const std::string& partition_key);

private:
  std::size_t round_robin_ = 0;
};

// The append-only file of one partition in the data directory. Each record is
//   u32 size | i64 sequence | i64 offset | i64 enqueued ms | u32 key size | key | message
// (little endian, size counting everything after itself). A torn last record, left by a kill
// during a write, is ignored on reading and overwritten by the next append.
class PartitionLog {
public:
  PartitionLog() = default;
  ~PartitionLog();
  PartitionLog(const PartitionLog&) = delete;
  PartitionLog& operator=(const PartitionLog&) = delete;

  // Reads every whole record of `path` into `partition` (creating the file when missing) and
  // opens it for appending. Returns an error text, or nullopt.
  std::optional<std::string> open(const std::string& path, Partition& partition);
  // Appends one event and flushes it to the operating system.
  bool append(const StoredEvent& event);

private:
  std::FILE* file_ = nullptr;
};

} // namespace hub2kusto::emulator
