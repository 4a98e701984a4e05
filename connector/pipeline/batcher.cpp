#include "pipeline/batcher.hpp"

#include <algorithm>

#include <fmt/format.h>

namespace hub2kusto::pipeline {

void Batcher::close(const std::string& key, std::vector<ReadyBatch>& ready, bool full) {
  const auto it = open_.find(key);
  if (it == open_.end()) {
    return;
  }
  ReadyBatch& b = it->second.ready;
  b.due = it->second.opened + limits_.linger;
  b.full = full;
  b.batch.id =
      ingest::BatchId{partition_, b.events.front().sequence_number, b.events.back().sequence_number}
          .text();
  b.batch.records = b.events.size();
  open_bytes_ -= b.batch.data.size();
  ready.push_back(std::move(b));
  open_.erase(it);
}

std::string original_body(const ReadyBatch& batch, const BatchedEvent& event) {
  if (!event.payload_is_body) {
    return event.body;
  }
  return batch.batch.data.substr(event.payload_begin,
                                 event.payload_size - (event.newline_added ? 1 : 0));
}

void Batcher::limit_table(const std::string& table_key, std::size_t max_bytes,
                          std::chrono::steady_clock::time_point until) {
  table_limits_.limit(table_key, max_bytes, until, clock_.steady_now());
}

std::size_t Batcher::max_bytes_for(const Route& route) {
  return table_limits_.max_bytes(route.database, route.table, limits_.max_bytes,
                                 clock_.steady_now());
}

checkpoint::BatchToken Batcher::add(const hub::HubEvent& event, const Route& route,
                                    const std::string& key, Payload payload,
                                    std::vector<ReadyBatch>& ready) {
  const std::size_t size = payload.size();
  const std::size_t max_bytes = max_bytes_for(route);
  if (auto it = open_.find(key);
      it != open_.end() && it->second.ready.batch.data.size() + size > max_bytes) {
    close(key, ready, true); // full: this event starts the next batch
  }
  auto it = open_.find(key);
  if (it == open_.end()) {
    Open fresh;
    fresh.opened = clock_.steady_now();
    fresh.ready.token = next_token_++;
    fresh.ready.batch.target.database = route.database;
    fresh.ready.batch.target.table = route.table;
    fresh.ready.batch.target.format = route.format;
    fresh.ready.batch.target.mapping = route.mapping;
    // Address space only: pages are touched as the batch fills; no copying as it grows.
    fresh.ready.batch.data.reserve(limits_.max_bytes);
    it = open_.emplace(key, std::move(fresh)).first;
  }
  ReadyBatch& b = it->second.ready;
  b.events.push_back({event.sequence_number, event.offset, event.enqueued_time,
                      payload.is_body ? std::string() : event.body, b.batch.data.size(), size,
                      payload.is_body, payload.is_body && payload.add_newline});
  b.batch.data.append(payload.bytes);
  if (payload.add_newline) {
    b.batch.data.push_back('\n');
  }
  open_bytes_ += size;
  const checkpoint::BatchToken token = b.token;
  // A binary format's event is a whole file: it travels alone.
  if (b.events.size() >= limits_.max_events || b.batch.data.size() >= max_bytes ||
      is_binary(route.format)) {
    close(key, ready, true);
  }
  return token;
}

void Batcher::take_due(std::vector<ReadyBatch>& ready) {
  const auto now = clock_.steady_now();
  std::vector<std::string> due;
  for (const auto& [key, open] : open_) {
    if (now - open.opened >= limits_.linger) {
      due.push_back(key);
    }
  }
  // Oldest first, so batches leave in the order their events arrived.
  std::sort(due.begin(), due.end(), [&](const std::string& a, const std::string& b) {
    return open_.at(a).ready.token < open_.at(b).ready.token;
  });
  for (const auto& key : due) {
    close(key, ready, false);
  }
}

void Batcher::take_all(std::vector<ReadyBatch>& ready) {
  std::vector<std::pair<checkpoint::BatchToken, std::string>> keys;
  for (const auto& [key, open] : open_) {
    keys.emplace_back(open.ready.token, key);
  }
  std::sort(keys.begin(), keys.end());
  for (const auto& [token, key] : keys) {
    close(key, ready, false);
  }
}

std::optional<std::chrono::steady_clock::time_point> Batcher::next_due() const {
  std::optional<std::chrono::steady_clock::time_point> first;
  for (const auto& [key, open] : open_) {
    const auto due = open.opened + limits_.linger;
    if (!first || due < *first) {
      first = due;
    }
  }
  return first;
}

} // namespace hub2kusto::pipeline
