#include "store.hpp"

#include <algorithm>

namespace hub2kusto::emulator {
namespace {

char lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

bool iequals(const std::string& a, const std::string& b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(),
                                            [](char x, char y) { return lower(x) == lower(y); });
}

} // namespace

const StoredEvent& Partition::append(std::string message, std::string partition_key,
                                     std::int64_t now_ms) {
  StoredEvent e;
  e.sequence_number = static_cast<std::int64_t>(events.size());
  e.offset = next_offset;
  e.enqueued_ms = std::max(now_ms, events.empty() ? now_ms : events.back().enqueued_ms);
  e.partition_key = std::move(partition_key);
  next_offset += static_cast<std::int64_t>(message.size());
  e.message = std::move(message);
  events.push_back(std::move(e));
  return events.back();
}

std::size_t Partition::start_index(const StartSelector& s) const {
  if (s.latest) {
    return events.size();
  }
  auto key = [&](const StoredEvent& e) {
    switch (s.field) {
    case StartSelector::Field::offset:
      return e.offset;
    case StartSelector::Field::sequence_number:
      return e.sequence_number;
    case StartSelector::Field::enqueued_time:
      return e.enqueued_ms;
    }
    return e.offset;
  };
  // Positions only grow along the partition, so the first match is found by bisection.
  const auto it = std::partition_point(events.begin(), events.end(), [&](const StoredEvent& e) {
    return s.inclusive ? key(e) < s.value : key(e) <= s.value;
  });
  return static_cast<std::size_t>(it - events.begin());
}

Partition* Hub::partition(const std::string& id) {
  for (auto& p : partitions) {
    if (p.id == id) {
      return &p;
    }
  }
  return nullptr;
}

bool Hub::has_consumer_group(const std::string& group) const {
  return std::any_of(consumer_groups.begin(), consumer_groups.end(),
                     [&](const std::string& g) { return iequals(g, group); });
}

Partition& Hub::route(const std::string& partition_key) {
  if (partition_key.empty()) {
    return partitions[round_robin_++ % partitions.size()];
  }
  // A stable hash, so one key always lands on one partition (the service's own hash is not
  // documented; stability is what producers rely on).
  std::uint32_t h = 2166136261u;
  for (const char c : partition_key) {
    h = (h ^ static_cast<unsigned char>(c)) * 16777619u;
  }
  return partitions[h % partitions.size()];
}

} // namespace hub2kusto::emulator
