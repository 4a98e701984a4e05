#include "store.hpp"

#include "shared/text.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <unistd.h>

namespace hub2kusto::emulator {
namespace {

template <typename T> void put(std::string& out, T value) {
  char bytes[sizeof(T)];
  std::memcpy(bytes, &value, sizeof(T)); // the emulator runs on little-endian machines only
  out.append(bytes, sizeof(T));
}

template <typename T> bool take(const std::string& in, std::size_t& pos, T& value) {
  if (in.size() - pos < sizeof(T)) {
    return false;
  }
  std::memcpy(&value, in.data() + pos, sizeof(T));
  pos += sizeof(T);
  return true;
}

} // namespace

StoredEvent& Partition::append(std::string message, std::string partition_key,
                               std::int64_t now_ms) {
  StoredEvent e;
  e.sequence_number = next_sequence++;
  e.offset = next_offset;
  e.enqueued_ms = std::max(now_ms, events.empty() ? now_ms : events.back().enqueued_ms);
  e.partition_key = std::move(partition_key);
  next_offset += static_cast<std::int64_t>(message.size());
  e.message = std::move(message);
  events.push_back(std::move(e));
  trim();
  return events.back();
}

void Partition::restore(StoredEvent event) {
  next_sequence = event.sequence_number + 1;
  next_offset = event.offset + static_cast<std::int64_t>(event.message.size());
  events.push_back(std::move(event));
  trim();
}

void Partition::trim() {
  while (retention > 0 && events.size() > retention) {
    events.pop_front();
  }
}

std::int64_t Partition::begin_sequence() const {
  return events.empty() ? next_sequence : events.front().sequence_number;
}

const StoredEvent* Partition::at(std::int64_t sequence_number) const {
  const std::int64_t begin = begin_sequence();
  if (sequence_number < begin || sequence_number >= next_sequence) {
    return nullptr;
  }
  return &events[static_cast<std::size_t>(sequence_number - begin)];
}

std::int64_t Partition::start_sequence(const StartSelector& s) const {
  if (s.latest) {
    return next_sequence;
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
  return it == events.end() ? next_sequence : it->sequence_number;
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
                     [&](const std::string& g) { return emulators::iequals(g, group); });
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

PartitionLog::~PartitionLog() {
  if (file_ != nullptr) {
    std::fclose(file_);
  }
}

std::optional<std::string> PartitionLog::open(const std::string& path, Partition& partition) {
  std::string content;
  if (std::FILE* in = std::fopen(path.c_str(), "rb")) {
    char buffer[1 << 16];
    std::size_t n = 0;
    while ((n = std::fread(buffer, 1, sizeof buffer, in)) > 0) {
      content.append(buffer, n);
    }
    std::fclose(in);
  }
  std::size_t pos = 0;
  std::size_t whole = 0; // end of the last whole record
  while (pos < content.size()) {
    std::uint32_t size = 0;
    if (!take(content, pos, size) || content.size() - pos < size) {
      break;
    }
    const std::size_t end = pos + size;
    StoredEvent e;
    std::uint32_t key_size = 0;
    if (!take(content, pos, e.sequence_number) || !take(content, pos, e.offset) ||
        !take(content, pos, e.enqueued_ms) || !take(content, pos, key_size) ||
        end - pos < key_size) {
      return "'" + path + "' has a malformed record at byte " + std::to_string(whole);
    }
    e.partition_key = content.substr(pos, key_size);
    pos += key_size;
    e.message = content.substr(pos, end - pos);
    pos = end;
    if (e.sequence_number != partition.next_sequence) {
      return "'" + path + "' has sequence number " + std::to_string(e.sequence_number) + " where " +
             std::to_string(partition.next_sequence) + " was expected";
    }
    partition.restore(std::move(e));
    whole = pos;
  }
  // Reopen for writing after the last whole record, dropping a torn tail.
  file_ = std::fopen(path.c_str(), content.empty() ? "wb" : "r+b");
  if (file_ == nullptr || ::ftruncate(::fileno(file_), static_cast<off_t>(whole)) != 0 ||
      std::fseek(file_, static_cast<long>(whole), SEEK_SET) != 0) {
    return "cannot write '" + path + "': " + std::strerror(errno);
  }
  return std::nullopt;
}

bool PartitionLog::append(const StoredEvent& e) {
  std::string record;
  put(record, static_cast<std::uint32_t>(3 * sizeof(std::int64_t) + sizeof(std::uint32_t) +
                                         e.partition_key.size() + e.message.size()));
  put(record, e.sequence_number);
  put(record, e.offset);
  put(record, e.enqueued_ms);
  put(record, static_cast<std::uint32_t>(e.partition_key.size()));
  record += e.partition_key;
  record += e.message;
  return std::fwrite(record.data(), 1, record.size(), file_) == record.size() &&
         std::fflush(file_) == 0;
}

} // namespace hub2kusto::emulator
