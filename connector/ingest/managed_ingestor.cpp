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
  static constexpr std::array<const char*, kFallbackReasons> reasons{"size", "policy", "throttling",
                                                                     "transient"};
  for (std::size_t i = 0; i < kFallbackReasons; ++i) {
    MetricLabels l = labels;
    l.emplace_back("reason", reasons[i]);
    out.counter("hub2kusto_ingest_fallbacks_total",
                "Batches sent by queued ingestion instead of streaming, by reason: size (over "
                "the streaming limit or refused as too large), policy (streaming off for the "
                "table or database), throttling, transient (streaming kept failing).",
                l, fallbacks[i].load(relaxed));
  }
  out.counter("hub2kusto_ingest_streaming_skipped_total",
              "Of those, batches sent by queued ingestion without trying streaming (too large, "
              "or streaming remembered impossible).",
              labels, skipped_streaming.load(relaxed));
  static constexpr std::array<const char*, 2> paths{"streaming", "queued"};
  static constexpr std::array<const char*, 4> ends{"delivered", "rejected", "throttled", "failed"};
  for (std::size_t p = 0; p < paths.size(); ++p) {
    for (std::size_t e = 0; e < ends.size(); ++e) {
      MetricLabels l = labels;
      l.emplace_back("path", paths[p]);
      l.emplace_back("outcome", ends[e]);
      out.histogram("hub2kusto_ingest_request_duration_seconds",
                    "How long ingest requests took, by path (streaming: the streaming request; "
                    "queued: uploading the blob and posting its message) and outcome.",
                    l, request_seconds[p][e].snapshot());
    }
  }
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

std::optional<FallbackReason> ManagedIngestor::streaming_skipped(const std::string& table_key,
                                                                 std::size_t bytes) {
  std::lock_guard lock(mutex_);
  const auto now = clock_.steady_now();
  if (const auto it = too_large_.find(table_key); it != too_large_.end()) {
    if (now >= it->second.until) {
      too_large_.erase(it);
    } else if (bytes >= it->second.bytes) {
      return FallbackReason::size;
    }
  }
  const auto it = no_streaming_.find(table_key);
  if (it == no_streaming_.end()) {
    return std::nullopt;
  }
  if (now >= it->second.until) {
    no_streaming_.erase(it); // the memory lapsed: try streaming again
    return std::nullopt;
  }
  return it->second.why;
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

void ManagedIngestor::remember(const std::string& table_key, std::chrono::milliseconds for_how_long,
                               FallbackReason why) {
  std::lock_guard lock(mutex_);
  const auto until = clock_.steady_now() + for_how_long;
  auto [it, fresh] = no_streaming_.try_emplace(table_key, NoStreaming{until, why});
  if (!fresh && until >= it->second.until) {
    it->second = {until, why};
  }
}

DeliveryStatus ManagedIngestor::queued(const Batch& batch, FallbackReason why,
                                       bool tried_streaming) {
  metrics_.count_fallback(why);
  if (!tried_streaming) {
    metrics_.skipped_streaming.fetch_add(1, std::memory_order_relaxed);
  }
  const auto start = clock_.steady_now();
  DeliveryStatus s = queued_.ingest(batch);
  s.path = IngestPath::queued;
  using End = IngestMetrics::RequestEnd;
  End end = End::failed;
  if (s.outcome == Outcome::delivered) {
    metrics_.queued_delivered.fetch_add(1, std::memory_order_relaxed);
    end = End::delivered;
  } else if (s.outcome == Outcome::rejected) {
    metrics_.rejected.fetch_add(1, std::memory_order_relaxed);
    end = End::rejected;
  } else {
    metrics_.retriable.fetch_add(1, std::memory_order_relaxed);
  }
  metrics_.time_request(IngestPath::queued, end, clock_.steady_now() - start);
  return s;
}

DeliveryStatus ManagedIngestor::ingest(const Batch& batch) {
  const std::string table_key = key_of(batch.target);
  if (batch.data.size() > options_.streaming_limit) {
    return queued(batch, FallbackReason::size, false);
  }
  if (const auto why = streaming_skipped(table_key, batch.data.size())) {
    return queued(batch, *why, false);
  }
  auto log = logger("ingest");
  Backoff backoff(
      {.initial = options_.first_backoff, .max = options_.max_backoff, .multiplier = 2.0}, random_);
  std::string last_reason;
  bool last_throttled = false;
  for (int attempt = 0; attempt < options_.max_attempts; ++attempt) {
    metrics_.streaming_attempts.fetch_add(1, std::memory_order_relaxed);
    bool alone = false; // sent while the limiter let only one request run
    const Classification c = [&] {
      auto turn = limiter_.acquire();
      const auto start = clock_.steady_now();
      auto answer = streaming_.attempt(batch, attempt);
      using End = IngestMetrics::RequestEnd;
      metrics_.time_request(IngestPath::streaming,
                            answer.outcome == Outcome::delivered  ? End::delivered
                            : answer.outcome == Outcome::rejected ? End::rejected
                            : answer.throttled                    ? End::throttled
                                                                  : End::failed,
                            clock_.steady_now() - start);
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
      DeliveryStatus s = status(Outcome::rejected, c.reason);
      s.error_code = c.error_code;
      return s;
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
      DeliveryStatus s = queued(batch, FallbackReason::size, true);
      s.smaller_batches = batch.data.size() / 2; // the pipeline cuts the table's batches smaller
      return s;
    }
    if (c.impossible != StreamingImpossible::no) {
      remember(table_key, options_.impossible_memory, FallbackReason::policy);
      log->warn(
          "streaming ingestion into {} is not possible ({}); batch {} goes queued, and "
          "so does the table's traffic for {} s",
          table_key, c.reason, batch.id,
          std::chrono::duration_cast<std::chrono::seconds>(options_.impossible_memory).count());
      return queued(batch, FallbackReason::policy, true);
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
      remember(table_key, options_.throttle_memory, FallbackReason::throttling);
    }
    last_reason = c.reason;
    last_throttled = c.throttled;
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
  return queued(batch, last_throttled ? FallbackReason::throttling : FallbackReason::transient,
                true);
}

} // namespace hub2kusto::ingest
