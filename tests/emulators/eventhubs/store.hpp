#pragma once
// The emulator's event store: hubs, their partitions and consumer groups, and each partition's
// events with the positions the service stamps on them (eventhubs-amqp.md §6.1): a sequence
// number from 0, an offset that is the byte position of the event in the partition (a numeric
// string on the wire), and the enqueue time in milliseconds.

#include <cstdint>
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
  std::string message;       // the event as the producer encoded it (an AMQP message)
};

struct Partition {
  std::string id;
  std::vector<StoredEvent> events;
  std::int64_t next_offset = 0;

  const StoredEvent& append(std::string message, std::string partition_key, std::int64_t now_ms);
  // Index of the first event the selector delivers; events.size() when none yet.
  std::size_t start_index(const StartSelector& selector) const;
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

} // namespace hub2kusto::emulator
