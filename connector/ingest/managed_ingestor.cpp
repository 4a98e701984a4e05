#include "ingest/managed_ingestor.hpp"

#include <thread>

#include <fmt/format.h>

#include "common/backoff.hpp"
#include "common/logging.hpp"

namespace hub2kusto::ingest {

void IngestMetrics::describe(MetricsSink& out, const MetricLabels& labels) const {
  const auto relaxed = std::memory_order_relaxed;
  const auto request = [&](const char* path, const char* outcome, std::uint64_t v) {
    MetricLabels l = labels;
    l.emplace_back("path", path);
    l.emplace_back("outcome", outcome);
    out.counter("hub2kusto_ingest_requests_total",
                "Ingest requests by path (streaming, queued) and outcome.", l, v);
  };
  request("streaming", "delivered", streaming_delivered.load(relaxed));
  request("queued", "delivered", queued_delivered.load(relaxed));
  request("any", "rejected", rejected.load(relaxed));
  request("any", "retriable", retriable.load(relaxed));
  out.counter("hub2kusto_ingest_streaming_attempts_total", "Streaming ingestion requests sent.",
              labels, streaming_attempts.load(relaxed));
  out.counter("hub2kusto_ingest_fallbacks_total",
              "Batches sent by queued ingestion after streaming was tried.", labels,
              fallbacks.load(relaxed));
  out.counter("hub2kusto_ingest_streaming_skipped_total",
              "Batches sent by queued ingestion at once (too large, or streaming remembered "
              "impossible).",
              labels, skipped_streaming.load(relaxed));
}

namespace {
std::string key_of(const IngestTarget& t) {
  return t.database.value() + "." + t.table.value();
}

DeliveryStatus status(Outcome outcome, std::string reason = {}) {
  DeliveryStatus s;
  s.outcome = outcome;
  s.path = IngestPath::streaming;
  s.reason = std::move(reason);
  return s;
}
} // namespace

bool ManagedIngestor::streaming_skipped(const std::string& table_key, std::size_t bytes) {
  std::lock_guard lock(mutex_);
  const auto now = clock_.steady_now();
  if (const auto it = too_large_.find(table_key); it != too_large_.end()) {
    if (now >= it->second.until) {
      too_large_.erase(it);
    } else if (bytes >= it->second.bytes) {
      return true;
    }
  }
  const auto it = no_streaming_until_.find(table_key);
  if (it == no_streaming_until_.end()) {
    return false;
  }
  if (now >= it->second) {
    no_streaming_until_.erase(it); // the memory lapsed: try streaming again
    return false;
  }
  return true;
}

void ManagedIngestor::remember_too_large(const std::string& table_key, std::size_t bytes) {
  std::lock_guard lock(mutex_);
  const auto until = clock_.steady_now() + options_.impossible_memory;
  auto [it, fresh] = too_large_.try_emplace(table_key, SizeCeiling{bytes, until});
  if (!fresh) {
    it->second.bytes = std::min(it->second.bytes, bytes);
    it->second.until = until;
  }
}

void ManagedIngestor::remember(const std::string& table_key,
                               std::chrono::milliseconds for_how_long) {
  std::lock_guard lock(mutex_);
  auto& until = no_streaming_until_[table_key];
  until = std::max(until, clock_.steady_now() + for_how_long);
}

DeliveryStatus ManagedIngestor::queued(const Batch& batch, bool fell_back) {
  (fell_back ? metrics_.fallbacks : metrics_.skipped_streaming)
      .fetch_add(1, std::memory_order_relaxed);
  DeliveryStatus s = queued_.ingest(batch);
  s.path = IngestPath::queued;
  if (s.outcome == Outcome::delivered) {
    metrics_.queued_delivered.fetch_add(1, std::memory_order_relaxed);
  } else if (s.outcome == Outcome::rejected) {
    metrics_.rejected.fetch_add(1, std::memory_order_relaxed);
  } else {
    metrics_.retriable.fetch_add(1, std::memory_order_relaxed);
  }
  return s;
}

DeliveryStatus ManagedIngestor::ingest(const Batch& batch) {
  const std::string table_key = key_of(batch.target);
  if (batch.data.size() > options_.streaming_limit ||
      streaming_skipped(table_key, batch.data.size())) {
    return queued(batch, false);
  }
  auto log = logger("ingest");
  Backoff backoff(
      {.initial = options_.first_backoff, .max = options_.max_backoff, .multiplier = 2.0}, random_);
  std::string last_reason;
  for (int attempt = 0; attempt < options_.max_attempts; ++attempt) {
    metrics_.streaming_attempts.fetch_add(1, std::memory_order_relaxed);
    bool alone = false; // sent while the limiter let only one request run
    const Classification c = [&] {
      auto turn = limiter_.acquire();
      auto answer = streaming_.attempt(batch, attempt);
      if (answer.throttled) {
        alone = turn.limit() == 1;
        turn.throttled();
      }
      return answer;
    }();
    if (c.outcome == Outcome::delivered) {
      metrics_.streaming_delivered.fetch_add(1, std::memory_order_relaxed);
      return status(Outcome::delivered);
    }
    if (c.outcome == Outcome::rejected) {
      metrics_.rejected.fetch_add(1, std::memory_order_relaxed);
      return status(Outcome::rejected, c.reason);
    }
    if (c.impossible == StreamingImpossible::too_large) {
      // About this batch, not the table: the service counts the raw size, and its limit may be
      // lower than ours (docs/protocols.md, "Streaming size").
      remember_too_large(table_key, batch.data.size());
      log->warn(
          "batch {} ({} bytes) is too large to stream into {} ({}); it goes queued, the table's "
          "batches are cut to half that size, and larger ones go queued for {} s",
          batch.id, batch.data.size(), table_key, c.reason,
          std::chrono::duration_cast<std::chrono::seconds>(options_.impossible_memory).count());
      DeliveryStatus s = queued(batch, true);
      s.smaller_batches = batch.data.size() / 2; // the pipeline cuts the table's batches smaller
      return s;
    }
    if (c.impossible != StreamingImpossible::no) {
      remember(table_key, options_.impossible_memory);
      log->warn(
          "streaming ingestion into {} is not possible ({}); batch {} goes queued, and "
          "so does the table's traffic for {} s",
          table_key, c.reason, batch.id,
          std::chrono::duration_cast<std::chrono::seconds>(options_.impossible_memory).count());
      return queued(batch, true);
    }
    if (c.target_problem != DeliveryStatus::TargetProblem::none) {
      // Not this batch's fault, and queued ingestion would meet the same target: the pipeline
      // holds the partition and reports it.
      metrics_.retriable.fetch_add(1, std::memory_order_relaxed);
      log->debug("batch {} for {} not ingested: {}", batch.id, table_key, c.reason);
      DeliveryStatus s = status(Outcome::retriable, c.reason);
      s.target_problem = c.target_problem;
      return s;
    }
    if (c.throttled && alone) {
      // Throttled even one request at a time: the cluster is overloaded, and queued ingestion
      // (batched by the service) spares it.
      remember(table_key, options_.throttle_memory);
    }
    last_reason = c.reason;
    if (attempt + 1 < options_.max_attempts) {
      const auto jittered = backoff.next();
      const auto wait = c.retry_after.value_or(jittered);
      log->warn("streaming batch {} into {} failed ({}); retrying in {} ms", batch.id, table_key,
                c.reason, wait.count());
      sleeper_.sleep_for(wait);
    }
  }
  log->warn("streaming batch {} into {} failed {} times (last: {}); sending it queued", batch.id,
            table_key, options_.max_attempts, last_reason);
  return queued(batch, true);
}

} // namespace hub2kusto::ingest
