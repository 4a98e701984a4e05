#pragma once
// TableSizeLimits: the tables whose requests the service refused as too large, or asked to be
// smaller, and the size their batches and requests stay under for a while afterwards
// (docs/protocols.md, "Streaming with fallback"). The partition's batcher keeps one for
// its batches; the connection's delivery queue one for the requests it joins.
//
// Threads: one at a time (its owner's thread or lock).
#include <algorithm>
#include <chrono>
#include <cstddef>
#include <map>
#include <string>

#include "common/types.hpp"

namespace hub2kusto::pipeline {

class TableSizeLimits {
public:
  using time_point = std::chrono::steady_clock::time_point;

  // How the limits are keyed: "<database>.<table>".
  static std::string key(const DatabaseName& database, const TableName& table) {
    return database.value() + "." + table.value();
  }

  // Until `until`, the table's batches stay under `max_bytes` (or a lower limit still in force).
  void limit(const std::string& table_key, std::size_t max_bytes, time_point until,
             time_point now) {
    auto& l = limits_[table_key];
    l.max_bytes = l.until > now ? std::min(l.max_bytes, max_bytes) : max_bytes;
    l.until = until;
  }

  // The largest batch for the table at `now`: `configured`, or less while a limit holds.
  std::size_t max_bytes(const DatabaseName& database, const TableName& table,
                        std::size_t configured, time_point now) {
    if (limits_.empty()) {
      return configured; // nearly always: no key, no lookup
    }
    const auto it = limits_.find(key(database, table));
    if (it == limits_.end()) {
      return configured;
    }
    if (now >= it->second.until) {
      limits_.erase(it);
      return configured;
    }
    return std::min(configured, it->second.max_bytes);
  }

private:
  struct Limit {
    std::size_t max_bytes = 0;
    time_point until;
  };
  std::map<std::string, Limit> limits_;
};

} // namespace hub2kusto::pipeline
